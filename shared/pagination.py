"""Cursor pagination, the same on every list endpoint, and the time range lists filter by.

A list is read newest first, in a stable order: by its time (a report's `received_at`)
and then by its id, so rows that share a time still have one order and a page never
repeats or skips one. Each page ends at a `Position` (the last row's time and id); the
next page is the rows after it in that order (keyset pagination: no offsets, so rows
added meanwhile neither shift nor repeat what a caller already has).

The caller sees the position only as an opaque `cursor`: base64url (no padding) of the
position as JSON. A cursor comes back from outside, so it is never trusted blindly: it
is decoded under bounds and accepted only in exactly the form `encode_cursor` gives
(anything else is a 422 naming `cursor`). It holds nothing secret (a time and an id of
the caller's own list) and every list still applies its own scope to the rows after it,
so a cursor forged or taken from another list shows nothing more.

`limit` is 1 to `MAX_LIMIT` (default `DEFAULT_LIMIT`); a list that had a larger
`limit` before it had cursors keeps its own default and maximum (`page_query`), so no
caller's request stops working. When there are more rows, the answer's `Link` header
points at the next page (`rel="next"`) with the same filters; the last page has none.
A list read oldest first (deliveries, subscriptions) pages the same way in the other
direction (`oldest_first`).

Route helpers (`PageQuery`, `page_query`, `next_link`, `link_to`, `invalid_query`,
`time_range`) are FastAPI's; the rest (`Position`, `Page`, `page_of`, `newest_first`,
`oldest_first`) is plain Python and SQLAlchemy
for the use cases and queries below the API.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, Select, literal, tuple_

from shared.problems import PROBLEM_JSON

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far more than any cursor `encode_cursor` makes (about 100 characters).
MAX_CURSOR_LENGTH = 200
CURSOR = "cursor"
LIMIT = "limit"

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# The ids a position may hold (a referral's `ref_<hex>`, a notice's, a delivery's).
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")

T = TypeVar("T")
U = TypeVar("U")
Q = TypeVar("Q", bound=Select[Any])


@dataclass(frozen=True)
class Position:
    """Where a page ends: its last row's time and id (its sort key)."""

    at: datetime
    id: str


class InvalidCursor(ValueError):
    """A cursor no list gave."""


def encode_cursor(position: Position) -> str:
    """The opaque cursor of a position: base64url, without padding, of
    `["<time in UTC, to the microsecond>", "<id>"]`."""
    at = position.at.astimezone(UTC).isoformat(timespec="microseconds")
    raw = json.dumps([at, position.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor holds; InvalidCursor unless it is exactly one that
    `encode_cursor` gives (bounded, base64url, the JSON pair of an aware time and an
    id of the expected form)."""
    if not 0 < len(cursor) <= MAX_CURSOR_LENGTH or not _BASE64URL.fullmatch(cursor):
        raise InvalidCursor("not base64url of the expected length")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at_text, id_ = decoded
        if not isinstance(at_text, str) or not isinstance(id_, str) or not _ID.fullmatch(id_):
            raise InvalidCursor("not a time and an id")
        at = datetime.fromisoformat(at_text)
        if at.utcoffset() is None:
            raise InvalidCursor("a time without its offset")
        position = Position(at=at.astimezone(UTC), id=id_)
        canonical = encode_cursor(position)
    except InvalidCursor:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error) as exc:
        raise InvalidCursor("not a position") from exc
    if canonical != cursor:
        raise InvalidCursor("not in the form a list gives")
    return position


@dataclass(frozen=True)
class PageRequest:
    """Which page a caller asks for: the rows after `after` (from the start when None),
    at most `limit` of them."""

    limit: int = DEFAULT_LIMIT
    after: Position | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and where the next starts (None: this is the last)."""

    items: list[T]
    next: Position | None = None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.next)


def page_of(rows: Sequence[T], limit: int, position: Callable[[T], Position]) -> Page[T]:
    """A page from the rows a query read with `newest_first` (up to `limit` + 1): the
    first `limit`, and, when there was one more, the position of the last of them."""
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items, position(items[-1]) if more else None)


def newest_first(
    query: Q, at: ColumnElement[datetime], id_: ColumnElement[str], page: PageRequest
) -> Q:
    """`query` in the stable order (newest `at` first, then the greatest `id_`), from
    just after `page.after`, reading one row more than the page so `page_of` can tell
    whether another follows. With an index on (its filters..., `at`, `id_`) this is one
    index range scan however deep the page."""
    if page.after is not None:
        after = tuple_(literal(page.after.at, at.type), literal(page.after.id, id_.type))
        query = query.where(tuple_(at, id_) < after)
    return query.order_by(at.desc(), id_.desc()).limit(page.limit + 1)


def oldest_first(
    query: Q, at: ColumnElement[datetime], id_: ColumnElement[str], page: PageRequest
) -> Q:
    """As `newest_first`, the other way: the oldest `at` first, then the least `id_`,
    from just after `page.after`."""
    if page.after is not None:
        after = tuple_(literal(page.after.at, at.type), literal(page.after.id, id_.type))
        query = query.where(tuple_(at, id_) > after)
    return query.order_by(at.asc(), id_.asc()).limit(page.limit + 1)


# ------------------------------------------------------------------ at the API


