"""Operation Encompass: which children of a police report their school must hear about.

After a domestic abuse incident where a child of school age (reception to 17) lives
or was present, the police must tell the child's school's Designated Safeguarding Lead
before the start of the next school day; for a home-educated child, the local
authority. Intake decides who qualifies, from the report alone, and stages one
`encompass.notice` per child in the same transaction that stores the report. Notify
addresses, times and delivers it.

Pure functions: the decision is a function of the report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from shared.auth import ClientKind
from shared.events import EncompassChild, EncompassIncident, EncompassNotice
from shared.report import Child, ChildPresent, ConcernReport, Whereabouts, age_on

DOMESTIC_ABUSE_CODES = frozenset({"domestic_abuse", "domestic_abuse_serious"})


def is_domestic_abuse(report: ConcernReport) -> bool:
    """A police report of domestic abuse: flagged so, or with a domestic abuse concern.

    Either is enough: a report that under-counts as Encompass leaves a school unaware.
    """
    if report.source.kind != "police" or report.police is None:
        return False
    return report.police.domestic_abuse or any(
        c.code in DOMESTIC_ABUSE_CODES for c in report.concerns
    )


def reception_cutoff(on: date) -> date:
    """The latest birthday of a child in reception or above on `on`.

    A school year runs 1 September to 31 August; reception takes children who are four
    by 31 August before it starts (born on or before 31 August, five years earlier).
    """
    year_starts = on.year if on.month >= 9 else on.year - 1
    return date(year_starts - 4, 8, 31)


def is_school_age(date_of_birth: date | None, on: date) -> bool:
    """In reception or above and not yet 18 on `on`, or, over the summer holiday, on
    the first day of the coming school year (a child starting reception in September
    starts on the next school day, and that school must know).

    Without a date of birth, a child the police name a school (or home education) for
    is taken to be of school age: the school knows its own pupils.
    """
    if date_of_birth is None:
        return True
    days = [on] if on.month not in (7, 8) else [on, date(on.year, 9, 1)]
    return any(
        date_of_birth <= reception_cutoff(day) and age_on(date_of_birth, on) <= 17 for day in days
    )


@dataclass(frozen=True)
class EncompassChildCase:
    """One child of the report the notice is about, merged from wherever it appears."""

    given_name: str
    family_name: str
    date_of_birth: date | None
    school_urn: str | None
    home_educated: bool
    present: bool | None  # None: the report does not say
    whereabouts: Whereabouts | None
    voice: str | None


def _same_child(a: EncompassChildCase, given: str, family: str, born: date | None) -> bool:
    return (
        a.given_name.casefold() == given.casefold()
        and a.family_name.casefold() == family.casefold()
        and (a.date_of_birth is None or born is None or a.date_of_birth == born)
    )


def _case(child: Child | ChildPresent) -> EncompassChildCase:
    """A child of the report as a case: the report's own child (whether present the
    report does not say), or a child the police found present."""
    seen = child if isinstance(child, ChildPresent) else None
    return EncompassChildCase(
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        school_urn=child.school_urn,
        home_educated=child.home_educated,
        present=None if seen is None else True,
        whereabouts=None if seen is None else seen.whereabouts,
        voice=None if seen is None else seen.detail,
    )


def children_to_notify(report: ConcernReport) -> list[EncompassChildCase]:
    """The children of a police domestic abuse report whose school (or local authority)
    must be told: of school age on the incident date, with a school or home education
    named. The report's child and each child present, once each."""
    if not is_domestic_abuse(report):
        return []
    police = report.police
    assert police is not None
    cases = [_case(report.child)]
    for present in police.children_present:
        index = next(
            (
                i
                for i, case in enumerate(cases)
                if _same_child(case, present.given_name, present.family_name, present.date_of_birth)
            ),
            None,
        )
        if index is None:
            cases.append(_case(present))
            continue
        # The report's child listed again as present: one child, the richer details.
        known = cases[index]
        has_place = known.school_urn is not None or known.home_educated
        merged = replace(
            _case(present),
            given_name=known.given_name,
            family_name=known.family_name,
            date_of_birth=known.date_of_birth or present.date_of_birth,
        )
        if has_place:
            merged = replace(merged, school_urn=known.school_urn, home_educated=known.home_educated)
        cases[index] = merged
        if has_place and present.school_urn not in (None, known.school_urn):
            # Two schools named for one child (dual registration, or a move): tell both.
            cases.append(replace(merged, school_urn=present.school_urn, home_educated=False))
    incident_day = police.occurred_at.date()
    return [
        case
        for case in cases
        if (case.school_urn is not None or case.home_educated)
        and is_school_age(case.date_of_birth, incident_day)
    ]


def encompass_notices(
    report: ConcernReport,
    *,
    raised_by: ClientKind,
    referral_id: str,
    received_at: datetime,
    supersedes: list[str],
) -> list[EncompassNotice]:
    """One notice per child to notify (see `children_to_notify`), only for a report a
    police key sent: what a report says of its own source is never enough to tell a
    school that the police attended an incident."""
    police = report.police
    if police is None or raised_by is not ClientKind.POLICE:
        return []
    incident = EncompassIncident(
        police_reference=police.incident_reference,
        occurred_at=police.occurred_at,
        location=police.location.description,
        location_postcode=police.location.postcode,
        circumstances=police.circumstances,
    )
    return [
        EncompassNotice(
            notice_id="enc_" + uuid.uuid4().hex,
            referral_id=referral_id,
            referrer_organisation=report.source.organisation,
            referrer_reference=report.source.reference,
            school_urn=case.school_urn,
            home_educated=case.home_educated,
            child=EncompassChild(
                given_name=case.given_name,
                family_name=case.family_name,
                date_of_birth=case.date_of_birth,
                present=case.present,
                whereabouts=case.whereabouts,
                voice_of_the_child=case.voice,
            ),
            incident=incident,
            received_at=received_at,
            supersedes=supersedes,
        )
        for case in children_to_notify(report)
    ]
