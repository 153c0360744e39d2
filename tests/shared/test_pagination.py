"""Cursor pagination: an opaque cursor that only round-trips what a list gave, pages in a
stable order with no repeats or gaps (rows sharing a time included), a `Link` to the next
page with the same filters, and the time range lists filter by."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qsl

import pytest
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    InvalidCursor,
    Page,
    PageRequest,
    Position,
    decode_cursor,
    encode_cursor,
    instant,
    link_to,
    newest_first,
    next_link,
    oldest_first,
    page_of,
    page_query,
    page_request,
    time_range,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
FIRST = Position(T0, "ref_0001")


def named(refused: pytest.ExceptionInfo[RequestValidationError]) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in refused.value.errors()]


# ------------------------------------------------------------------ the cursor


@given(
    at=st.datetimes(timezones=st.just(UTC), min_value=datetime(1, 1, 2)),
    id_=st.from_regex(r"[A-Za-z0-9_.:-]{1,100}", fullmatch=True),
)
def test_a_cursor_gives_back_exactly_the_position_it_was_made_from(at: datetime, id_: str) -> None:
    cursor = encode_cursor(Position(at, id_))

    assert decode_cursor(cursor) == Position(at, id_)
    assert len(cursor) <= MAX_CURSOR_LENGTH
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_cursor_holds_the_time_in_utc_to_the_microsecond() -> None:
    local = datetime(2026, 6, 1, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))

    position = decode_cursor(encode_cursor(Position(local, "ref_1")))

    assert position.at == local and position.at.utcoffset() == timedelta(0)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _pair(*items: object) -> str:
    """A cursor's form around other contents."""
    return _b64(json.dumps(list(items), separators=(",", ":")).encode())


GOOD = encode_cursor(FIRST)


def test_a_cursor_is_base64url_of_the_compact_json_pair_without_padding() -> None:
    assert GOOD == _pair("2026-11-30T09:00:00.000000+00:00", "ref_0001")
    assert "=" not in GOOD


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        GOOD + "=",  # padded
        GOOD[:-1],  # cut short
        GOOD + "AA",
        "a" * (MAX_CURSOR_LENGTH + 1),
        _b64(b"\xff\xfe"),  # not UTF-8
        _b64(b"not json"),
        _b64(b"{}"),
        _b64(b"[]"),
        _pair("2026-11-30T09:00:00.000000+00:00"),
        _pair("2026-11-30T09:00:00.000000+00:00", "ref_1", "more"),
        _pair("2026-11-30T09:00:00.000000+00:00", 7),
        _pair("2026-11-30T09:00:00.000000+00:00", "ref 1"),
        _pair("2026-11-30T09:00:00.000000+00:00", "x" * 101),
        _pair("2026-11-30T09:00:00.000000", "ref_1"),  # no offset
        _pair("tomorrow", "ref_1"),
        _pair(1, 2),
        # A real position in another form than a list gives: never accepted either.
        _pair("2026-11-30T10:00:00.000000+01:00", "ref_0001"),
        _pair("2026-11-30T09:00:00+00:00", "ref_0001"),
        _b64(json.dumps(["2026-11-30T09:00:00.000000+00:00", "ref_0001"]).encode()),  # spaced
        _b64(b"[" * 120 + b"]" * 20),
    ],
)
def test_a_cursor_no_list_gave_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_a_route_refuses_a_bad_cursor_with_a_422_naming_cursor() -> None:
    with pytest.raises(RequestValidationError) as refused:
        page_request(cursor="not-a-cursor", limit=10)

    assert named(refused) == ["query.cursor"]
    assert refused.value.errors()[0]["type"] == "invalid_cursor"


def test_a_route_reads_its_page_from_the_cursor_and_limit() -> None:
    assert page_request() == PageRequest(limit=DEFAULT_LIMIT, after=None)
    assert page_request(cursor=GOOD, limit=3) == PageRequest(limit=3, after=FIRST)


def test_a_list_that_allowed_more_before_cursors_keeps_its_own_default_and_maximum() -> None:
    app = FastAPI()

    @app.get("/older")
    def older(page: Annotated[PageRequest, Depends(page_query(default=100, maximum=500))]) -> int:
        return page.limit

    client = TestClient(app)

    assert client.get("/older").json() == 100
    assert client.get("/older", params={"limit": 500}).json() == 500
    refused = client.get("/older", params={"limit": 501})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "limit"]


# ------------------------------------------------------------------ pages


def test_a_page_read_one_row_over_says_where_the_next_starts() -> None:
    rows = [Position(T0, f"ref_{n}") for n in (5, 4, 3)]

    more = page_of(rows, 2, lambda r: r)
    last = page_of(rows, 3, lambda r: r)
    none: list[Position] = []
    empty = page_of(none, 3, lambda r: r)

    assert (more.items, more.next) == (rows[:2], rows[1])
    assert (last.items, last.next) == (rows, None)
    assert (empty.items, empty.next) == ([], None)
    assert more.map(lambda r: r.id) == Page(["ref_5", "ref_4"], rows[1])


