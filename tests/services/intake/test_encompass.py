"""Operation Encompass at intake: which children of a police report their school (or the
local authority) must hear about, and the notice staged with the report."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.intake.encompass import (
    children_to_notify,
    encompass_notices,
    is_school_age,
    reception_cutoff,
)
from shared.auth import ClientKind
from shared.events import Topic
from shared.report import ConcernReport
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, outbox_count, police_key, received_events


def da_report(**changes: Any) -> dict[str, Any]:
    """The example police domestic abuse report: Maya (school 100001, present) and her
    brother Noah (school 100002, present)."""
    body = example("police-domestic-abuse-report.json")
    body.update(changes)
    return body


def names(body: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    report = ConcernReport.model_validate(body)
    return [(c.given_name, c.school_urn, c.home_educated) for c in children_to_notify(report)]


@pytest.mark.parametrize(
    ("born", "on", "expected"),
    [
        # Reception takes children who are four by 31 August before the school year.
        (date(2022, 8, 31), date(2026, 9, 1), True),  # youngest in reception
        (date(2022, 9, 1), date(2026, 9, 1), False),  # nursery until next September
        (date(2022, 9, 1), date(2027, 6, 30), False),  # still nursery in June
        # Over the summer the next school day is in the new school year: a child who
        # starts reception in September is of school age for Encompass in August.
        (date(2022, 9, 1), date(2027, 8, 20), True),
        (date(2022, 9, 1), date(2027, 9, 1), True),
        (date(2023, 9, 1), date(2027, 8, 20), False),  # a year younger: nursery still
        (date(2009, 1, 10), date(2027, 1, 9), True),  # 17, the day before turning 18
        (date(2009, 1, 10), date(2027, 1, 10), False),  # 18: not a child
        (None, date(2026, 11, 27), True),  # no birth date: the named school knows
    ],
)
def test_school_age_runs_from_reception_to_seventeen(
    born: date | None, on: date, expected: bool
) -> None:
    assert is_school_age(born, on) is expected


def test_the_reception_cutoff_follows_the_school_year_not_the_calendar_year() -> None:
    assert reception_cutoff(date(2026, 8, 31)) == date(2021, 8, 31)
    assert reception_cutoff(date(2026, 9, 1)) == date(2022, 8, 31)


def test_each_child_with_a_school_is_notified_once() -> None:
    # Maya is the report's child and also listed as present: one notice, not two.
    assert names(da_report()) == [("Maya", "100001", False), ("Noah", "100002", False)]


def test_a_child_starting_reception_after_a_summer_incident_is_notified() -> None:
    body = da_report()
    body["police"]["occurred_at"] = "2026-08-20T21:00:00Z"
    body["reported_at"] = "2026-08-20T22:00:00Z"
    noah = body["police"]["children_present"][1]
    noah["date_of_birth"] = "2022-03-01"  # four: reception from 3 September
    assert [n for n, _, _ in names(body)] == ["Maya", "Noah"]


def test_two_schools_named_for_one_child_are_both_told() -> None:
    body = da_report()
    body["police"]["children_present"][0]["school_urn"] = "100009"  # Maya, again
    assert names(body) == [
        ("Maya", "100001", False),
        ("Maya", "100009", False),
        ("Noah", "100002", False),
    ]


def test_the_report_child_not_listed_as_present_is_not_said_to_be_absent() -> None:
    body = da_report()
    del body["police"]["children_present"][0]
    [maya, _] = children_to_notify(ConcernReport.model_validate(body))
    assert maya.present is None and maya.whereabouts is None


def test_the_report_child_listed_as_present_carries_where_they_were_and_their_voice() -> None:
    report = ConcernReport.model_validate(da_report())
    maya = children_to_notify(report)[0]
    assert maya.present is True
    assert maya.whereabouts == "elsewhere_in_the_home"
    assert maya.voice == "In her bedroom; heard the shouting and a door slam."


def test_a_child_without_a_known_school_is_not_notified() -> None:
    body = da_report()
    del body["police"]["children_present"][1]["school_urn"]
    assert names(body) == [("Maya", "100001", False)]


def test_a_home_educated_child_is_notified_to_the_local_authority() -> None:
    body = da_report()
    noah = body["police"]["children_present"][1]
    del noah["school_urn"]
    noah["home_educated"] = True
    assert names(body) == [("Maya", "100001", False), ("Noah", None, True)]


def test_a_child_too_young_for_reception_is_not_notified() -> None:
    body = da_report()
    noah = body["police"]["children_present"][1]
    noah["date_of_birth"] = "2022-10-01"  # three on the incident date: nursery
    noah["school_urn"] = "100003"
    assert names(body) == [("Maya", "100001", False)]


@pytest.mark.parametrize("code", ["domestic_abuse", "domestic_abuse_serious"])
def test_a_domestic_abuse_concern_alone_makes_it_a_domestic_abuse_report(code: str) -> None:
    body = da_report(concerns=[{"code": code}])
    body["police"]["domestic_abuse"] = False
    assert [n for n, _, _ in names(body)] == ["Maya", "Noah"]
    body["concerns"] = [{"code": "household_substance_misuse"}]
    assert names(body) == []


def test_a_report_that_is_not_domestic_abuse_notifies_no_school() -> None:
    body = da_report(concerns=[{"code": "missing_once"}])
    body["police"]["domestic_abuse"] = False
    assert names(body) == []


def test_a_school_report_never_triggers_encompass() -> None:
    body = example("school-report.json")
    body["concerns"] = [{"code": "domestic_abuse"}]
    body["child"]["school_urn"] = body["source"]["organisation"]
    assert names(body) == []


@pytest.mark.parametrize(
    ("raised_by", "notices"),
    [
        (ClientKind.POLICE, 2),
        (ClientKind.SCHOOL, 0),
        (ClientKind.AGENCY, 0),
        (ClientKind.HUB, 0),
        (ClientKind.ADMIN, 0),
    ],
)
def test_only_a_report_a_police_key_sent_makes_notices_whatever_its_source_says(
    raised_by: ClientKind, notices: int
) -> None:
    report = ConcernReport.model_validate(da_report())
    assert report.source.kind == "police"
    made = encompass_notices(
        report,
        raised_by=raised_by,
        referral_id="ref_1",
        received_at=report.reported_at,
        supersedes=[],
    )
    assert len(made) == notices


async def test_a_police_domestic_abuse_report_stages_one_notice_per_child(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    r = await signpost.client.post("/v1/reports", json=da_report(), headers=bearer(key))
    assert r.status_code == 202, r.text
    referral_id = r.json()["referral_id"]
    notices = await received_events(signpost, Topic.ENCOMPASS_NOTICE)
    assert [(n["school_urn"], n["child"]["given_name"]) for n in notices] == [
        ("100001", "Maya"),
        ("100002", "Noah"),
    ]
    maya = notices[0]
    assert maya["referral_id"] == referral_id
    assert maya["referrer_organisation"] == "demo-police"
    assert maya["incident"] == {
        "police_reference": "DP-INC-2026-77120",
        "occurred_at": "2026-11-27T23:05:00Z",
        "location": "Family home",
        "location_postcode": "EX2 5AB",
        "circumstances": da_report()["police"]["circumstances"],
    }
    # The narrative, the household and the officer stay with intake and triage.
    text = str(notices)
    assert "narrative" not in text and "arrested for assault" not in text
    assert "Ruth" not in text and "PC Sam Officer" not in text


async def test_an_identical_resubmission_stages_no_second_notice(signpost: Signpost) -> None:
    key = await police_key(signpost)
    for _ in range(2):
        r = await signpost.client.post("/v1/reports", json=da_report(), headers=bearer(key))
        assert r.status_code in (200, 202), r.text
    assert await outbox_count(signpost, Topic.ENCOMPASS_NOTICE) == 2


async def test_home_educated_with_a_school_is_refused_naming_the_field(signpost: Signpost) -> None:
    body = da_report()
    body["police"]["children_present"][1]["home_educated"] = True
    key = await police_key(signpost)
    r = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = r.json()["errors"]
    assert error["pointer"] == "/police/children_present/1/school_urn"
    assert error["type"] == "home_educated_with_school"
    assert await outbox_count(signpost, Topic.ENCOMPASS_NOTICE) == 0


async def test_a_school_urn_that_is_not_six_digits_is_refused(signpost: Signpost) -> None:
    body = da_report()
    body["child"]["school_urn"] = "ABC123"
    key = await police_key(signpost)
    r = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == ["/child/school_urn"]
