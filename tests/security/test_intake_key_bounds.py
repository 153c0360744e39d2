"""A key may only speak for what it is (issue 12, item 1), at intake.

What a report says of its referrer is what partners act on: a report whose
`source.kind` is `police` tells schools of a domestic abuse incident "from the police".
So the key's kind bounds `source.kind`, its organisation bounds `source.organisation`,
only police and school keys submit at all, and Operation Encompass notices come only
from a police key's report. Intake's other endpoints take who the caller is from the
key alone (never from the body, the query or a header); each is checked here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake import service
from services.intake.models import Report
from shared.auth import ClientKind, Principal
from shared.db import table_of
from shared.events import Topic
from shared.outbox import OutboxMessage
from shared.problems import Problem
from shared.report import ConcernReport
from tests.services.conftest import Signpost, bearer
from tests.services.conftest import signpost as signpost  # the embedded app, as a fixture
from tests.services.intake.conftest import example, police_key, school_key

SCHOOL = "100001"


def police_da_report(organisation: str = "demo-police") -> dict[str, Any]:
    """The example police domestic abuse report (two children with schools: it makes
    two Encompass notices when a police key sends it)."""
    body = copy.deepcopy(example("police-domestic-abuse-report.json"))
    body["source"]["organisation"] = organisation
    return body


async def written(sp: Signpost) -> tuple[int, int]:
    """How many reports intake stored and how many events it staged (any topic)."""
    ctx = sp.app.state.runtimes["intake"].ctx
    reports, outbox = table_of(Report), table_of(OutboxMessage)
    async with ctx.db.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(reports))
        staged = await conn.scalar(select(func.count()).select_from(outbox))
    return int(stored or 0), int(staged or 0)


async def staged_on(sp: Signpost, topic: str) -> int:
    ctx = sp.app.state.runtimes["intake"].ctx
    outbox = table_of(OutboxMessage)
    async with ctx.db.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.topic == topic)
        )
    return int(count or 0)


def refused_for_kind(answer: Any) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/wrong-source-kind")
    assert "source.kind" in [e["field"] for e in problem["errors"]]


async def test_a_school_key_claiming_to_be_the_police_is_403_and_no_notice_is_written(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost, SCHOOL)
    answer = await signpost.client.post(
        "/v1/reports", json=police_da_report(SCHOOL), headers=bearer(key)
    )
    refused_for_kind(answer)
    assert await written(signpost) == (0, 0)
    assert await staged_on(signpost, Topic.ENCOMPASS_NOTICE) == 0


async def test_the_same_report_from_a_police_key_does_make_the_notices(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    answer = await signpost.client.post("/v1/reports", json=police_da_report(), headers=bearer(key))
    assert answer.status_code == 202, answer.text
    assert await staged_on(signpost, Topic.ENCOMPASS_NOTICE) == 2


async def test_a_police_key_claiming_to_be_a_school_is_403(signpost: Signpost) -> None:
    # A force whose organisation code looks like a URN, so only the kind is at fault.
    key = await police_key(signpost, SCHOOL)
    answer = await signpost.client.post(
        "/v1/reports", json=example("school-upn-report.json"), headers=bearer(key)
    )
    refused_for_kind(answer)
    assert await written(signpost) == (0, 0)


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        ("agency", ("reports:write",)),
        ("hub", ("reports:write",)),
        ("admin", ("admin",)),
    ],
)
async def test_agency_hub_and_admin_keys_cannot_submit_reports(
    signpost: Signpost, kind: str, scopes: tuple[str, ...]
) -> None:
    key = await signpost.key(kind, "demo-police", *scopes)
    answer = await signpost.client.post("/v1/reports", json=police_da_report(), headers=bearer(key))
    refused_for_kind(answer)
    batch = await signpost.client.post(
        "/v1/reports/batch", json=[police_da_report()], headers=bearer(key)
    )
    refused_for_kind(batch)
    assert await written(signpost) == (0, 0)


async def test_the_use_case_refuses_a_school_principal_claiming_police_and_writes_nothing(
    signpost: Signpost,
) -> None:
    ctx = signpost.app.state.runtimes["intake"].ctx
    school = Principal(
        key_id="k_school",
        client_id="c_school",
        name="a school",
        kind=ClientKind.SCHOOL,
        organisation=SCHOOL,
        scopes=frozenset({"reports:write"}),
    )
    with pytest.raises(Problem) as refused:
        await service.submit_report(
            units=ctx.units,
            principal=school,
            report=ConcernReport.model_validate(police_da_report(SCHOOL)),
            idempotency_key=None,
            pseudonym_secret="secret",
        )
    assert (refused.value.status, refused.value.type) == (403, "wrong-source-kind")
    assert await written(signpost) == (0, 0)


async def test_a_json_batch_row_claiming_another_kind_is_that_rows_error(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost, SCHOOL)
    rows = [example("school-upn-report.json"), police_da_report(SCHOOL)]
    answer = await signpost.client.post("/v1/reports/batch", json=rows, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [a["row"] for a in body["accepted"]] == [0]
    [rejected] = body["errors"]
    assert rejected["row"] == 1
    assert [(e["field"], e["type"], e["pointer"]) for e in rejected["errors"]] == [
        ("source.kind", "wrong_source_kind", "/1/source/kind")
    ]
    assert await written(signpost) == (1, 1)
    assert await staged_on(signpost, Topic.ENCOMPASS_NOTICE) == 0


async def test_a_csv_row_naming_another_source_kind_is_that_rows_error(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost, SCHOOL)
    body = (
        "source.kind,source.reference,reported_at,child.given_name,child.family_name,"
        "child.date_of_birth,child.address.postcode,concerns\n"
        ",CPOMS-K1,2026-11-26T15:05:00Z,Leo,Sample,2014-09-02,EX4 6PX,domestic_abuse\n"
        "police,CPOMS-K2,2026-11-26T15:05:00Z,Leo,Sample,2014-09-02,EX4 6PX,domestic_abuse\n"
    )
    answer = await signpost.client.post(
        "/v1/reports/batch",
        content=body.encode(),
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert [a["row"] for a in result["accepted"]] == [0]
    assert [(e["field"], e["type"]) for e in result["errors"][0]["errors"]] == [
        ("source.kind", "wrong_source_kind")
    ]
    assert await written(signpost) == (1, 1)


async def test_the_referrers_view_and_list_are_found_by_the_key_never_by_the_request(
    signpost: Signpost,
) -> None:
    mine = await police_key(signpost)
    posted = await signpost.client.post(
        "/v1/reports", json=police_da_report(), headers=bearer(mine)
    )
    status_url = posted.json()["status_url"]
    # A report is its organisation's (issue 15: any key or person of the force follows
    # it, so another key of the same force may). So: a key of another force, and a
    # school's, naming the submitter and its force every way a request can.
    submitter = mine.split("_")[1]
    claims = {"client_id": submitter, "organisation": "demo-police", "kind": "police"}
    claimed = {"X-Client-Id": submitter, "X-Organisation": "demo-police", "X-Client-Kind": "police"}
    for other in (await police_key(signpost, "other-force"), await school_key(signpost)):
        answer = await signpost.client.get(
            status_url, params=claims, headers={**bearer(other), **claimed}
        )
        assert answer.status_code == 404
        listed = await signpost.client.get(
            "/v1/reports", params=claims, headers={**bearer(other), **claimed}
        )
        assert listed.status_code == 200 and listed.json() == []


async def test_a_partners_cut_of_a_report_follows_its_keys_kind_never_the_request(
    signpost: Signpost,
) -> None:
    police = await police_key(signpost)
    posted = await signpost.client.post(
        "/v1/reports", json=police_da_report(), headers=bearer(police)
    )
    referral_id = posted.json()["referral_id"]
    # An administrator oversees (it may ask) but reads no report content; saying it
    # is the hub does not change that.
    admin = await signpost.key("admin", "signpost-ops", "referrals:read")
    answer = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report",
        params={"kind": "hub", "organisation": "demoshire-hub"},
        headers={**bearer(admin), "X-Client-Kind": "hub"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["report"] == {}
    # And an organisation the referral is not addressed to cannot name itself in.
    agency = await signpost.key("agency", "demoshire-housing", "referrals:read")
    elsewhere = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report",
        params={"organisation": "demoshire-hub"},
        headers={**bearer(agency), "X-Organisation": "demoshire-hub"},
    )
    assert elsewhere.status_code == 404
