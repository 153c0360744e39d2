"""People and their roles: what a person signed in to the console may do in the services.

The console owns people, roles and sessions; the services know a person only from the
signed token the console sends with each call (`shared.person_tokens`), which names the
person, their organisation and their roles. A person acts as a principal of one kind
(`kind_of`) holding the union of their roles' scopes (`scopes_of`), so every route's
scope check and every organisation check applies to people exactly as it does to keys.

Why each role holds what it holds:

- `hub_practitioner` (hub): reads and acts on every referral (the hub oversees), raises
  or lowers a triage level (`triage:override`), follows every Operation Encompass
  notice's status (`encompass:read`) and sees the hub's webhook subscriptions.
- `mash_practitioner` (agency): the MASH is the directory's `mash` entry, an
  organisation like any agency (see `shared.auth.OVERSEERS`): it reads and acts on the
  referrals addressed to it, nothing more.
- `agency_worker` (agency): the same, for the referrals addressed to their agency.
- `school_dsl` (school): submits and follows the school's reports, reads and
  acknowledges the Operation Encompass notices addressed to the school.
- `referrer` (police): a police officer submits and follows reports, and sees whether
  each school was told of an incident in time (`encompass:read`: status only).
- `hub_manager` (hub): a hub practitioner who also answers to the board for the front
  door: the practitioner's scopes, the partnership measures (`measures:read`), and the
  threshold policy: drafting and simulating a new one (`policy:simulate`) and approving
  another person's draft (`policy:approve`).
- `partnership_analyst` (hub): the partnership measures (`measures:read`) and drafting
  and simulating a threshold policy (`policy:simulate`), nothing else: counts, rates,
  timeliness and a draft's effect on referrals (each by its id, levels, destinations
  and rules), never a child's name, report or history. Being of the hub's kind oversees
  nothing by itself: every route that shows a referral, a report, a triage decision or
  a notice asks for `referrals:read`, `reports:read` or `encompass:read` first.
- `admin` (admin): manages the agency directory and the organisation's webhook
  subscriptions, and drafts, simulates and approves threshold policies. Not the
  `admin` scope: `Principal.has` treats that scope as every scope, so an administrator
  would read every child's report and override triage. Administering the
  partnership's configuration is not casework; a person who does both holds both
  roles.

A person's roles must agree on one kind, except that the hub's and an administrator's
combine (both oversee; the administrator's kind wins). Any other mixture is refused:
one person is in one organisation, and the union of an agency worker's scopes with the
hub's oversight would read every referral in the partnership.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.auth import OVERSEERS, ClientKind, Principal


@dataclass(frozen=True)
class Role:
    """What a person holding this role is, and may do."""

    name: str
    label: str
    kind: ClientKind
    scopes: frozenset[str]


def _role(name: str, label: str, kind: ClientKind, *scopes: str) -> Role:
    return Role(name=name, label=label, kind=kind, scopes=frozenset(scopes))


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        _role(
            "hub_practitioner",
            "Hub practitioner",
            ClientKind.HUB,
            "referrals:read",
            "referrals:write",
            "triage:override",
            "encompass:read",
            "subscriptions:read",
        ),
        _role(
            "mash_practitioner",
            "MASH practitioner",
            ClientKind.AGENCY,
            "referrals:read",
            "referrals:write",
        ),
        _role(
            "agency_worker", "Agency worker", ClientKind.AGENCY, "referrals:read", "referrals:write"
        ),
        _role(
            "school_dsl",
            "School designated safeguarding lead",
            ClientKind.SCHOOL,
            "reports:read",
            "reports:write",
            "encompass:read",
            "encompass:acknowledge",
        ),
        _role(
            "referrer",
            "Police officer (referrer)",
            ClientKind.POLICE,
            "reports:read",
            "reports:write",
            "encompass:read",
        ),
        _role(
            "hub_manager",
            "Hub manager",
            ClientKind.HUB,
            "referrals:read",
            "referrals:write",
            "triage:override",
            "encompass:read",
            "subscriptions:read",
            "measures:read",
            "policy:simulate",
            "policy:approve",
        ),
        _role(
            "partnership_analyst",
            "Partnership analyst",
            ClientKind.HUB,
            "measures:read",
            "policy:simulate",
        ),
        _role(
            "admin",
            "Administrator",
            ClientKind.ADMIN,
            "directory:write",
            "subscriptions:read",
            "subscriptions:write",
            "policy:simulate",
            "policy:approve",
        ),
    )
}

# Which kind a person of several roles acts as.
PRECEDENCE: tuple[ClientKind, ...] = (
    ClientKind.ADMIN,
    ClientKind.HUB,
    ClientKind.AGENCY,
    ClientKind.SCHOOL,
    ClientKind.POLICE,
)

# A person's id is a principal's `client_id` (40 characters in the audit tables), and
# `<organisation>/<id>` is who acted in a routing step or a directory version (100): 64
# for the organisation (as a directory entry names it), the slash, 35 for the id.
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,34}$")
MAX_ORGANISATION = 64
MAX_NAME = 200


def _roles(roles: Iterable[str]) -> list[Role]:
    names = list(roles)
    if not names:
        raise ValueError("a person needs at least one role")
    unknown = sorted(set(names) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(unknown)}")
    return [ROLES[name] for name in names]


def kind_of(roles: Iterable[str]) -> ClientKind:
    """The kind a person of these roles acts as: admin before hub (the two combine); a
    ValueError for no role, an unknown one, or roles of kinds that do not combine."""
    kinds = {role.kind for role in _roles(roles)}
    if len(kinds) > 1 and not kinds <= OVERSEERS:
        named = ", ".join(k.value for k in PRECEDENCE if k in kinds)
        raise ValueError(
            f"roles of different kinds ({named}) do not combine: one person acts for one "
            "organisation (only the hub's and an administrator's roles go together)"
        )
    return next(kind for kind in PRECEDENCE if kind in kinds)


def scopes_of(roles: Iterable[str]) -> frozenset[str]:
    """Every scope these roles hold, together (unknown roles hold none)."""
    return frozenset().union(*(ROLES[name].scopes for name in roles if name in ROLES))


@dataclass(frozen=True)
class Person:
    """Someone signed in to the console, as the services know them: checked as made (an
    id that fits the audit tables, an organisation and name of sensible length, roles
    that `kind_of` accepts), so a person who could not act is never signed for."""

    id: str
    name: str
    organisation: str
    roles: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not PERSON_ID.match(self.id):
            raise ValueError("a person's id is 1 to 35 letters, digits, '_', '.' or '-'")
        if not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_NAME:
            raise ValueError(f"a person's name is 1 to {MAX_NAME} characters")
        if (
            not isinstance(self.organisation, str)
            or not 0 < len(self.organisation) <= MAX_ORGANISATION
            or "/" in self.organisation
        ):
            raise ValueError(
                f"a person's organisation is 1 to {MAX_ORGANISATION} characters, without '/'"
            )
        kind_of(self.roles)


def principal_of(person: Person) -> Principal:
    """The principal a person acts as in the services: rate-limited per person, their
    id where a key's would be recorded, their organisation's view, their roles' scopes."""
    return Principal(
        key_id="person:" + person.id,
        client_id=person.id,
        name=person.name,
        kind=kind_of(person.roles),
        organisation=person.organisation,
        scopes=scopes_of(person.roles),
        person_id=person.id,
        person_name=person.name,
        roles=frozenset(person.roles),
    )
