"""Intake's cross-field rules for a concern report: the ones that compare fields or
depend on the time of receipt.

They run once, when intake receives a report (`check`), against the service clock's
now; each failure is reported at the location of the field at fault, so a client sees
`school.urn`, not just "the report". Other services decode the stored report with the
field rules alone (`shared.report`), so an accepted report never becomes invalid later.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from shared.report import ConcernReport, Schooling, age_on

# A referrer's clock may run a little fast; beyond this a timestamp is "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def rule_errors(report: ConcernReport, *, now: datetime) -> list[ErrorDetails]:
    """Each cross-field rule the report breaks, as pydantic error dicts (`loc` from the
    report's root, `msg`, `type`); empty when it keeps them all."""
    errors = cross_field_errors(report, now=now)
    if not errors:
        return []
    failure = ValidationError.from_exception_data(type(report).__name__, errors)
    return list(failure.errors(include_input=False, include_url=False))


def check(report: ConcernReport, *, now: datetime) -> None:
    """Raise a request validation error (422, each field located in the body) when the
    report breaks a cross-field rule."""
    errors = rule_errors(report, now=now)
    if errors:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def cross_field_errors(report: ConcernReport, *, now: datetime) -> list[InitErrorDetails]:
    """Every rule that compares fields, each failure at the location of the field at fault."""
    errors: list[InitErrorDetails] = []
    latest = now + CLOCK_SKEW
    today = latest.date()

    def not_future(loc: tuple[str | int, ...], value: datetime | date | None) -> None:
        if value is None:
            return
        late = value > latest if isinstance(value, datetime) else value > today
        if late:
            errors.append(_error(loc, "future_date", "must not be in the future", str(value)))

    not_future(("reported_at",), report.reported_at)
    report_date = report.reported_at.date()
    dob = report.child.date_of_birth
    if dob > report_date:
        errors.append(
            _error(
                ("child", "date_of_birth"),
                "future_date",
                "must not be after the report date",
                str(dob),
            )
        )
    elif age_on(dob, report_date) > 17:
        errors.append(
            _error(
                ("child", "date_of_birth"),
                "not_a_child",
                "the subject must be a child (0-17) on the report date",
                str(dob),
            )
        )
    for i, member in enumerate(report.household):
        not_future(("household", i, "date_of_birth"), member.date_of_birth)

    def one_place_of_education(loc: tuple[str | int, ...], child: Schooling) -> None:
        if child.home_educated and child.school_urn is not None:
            errors.append(
                _error(
                    (*loc, "school_urn"),
                    "home_educated_with_school",
                    "a home-educated child has no school: give school_urn or home_educated",
                    child.school_urn,
                )
            )

    one_place_of_education(("child",), report.child)

    kind = report.source.kind
    if report.police is not None:
        if kind != "police":
            errors.append(_error(("police",), "section_not_allowed", "only for police", kind))
        occurred = report.police.occurred_at
        not_future(("police", "occurred_at"), occurred)
        if occurred - report.reported_at > CLOCK_SKEW:
            errors.append(
                _error(
                    ("police", "occurred_at"),
                    "after_report",
                    "the incident cannot have happened after it was reported",
                    str(occurred),
                )
            )
        for i, present in enumerate(report.police.children_present):
            one_place_of_education(("police", "children_present", i), present)
            born = present.date_of_birth
            if born is not None and not 0 <= age_on(born, occurred.date()) <= 17:
                errors.append(
                    _error(
                        ("police", "children_present", i, "date_of_birth"),
                        "not_a_child",
                        "a child present must be 0-17 on the incident date",
                        str(born),
                    )
                )
    if report.school is not None:
        if kind != "school":
            errors.append(_error(("school",), "section_not_allowed", "only for schools", kind))
        elif report.school.urn != report.source.organisation:
            errors.append(
                _error(
                    ("school", "urn"),
                    "urn_mismatch",
                    "must equal source.organisation (the reporting school's URN)",
                    report.school.urn,
                )
            )
    if kind == "school" and not re.fullmatch(r"[0-9]{6}", report.source.organisation):
        errors.append(
            _error(
                ("source", "organisation"),
                "urn_format",
                "a school's organisation is its 6-digit URN",
                report.source.organisation,
            )
        )

    consent = report.consent
    if consent is not None:
        without_consent = consent.status != "given"
        if without_consent and consent.sharing_authorised_by is None:
            errors.append(
                _error(
                    ("consent", "sharing_authorised_by"),
                    "authorisation_required",
                    "sharing without consent must record who authorised it and why",
                    None,
                )
            )
        if not without_consent and consent.sharing_authorised_by is not None:
            errors.append(
                _error(
                    ("consent", "sharing_authorised_by"),
                    "authorisation_not_expected",
                    "only when consent was refused or not sought",
                    None,
                )
            )
        if without_consent and consent.lawful_basis == "consent":
            errors.append(
                _error(
                    ("consent", "lawful_basis"),
                    "basis_conflict",
                    "consent cannot be the lawful basis when consent was not given",
                    consent.lawful_basis,
                )
            )
        if consent.sharing_authorised_by is not None:
            not_future(
                ("consent", "sharing_authorised_by", "decided_at"),
                consent.sharing_authorised_by.decided_at,
            )
    return errors