@pytest.fixture
def table() -> Table:
    return Table(
        "item",
        MetaData(),
        Column("id", String(40), primary_key=True),
        Column("at", UTCDateTime(), nullable=False),
    )


@pytest.mark.parametrize(("order", "newest"), [(newest_first, True), (oldest_first, False)])
def test_pages_in_the_stable_order_list_every_row_once_when_many_share_a_time(
    table: Table, order: Any, newest: bool
) -> None:
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    times = [T0, T0, T0 + timedelta(microseconds=1), T0, T0 - timedelta(days=1), T0]
    rows = [{"id": f"ref_{n:02d}", "at": at} for n, at in enumerate(times * 3)]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    expected = [r["id"] for r in sorted(rows, key=lambda r: (r["at"], r["id"]), reverse=newest)]

    for limit in (1, 2, 4, 7, len(rows), len(rows) + 1):
        seen: list[str] = []
        after: Position | None = None
        with engine.connect() as conn:
            while True:
                request = PageRequest(limit=limit, after=after)
                query = order(select(table), table.c.at, table.c.id, request)
                page = page_of(conn.execute(query).all(), limit, lambda r: Position(r.at, r.id))
                seen += [r.id for r in page.items]
                if page.next is None:
                    break
                # What the caller gets back is the cursor, not the position.
                after = decode_cursor(encode_cursor(page.next))
        assert seen == expected, limit


# ------------------------------------------------------------------ the Link header


def test_the_link_carries_the_cursor_the_limit_and_the_same_filters() -> None:
    query = [
        ("status", "routed"),
        ("cursor", "old"),
        ("limit", "9"),
        ("reference", "A&B =<x>"),
        ("reference", "second"),
    ]

    link = next_link("/v1/reports", query, Page(["x"], FIRST), 2)

    assert link is not None
    target, rel = link.split("; ")
    assert rel == 'rel="next"'
    assert target.startswith("</v1/reports?cursor=") and target.endswith(">")
    params = parse_qsl(target[1:-1].split("?", 1)[1])
    assert params == [
        ("cursor", encode_cursor(FIRST)),
        ("limit", "2"),
        ("status", "routed"),
        ("reference", "A&B =<x>"),
        ("reference", "second"),
    ]
    assert "<x>" not in target and " " not in target


def test_a_link_may_name_its_next_page_by_another_parameter_keeping_the_filters() -> None:
    query = [("after", "7"), ("status", "pending"), ("limit", "9")]

    link = link_to("/v1/encompass/notices", query, {"after": "12", "limit": "9"})

    assert link == '</v1/encompass/notices?after=12&limit=9&status=pending>; rel="next"'


def test_the_last_page_has_no_link() -> None:
    assert next_link("/v1/reports", [("status", "routed")], Page(["x"]), 2) is None


# ------------------------------------------------------------------ time ranges


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2026-11-30", T0.replace(hour=0)),
        ("2026-11-30T09:00Z", T0),
        ("2026-11-30T09:00:00z", T0),
        ("2026-11-30T10:00:00.000001+01:00", T0 + timedelta(microseconds=1)),
        ("2026-11-30t04:00:00-05:00", T0),
    ],
)
def test_an_instant_is_a_date_or_a_date_and_time_with_its_offset_in_utc(
    text: str, at: datetime
) -> None:
    found = instant("received_from", text)

    assert found == at and found.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30T09:00:00",  # which zone? not ours to guess
        "2026-02-30",
        "30/11/2026",
        "20261130",
        "2026-W48-1",
        "yesterday",
        "",
        "9999-12-31T23:00:00-05:00",  # past the last representable time in UTC
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_anything_else_is_a_422_naming_the_parameter(text: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        instant("received_to", text)

    assert named(refused) == ["query.received_to"]


def test_a_range_runs_from_its_start_inclusive_to_its_end_exclusive_either_open() -> None:
    assert time_range(("from", None), ("to", None)) == (None, None)
    assert time_range(("from", "2026-11-30"), ("to", None)) == (T0.replace(hour=0), None)
    assert time_range(("from", "2026-11-30"), ("to", "2026-11-30")) == (
        T0.replace(hour=0),
        T0.replace(hour=0),
    )


def test_a_range_that_ends_before_it_starts_is_a_422_naming_its_end() -> None:
    with pytest.raises(RequestValidationError) as refused:
        time_range(("received_from", "2026-11-30T09:00Z"), ("received_to", "2026-11-30"))

    assert named(refused) == ["query.received_to"]
    assert refused.value.errors()[0]["type"] == "range_reversed"
