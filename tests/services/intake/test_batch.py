"""Bulk intake: every row is answered, valid rows are kept, nothing is lost silently."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, outbox_count, school_key

CSV_HEADER = (
    "source.reference,reported_at,child.given_name,child.family_name,child.date_of_birth,"
    "child.address.postcode,concerns,school.upn,school.dsl.name,school.dsl.role,"
    "school.dsl.email,school.attendance_percent,school.exclusions.fixed_term_count\n"
)


def csv_row(reference: str, *, postcode: str = "EX4 6PX", upn: str = "G878200125010") -> str:
    return (
        f"{reference},2026-11-26T15:05:00Z,Leo,Sample,2014-09-02,{postcode},"
        f"absence_truancy;young_carer,{upn},Jo Teacher,DSL,dsl@demo-primary.sch.uk,81.5,2\n"
    )


def school_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row = copy.deepcopy(example("school-upn-report.json"))
        row["source"]["reference"] = f"CPOMS-B{i}"
        rows.append(row)
    return rows


async def post_json(sp: Signpost, key: str, body: Any, **headers: str) -> Any:
    return await sp.client.post("/v1/reports/batch", json=body, headers={**bearer(key), **headers})


async def test_a_json_batch_keeps_valid_rows_and_lists_each_invalid_row(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost)
    rows: list[Any] = school_rows(4)
    rows[1]["child"]["address"]["postcode"] = "NOPE"
    rows[3]["school"]["upn"] = "A878200125010"
    rows.append("not a report")
    r = await post_json(signpost, key, rows)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["rows"] == 5
    assert [a["row"] for a in answer["accepted"]] == [0, 2]
    assert {e["row"]: [f["pointer"] for f in e["errors"]] for e in answer["errors"]} == {
        1: ["/1/child/address/postcode"],
        3: ["/3/school/upn"],
        4: ["/4"],
    }
    # A JSON array has no file rows: its index is the position.
    assert {a["file_row"] for a in answer["accepted"] + answer["errors"]} == {None}
    assert await outbox_count(signpost) == 2
    for accepted in answer["accepted"]:
        view = await signpost.client.get(accepted["status_url"], headers=bearer(key))
        assert view.status_code == 200


async def test_a_batch_row_for_another_organisation_is_a_row_error(signpost: Signpost) -> None:
    key = await school_key(signpost, "100001")
    rows = school_rows(2)
    rows[1]["source"]["organisation"] = rows[1]["school"]["urn"] = "100002"
    answer = (await post_json(signpost, key, rows)).json()
    assert [a["row"] for a in answer["accepted"]] == [0]
    assert answer["errors"][0]["errors"][0]["type"] == "wrong_organisation"


async def test_a_csv_batch_answers_per_row_naming_columns(signpost: Signpost) -> None:
    key = await school_key(signpost)
    body = (
        CSV_HEADER
        + csv_row("CPOMS-C1")
        + csv_row("CPOMS-C2", postcode="BAD")
        + csv_row("CPOMS-C3", upn="A878200125010")
        + csv_row("CPOMS-C4")
    )
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=body.encode(),
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["rows"] == 4
    assert [a["row"] for a in answer["accepted"]] == [0, 3]
    assert {e["row"]: e["errors"][0]["field"] for e in answer["errors"]} == {
        1: "child.address.postcode",
        2: "school.upn",
    }
    # As the file (and a spreadsheet) numbers them: the header is row 1.
    assert [a["file_row"] for a in answer["accepted"]] == [2, 5]
    assert {e["file_row"]: e["errors"][0]["field"] for e in answer["errors"]} == {
        3: "child.address.postcode",
        4: "school.upn",
    }


async def test_a_csv_row_is_stored_as_the_same_json_report_would_be(signpost: Signpost) -> None:
    key = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=(CSV_HEADER + csv_row("CPOMS-D1")).encode(),
        headers={**bearer(key), "content-type": "text/csv; charset=utf-8"},
    )
    referral = r.json()["accepted"][0]["referral_id"]
    ctx = signpost.app.state.runtimes["intake"].ctx
    from services.intake.models import Report

    async with ctx.db.session() as session:
        stored = await session.get(Report, referral)
    assert stored is not None
    assert stored.payload["school"]["urn"] == "100001"
    assert stored.payload["school"]["exclusions"] == {"fixed_term_count": 2, "permanent": False}
    assert [c["code"] for c in stored.payload["concerns"]] == ["absence_truancy", "young_carer"]


async def test_a_csv_with_unknown_or_missing_columns_is_422(signpost: Signpost) -> None:
    key = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=b"source.reference,shoe_size\nX,9\n",
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert r.status_code == 422
    assert "shoe_size" in r.json()["detail"] and "reported_at" in r.json()["detail"]


async def test_batches_that_are_empty_too_long_or_not_arrays_are_422(signpost_with: Any) -> None:
    async with signpost_with(intake_max_batch_rows=3) as sp:
        key = await school_key(sp)
        bodies: list[Any] = [[], school_rows(4), {"rows": []}]
        for body in bodies:
            r = await post_json(sp, key, body)
            assert r.status_code == 422, body
            assert r.headers["content-type"] == "application/problem+json"
        assert await outbox_count(sp) == 0


async def test_a_batch_in_another_format_is_415(signpost: Signpost) -> None:
    key = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports/batch", content=b"<xml/>", headers={**bearer(key), "content-type": "text/xml"}
    )
    assert r.status_code == 415


async def test_a_batch_needs_the_write_scope(signpost: Signpost) -> None:
    key = await signpost.key("school", "100001", "reports:read")
    r = await post_json(signpost, key, school_rows(1))
    assert r.status_code == 403


async def test_an_idempotency_key_covers_the_whole_batch(signpost: Signpost) -> None:
    key = await school_key(signpost)
    rows = school_rows(3)
    first = await post_json(signpost, key, rows, **{"Idempotency-Key": "batch-1"})
    again = await post_json(signpost, key, rows, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await outbox_count(signpost) == 3
    other = await post_json(signpost, key, rows[:2], **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 409


async def test_a_resent_batch_without_a_key_links_rows_instead_of_doubling_them(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost)
    rows = school_rows(2)
    first = (await post_json(signpost, key, rows)).json()
    again = (await post_json(signpost, key, rows)).json()
    assert [a["duplicate_of"] for a in again["accepted"]] == [
        a["referral_id"] for a in first["accepted"]
    ]
    assert await outbox_count(signpost) == 2


async def test_a_batch_row_repeating_an_earlier_row_is_its_duplicate(signpost: Signpost) -> None:
    key = await school_key(signpost)
    row = school_rows(1)[0]
    answer = (await post_json(signpost, key, [row, row])).json()
    first, second = answer["accepted"]
    assert second["duplicate_of"] == first["referral_id"]
    assert await outbox_count(signpost) == 1


async def test_a_batch_row_changing_an_earlier_row_supersedes_it(signpost: Signpost) -> None:
    key = await school_key(signpost)
    row = school_rows(1)[0]
    changed = copy.deepcopy(row)
    changed["narrative"] = row.get("narrative", "") + " Seen again on Friday."
    answer = await post_json(signpost, key, [row, changed])
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["accepted"]
    assert second["supersedes"] == first["referral_id"] and second["duplicate_of"] is None
    assert await outbox_count(signpost) == 2


def csv_with_booleans(immediate_risk: str, permanent: str) -> bytes:
    header = CSV_HEADER.rstrip("\n") + ",immediate_risk,school.exclusions.permanent\n"
    return (
        header + csv_row("CPOMS-BOOL").rstrip("\n") + f",{immediate_risk},{permanent}\n"
    ).encode()


async def test_csv_boolean_columns_take_true_and_false_in_any_case(signpost: Signpost) -> None:
    key = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=csv_with_booleans("TRUE", "False"),
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    [accepted] = r.json()["accepted"]
    ctx = signpost.app.state.runtimes["intake"].ctx
    from services.intake.models import Report

    async with ctx.db.session() as session:
        stored = await session.get(Report, accepted["referral_id"])
    assert stored is not None
    assert stored.payload["immediate_risk"] is True
    assert stored.payload["school"]["exclusions"]["permanent"] is False


@pytest.mark.parametrize("cell", ["yes", "1", "0", "y", "on", "t"])
async def test_a_csv_boolean_that_is_not_true_or_false_is_an_error_naming_its_column(
    signpost: Signpost, cell: str
) -> None:
    key = await school_key(signpost)
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=csv_with_booleans(cell, "false"),
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == []
    [error] = r.json()["errors"][0]["errors"]
    assert (error["field"], error["type"]) == ("immediate_risk", "bool_type")
    assert await outbox_count(signpost) == 0


async def test_a_json_batch_row_with_a_string_boolean_is_that_rows_error(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost)
    rows = school_rows(2)
    rows[1]["immediate_risk"] = "yes"
    answer = (await post_json(signpost, key, rows)).json()
    assert [a["row"] for a in answer["accepted"]] == [0]
    assert answer["errors"][0]["errors"][0]["pointer"] == "/1/immediate_risk"