def invalid_query(name: str, message: str, kind: str) -> RequestValidationError:
    """A 422 (the app's problem handler) naming the query parameter `name`, as FastAPI's
    own validation names it."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": kind}])


def _page_request(cursor: str | None, limit: int) -> PageRequest:
    if cursor is None:
        return PageRequest(limit=limit)
    try:
        return PageRequest(limit=limit, after=decode_cursor(cursor))
    except InvalidCursor:
        raise invalid_query(
            CURSOR,
            "not a cursor this list gave: use the one from the previous page's Link "
            "header, or leave it out to start from the first page",
            "invalid_cursor",
        ) from None


_CURSOR_DESCRIPTION = (
    "Where to carry on: the `cursor` from the previous page's `Link` header (opaque; "
    "any other value is a 422 naming `cursor`). Without it, the first page."
)


def page_query(
    default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT
) -> Callable[..., PageRequest]:
    """The dependency that reads a list route's page (`cursor`, and `limit` from 1 to
    `maximum`, `default` when not given): a 422 naming `cursor` or `limit` when either
    is not one it could be."""

    def page_request(cursor: str | None = None, limit: int = default) -> PageRequest:
        return _page_request(cursor, limit)

    # Real objects, not the strings `from __future__ import annotations` leaves (which
    # could not see `maximum`): FastAPI reads the parameters from these.
    page_request.__annotations__ = {
        "cursor": Annotated[str | None, Query(description=_CURSOR_DESCRIPTION)],
        "limit": Annotated[
            int, Query(ge=1, le=maximum, description=f"How many to list, 1 to {maximum}.")
        ],
        "return": PageRequest,
    }
    return page_request


page_request = page_query()

PageQuery = Annotated[PageRequest, Depends(page_request)]

# What a list route's OpenAPI says of its `Link` header.
LINK_HEADER: dict[str, Any] = {
    "Link": {
        "description": "The next page, when there is one: `<path?cursor=…&limit=…&(the same "
        'filters)>; rel="next"` (RFC 8288). Absent on the last page.',
        "schema": {"type": "string"},
    }
}


def pages_text(default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> str:
    """What a list route's description says of its pages."""
    return (
        f"**Pages.** At most `limit` (1 to {maximum}, default {default}) a page. When there "
        'are more, the `Link` header gives the next page (`rel="next"`), with an opaque '
        "`cursor`, the same `limit` and the same filters; the last page has no `Link`. The "
        "order is stable (rows that share a time are ordered by their id), so following "
        "the links lists every row once."
    )


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Each parameter that is not one it could be.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "field": {"type": "string", "description": "The parameter's name."},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def list_responses(invalid: str) -> dict[int | str, dict[str, Any]]:
    """A list route's OpenAPI `responses`: its page with the `Link` header, and the 422
    (problem+json) of a query parameter that is not one it could be (`invalid` says
    which)."""
    return {
        200: {"headers": LINK_HEADER},
        422: {
            "description": f"{invalid}: each error names its parameter",
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        },
    }


def set_link(response: Response, link: str | None) -> None:
    """Give the answer its `Link` to the next page, when there is one."""
    if link is not None:
        response.headers["Link"] = link


def link_next(request: Request, response: Response, page: Page[Any], limit: int) -> None:
    """Give a list route's answer the `Link` to the page after `page`, with the
    request's filters, when there is one."""
    set_link(response, next_link(request.url.path, request.query_params.multi_items(), page, limit))


def next_link(
    path: str, query: Iterable[tuple[str, str]], page: Page[Any], limit: int
) -> str | None:
    """The `Link` header of a page: `rel="next"` to the page after it, with the request's
    other query parameters (its filters) as they were; None on the last page."""
    if page.next is None:
        return None
    return link_to(path, query, {CURSOR: encode_cursor(page.next), LIMIT: str(limit)})


def link_to(path: str, query: Iterable[tuple[str, str]], given: dict[str, str]) -> str:
    """A `rel="next"` `Link` to `path` with `given` parameters first and the request's
    other query parameters (its filters) as they were: for a list whose next page is
    named otherwise than by `cursor` (the Encompass poll's `after`)."""
    kept = [(name, value) for name, value in query if name not in given]
    params = [*given.items(), *kept]
    return f'<{path}?{urlencode(params)}>; rel="next"'


# ------------------------------------------------------------------ time ranges

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def instant(name: str, text: str) -> datetime:
    """A query parameter's date (`2026-11-30`: its start, midnight UTC) or date and time
    with its offset (`2026-11-30T09:00:00Z`, `…+01:00`), in UTC; a 422 naming `name`
    for anything else, a time without an offset included (which zone it meant is not
    ours to guess)."""
    given = text.strip().upper()
    try:
        if _DATE.fullmatch(given):
            return datetime.combine(date.fromisoformat(given), time(0), tzinfo=UTC)
        if _DATETIME.fullmatch(given):
            at = datetime.fromisoformat(given)
            if at.utcoffset() is None:
                raise invalid_query(
                    name,
                    "a date and time needs its offset from UTC (Z or ±HH:MM), or give a date",
                    "datetime_offset_missing",
                )
            return at.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise invalid_query(
        name,
        "must be a date (YYYY-MM-DD) or a date and time with its offset "
        "(YYYY-MM-DDTHH:MM[:SS[.ffffff]]Z or ±HH:MM)",
        "date_or_datetime",
    )


def time_range(
    start: tuple[str, str | None], end: tuple[str, str | None]
) -> tuple[datetime | None, datetime | None]:
    """The range two query parameters give, each `(name, value)`: from `start`
    (inclusive) to `end` (exclusive), either open; a 422 naming the parameter that is
    not a date or date and time, or naming `end` when it is before `start`."""
    start_name, start_text = start
    end_name, end_text = end
    since = None if start_text is None else instant(start_name, start_text)
    until = None if end_text is None else instant(end_name, end_text)
    if since is not None and until is not None and until < since:
        raise invalid_query(end_name, f"must not be before {start_name}", "range_reversed")
    return since, until
