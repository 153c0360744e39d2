"""A key speaks only for what it is: its kind bounds `source.kind`, its organisation
bounds `source.organisation`, and only police and school keys submit at all."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from services.intake.authority import authorise, may_submit, source_errors
from shared.auth import ClientKind
from shared.problems import Problem
from shared.report import ConcernReport
from tests.services.intake.conftest import POLICE, example


def police_report(organisation: str = "demo-police") -> ConcernReport:
    body = copy.deepcopy(example("police-domestic-abuse-report.json"))
    body["source"]["organisation"] = organisation
    return ConcernReport.model_validate(body)


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        (ClientKind.POLICE, True),
        (ClientKind.SCHOOL, True),
        (ClientKind.AGENCY, False),
        (ClientKind.HUB, False),
        (ClientKind.ADMIN, False),
    ],
)
def test_only_police_and_school_keys_submit_reports(kind: ClientKind, allowed: bool) -> None:
    assert may_submit(replace(POLICE, kind=kind)) is allowed


def test_a_police_key_for_its_own_force_may_send_a_police_report() -> None:
    assert source_errors(POLICE, police_report()) == []
    authorise(POLICE, police_report())


def test_a_school_key_may_not_claim_to_be_the_police() -> None:
    school = replace(POLICE, kind=ClientKind.SCHOOL, organisation="100001")
    [error] = source_errors(school, police_report("100001"))
    assert error["field"] == "source.kind"
    assert error["pointer"] == "/source/kind"
    assert error["type"] == "wrong_source_kind"
    with pytest.raises(Problem) as refused:
        authorise(school, police_report("100001"))
    assert (refused.value.status, refused.value.type) == (403, "wrong-source-kind")


def test_another_organisation_is_named_as_the_field_at_fault() -> None:
    [error] = source_errors(POLICE, police_report("other-force"))
    assert error["field"] == "source.organisation"
    with pytest.raises(Problem) as refused:
        authorise(POLICE, police_report("other-force"))
    assert (refused.value.status, refused.value.type) == (403, "wrong-organisation")


def test_a_batch_rows_errors_are_located_under_the_row() -> None:
    school = replace(POLICE, kind=ClientKind.SCHOOL, organisation="100002")
    errors = source_errors(school, police_report("100001"), at=("3",))
    assert [(e["pointer"], e["loc"]) for e in errors] == [
        ("/3/source/kind", ["body", "3", "source", "kind"]),
        ("/3/source/organisation", ["body", "3", "source", "organisation"]),
    ]


@pytest.mark.parametrize("kind", [ClientKind.AGENCY, ClientKind.HUB, ClientKind.ADMIN])
def test_a_key_that_is_not_a_referrers_is_refused_whatever_the_report_says(
    kind: ClientKind,
) -> None:
    key = replace(POLICE, kind=kind, scopes=frozenset({"admin"}))
    with pytest.raises(Problem) as refused:
        authorise(key, police_report())
    assert (refused.value.status, refused.value.type) == (403, "wrong-source-kind")
    assert refused.value.extra["errors"][0]["field"] == "source.kind"
