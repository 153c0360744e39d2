"""A key speaks only for what it is: who may submit a report, and what its `source` may
claim.

Partners act on what a report says of its referrer: a school's Designated Safeguarding
Lead receives an Operation Encompass notice "from the police" because the report's
`source.kind` is `police`, and triage weighs a police report differently from a
school's. So the claim is bounded by the credential, never taken from the body:

- only police and school keys submit reports (agency, hub and admin keys are refused
  with a 403, whatever scopes they hold: they act on referrals, they do not raise
  them);
- `source.kind` must be the key's kind (a police key sends `police`, a school key
  `school`);
- `source.organisation` must be the key's organisation.

What a report's source claims is therefore whose the report is: the organisation's
(of that kind), not the one key or person that sent it. A force's records system
submits, and the force's officers signed in to the console follow it (`owns`); a
school's URN that happened to equal a force's code still sees only its own.

Pure: a principal and a report in, the refusal (or nothing) out.
"""

from __future__ import annotations

from typing import Any

from shared.auth import ClientKind, Principal
from shared.problems import Problem
from shared.report import ConcernReport

# The kinds of key that raise concerns, and the `source.kind` each sends.
REFERRERS: dict[ClientKind, str] = {ClientKind.POLICE: "police", ClientKind.SCHOOL: "school"}


def may_submit(principal: Principal) -> bool:
    """Whether the key is a referrer's (police or school)."""
    return principal.kind in REFERRERS


def owns(principal: Principal, *, organisation: str, source_kind: str) -> bool:
    """Whether a report whose source is `organisation` of `source_kind` is the caller's
    organisation's own: any key or person of that organisation and kind (police or
    school) follows it; nobody else does, whatever they oversee."""
    own = REFERRERS.get(principal.kind)
    return own is not None and own == source_kind and organisation == principal.organisation


def not_a_referrer(principal: Principal) -> Problem:
    """403 for a key that is not a referrer's."""
    return Problem(
        403,
        "Forbidden",
        f"A {principal.kind.value} key cannot submit reports: only police and school keys "
        "do, and source.kind must be the key's kind.",
        type="wrong-source-kind",
        errors=[_error((), "source.kind", _kind_message(principal), "wrong_source_kind")],
    )


def _kind_message(principal: Principal) -> str:
    own = REFERRERS.get(principal.kind)
    if own is None:
        return f"a {principal.kind.value} key cannot submit reports"
    return f"must be {own!r}, the kind of this API key"


def _error(at: tuple[str, ...], field: str, message: str, kind: str) -> dict[str, Any]:
    parts = field.split(".")
    return {
        "loc": ["body", *at, *parts],
        "pointer": "".join(f"/{p}" for p in (*at, *parts)),
        "field": field,
        "message": message,
        "type": kind,
    }


def source_errors(
    principal: Principal, report: ConcernReport, *, at: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """What the report's `source` claims beyond its key, as field errors (`loc` and
    `pointer` under `at`, e.g. a batch row's index); empty when it claims nothing more."""
    errors = []
    if REFERRERS.get(principal.kind) != report.source.kind:
        errors.append(_error(at, "source.kind", _kind_message(principal), "wrong_source_kind"))
    if report.source.organisation != principal.organisation:
        errors.append(
            _error(
                at,
                "source.organisation",
                "must be the organisation this API key belongs to",
                "wrong_organisation",
            )
        )
    return errors


def authorise(principal: Principal, report: ConcernReport) -> None:
    """Raise a 403 unless the key may submit this report (see the module)."""
    if not may_submit(principal):
        raise not_a_referrer(principal)
    errors = source_errors(principal, report)
    if not errors:
        return
    if errors[0]["field"] == "source.kind":
        raise Problem(
            403,
            "Forbidden",
            f"source.kind must be {REFERRERS[principal.kind]!r}: a {principal.kind.value} "
            f"key speaks only for a {principal.kind.value}.",
            type="wrong-source-kind",
            errors=errors,
        )
    raise Problem(
        403,
        "Forbidden",
        "source.organisation must be the organisation this API key belongs to.",
        type="wrong-organisation",
        errors=errors,
    )
