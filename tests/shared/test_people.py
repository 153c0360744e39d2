"""People's roles: the kind each acts as and the scopes each holds, which roles combine,
and the principal a person is in the services."""

from __future__ import annotations

import pytest

from shared.auth import SCOPES, ClientKind, Principal
from shared.people import ROLES, Person, kind_of, principal_of, scopes_of

# What reads a child's data, or a triage decision drawn from the family's history.
READS_CHILDREN = {"referrals:read", "reports:read", "encompass:read"}


def test_the_eight_roles_act_as_the_kinds_and_hold_the_scopes_the_issues_name() -> None:
    table = {name: (role.kind, set(role.scopes)) for name, role in ROLES.items()}
    assert table == {
        "hub_practitioner": (
            ClientKind.HUB,
            {
                "referrals:read",
                "referrals:write",
                "triage:override",
                "encompass:read",
                "subscriptions:read",
            },
        ),
        "mash_practitioner": (ClientKind.AGENCY, {"referrals:read", "referrals:write"}),
        "agency_worker": (ClientKind.AGENCY, {"referrals:read", "referrals:write"}),
        "school_dsl": (
            ClientKind.SCHOOL,
            {"reports:read", "reports:write", "encompass:read", "encompass:acknowledge"},
        ),
        "referrer": (ClientKind.POLICE, {"reports:read", "reports:write", "encompass:read"}),
        "hub_manager": (
            ClientKind.HUB,
            {
                "referrals:read",
                "referrals:write",
                "triage:override",
                "encompass:read",
                "subscriptions:read",
                "measures:read",
                "policy:simulate",
                "policy:approve",
            },
        ),
        "partnership_analyst": (ClientKind.HUB, {"measures:read", "policy:simulate"}),
        "admin": (
            ClientKind.ADMIN,
            {
                "directory:write",
                "subscriptions:read",
                "subscriptions:write",
                "policy:simulate",
                "policy:approve",
            },
        ),
    }
    assert all(role.name == name and role.label for name, role in ROLES.items())


def test_every_role_scope_is_a_scope_the_services_know() -> None:
    for role in ROLES.values():
        assert role.scopes <= set(SCOPES), role.name


def test_no_role_holds_the_all_powerful_admin_scope() -> None:
    assert all("admin" not in role.scopes for role in ROLES.values())
    admin = principal_of(Person("per_admin", "Ravi Patel", "demoshire-partnership", ("admin",)))
    assert not admin.has("referrals:read") and not admin.has("triage:override")


def test_an_analyst_holds_nothing_that_reads_a_childs_data() -> None:
    analyst = principal_of(
        Person("per_analyst", "Kim Ward", "demoshire-partnership", ("partnership_analyst",))
    )
    assert analyst.oversees  # of the hub's kind...
    assert not any(analyst.has(scope) for scope in READS_CHILDREN)  # ...reading nothing


@pytest.mark.parametrize(
    ("roles", "kind"),
    [
        (["admin", "hub_practitioner"], ClientKind.ADMIN),
        (["hub_practitioner", "admin"], ClientKind.ADMIN),
        (["partnership_analyst", "hub_practitioner"], ClientKind.HUB),
        (["mash_practitioner", "agency_worker"], ClientKind.AGENCY),
        (["school_dsl"], ClientKind.SCHOOL),
        (["referrer"], ClientKind.POLICE),
    ],
)
def test_a_persons_kind_follows_their_roles_an_administrators_before_the_hubs(
    roles: list[str], kind: ClientKind
) -> None:
    assert kind_of(roles) == kind


@pytest.mark.parametrize(
    "roles",
    [
        ["partnership_analyst", "agency_worker"],  # would read every referral
        ["admin", "mash_practitioner"],
        ["hub_practitioner", "school_dsl"],
        ["school_dsl", "referrer"],
    ],
)
def test_roles_of_kinds_that_do_not_combine_are_refused(roles: list[str]) -> None:
    with pytest.raises(ValueError, match="do not combine"):
        kind_of(roles)
    with pytest.raises(ValueError, match="do not combine"):
        Person("per_1", "Jo Bright", "demoshire-families", tuple(roles))


def test_no_role_or_an_unknown_one_has_no_kind() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        kind_of([])
    with pytest.raises(ValueError, match="unknown role"):
        kind_of(["hub_practitioner", "superuser"])


def test_the_scopes_of_several_roles_are_their_union() -> None:
    assert scopes_of(["partnership_analyst", "hub_practitioner"]) == (
        ROLES["hub_practitioner"].scopes | {"measures:read", "policy:simulate"}
    )
    assert scopes_of(["admin", "hub_practitioner"]) == (
        ROLES["admin"].scopes | ROLES["hub_practitioner"].scopes
    )
    assert scopes_of(["unknown"]) == frozenset()


def test_a_person_acts_as_a_principal_of_their_own_limited_per_person() -> None:
    person = Person("per_0123456789abcdef0123", "Sam Hale", "demoshire-hub", ("hub_practitioner",))
    principal = principal_of(person)
    assert principal.key_id == "person:per_0123456789abcdef0123"
    assert principal.client_id == principal.person_id == person.id
    assert principal.name == principal.person_name == "Sam Hale"
    assert principal.kind == ClientKind.HUB and principal.organisation == "demoshire-hub"
    assert principal.scopes == ROLES["hub_practitioner"].scopes
    assert principal.roles == {"hub_practitioner"}
    assert principal.is_person
    assert principal.actor == "demoshire-hub/per_0123456789abcdef0123"


def test_a_key_acts_as_its_organisation_as_before() -> None:
    key = Principal(
        key_id="k1",
        client_id="k1",
        name="Demoshire hub console",
        kind=ClientKind.HUB,
        organisation="demoshire-hub",
        scopes=frozenset({"referrals:read"}),
    )
    assert not key.is_person and key.person_id is None and key.roles == frozenset()
    assert key.actor == "demoshire-hub"


def test_the_longest_person_fits_every_column_that_records_who_acted() -> None:
    person = Person("p" * 35, "n" * 200, "o" * 64, ("agency_worker",))
    principal = principal_of(person)
    assert len(principal.client_id) <= 40  # read_audit, triage_override, report
    assert len(principal.actor) <= 100  # routing_step.by, directory changed_by


@pytest.mark.parametrize(
    ("person_id", "name", "organisation"),
    [
        ("p" * 36, "Sam", "demoshire-hub"),  # its actor would not fit
        ("per/1", "Sam", "demoshire-hub"),  # '/' separates organisation and person
        ("", "Sam", "demoshire-hub"),
        ("per_1", "", "demoshire-hub"),
        ("per_1", "Sam", "o" * 65),
        ("per_1", "Sam", "demo/hub"),
        ("per_1", "Sam", ""),
    ],
)
def test_a_person_who_could_not_be_recorded_is_refused_as_made(
    person_id: str, name: str, organisation: str
) -> None:
    with pytest.raises(ValueError):
        Person(person_id, name, organisation, ("hub_practitioner",))
