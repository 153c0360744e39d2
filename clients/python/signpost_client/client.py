"""`SignpostClient` (synchronous, on `httpx.Client`) and `AsyncSignpostClient` (on
`httpx.AsyncClient`): one method per API operation, each answering a typed model.

Both clients build each request the same way (`_Calls`), so they differ only in how
they send it. Every error answer raises a `SignpostError` subclass (see `errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import httpx
from standardwebhooks import Webhook

from signpost_client.errors import WebhookRejected, error_from
from signpost_client.models import (
    BatchResult,
    Journey,
    Notice,
    Receipt,
    Referral,
    ReportSummary,
    RoutingRecord,
    Subscription,
    Vocabulary,
    parse,
    parse_list,
)

__version__ = "1.0.0"

T = TypeVar("T")

USER_AGENT = f"signpost-client/{__version__}"
CSV = "text/csv"
# The events a webhook subscription may ask for.
ROUTED = "org.signpost.referral.routed.v1"
STATUS = "org.signpost.referral.status.v1"
PATHWAY = "org.signpost.referral.pathway.v1"
ENCOMPASS_NOTICE = "org.signpost.encompass.notice.v1"
ENCOMPASS_ALERT = "org.signpost.encompass.alert.v1"

Params = list[tuple[str, str]]
When = str | date | datetime


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request, and how its successful answer becomes a model."""

    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    params: Params = field(default_factory=list)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _when(value: When) -> str:
    """A date (midnight UTC) or an aware date and time, as the list filters take it."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("a datetime filter needs its timezone (an aware datetime)")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _idempotency(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Idempotency-Key": key}


def _receipt(response: httpx.Response) -> Receipt:
    body = response.json()
    replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
    return parse(Receipt, {**body, "replayed": replayed})


def _vocabulary(response: httpx.Response) -> Vocabulary:
    return parse(Vocabulary, {**response.json(), "etag": response.headers.get("ETag")})


def _one(cls: type[T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(cls, response.json())


def _many(cls: type[T]) -> Callable[[httpx.Response], list[T]]:
    return lambda response: parse_list(cls, response.json())


def next_page(response: httpx.Response) -> str | None:
    """The `Link: <…>; rel="next"` target of a list page, or None on the last page."""
    link = response.links.get("next")
    return None if link is None else link.get("url")


class _Calls:
    """The requests of the API, built once for both clients."""

    @staticmethod
    def submit_report(report: Mapping[str, Any], idempotency_key: str | None) -> _Call[Receipt]:
        return _Call(
            "POST",
            "/v1/reports",
            _receipt,
            json=dict(report),
            headers=_idempotency(idempotency_key),
        )

    @staticmethod
    def report(referral_id: str) -> _Call[Journey]:
        return _Call("GET", f"/v1/reports/{referral_id}", _one(Journey))

    @staticmethod
    def reports(
        status: str | None,
        received_from: When | None,
        received_to: When | None,
        reference: str | None,
        limit: int,
    ) -> _Call[list[ReportSummary]]:
        params: Params = [("limit", str(limit))]
        if status is not None:
            params.append(("status", status))
        if received_from is not None:
            params.append(("received_from", _when(received_from)))
        if received_to is not None:
            params.append(("received_to", _when(received_to)))
        if reference is not None:
            params.append(("reference", reference))
        return _Call("GET", "/v1/reports", _many(ReportSummary), params=params)

    @staticmethod
    def following(url: str, page: _Call[list[T]]) -> _Call[list[T]]:
        # The Link target carries the cursor (or the poll's `after`), the limit and the
        # filters; the rows decode as the first page's did.
        return _Call("GET", url, page.decode)

    @staticmethod
    def submit_batch_csv(data: bytes, idempotency_key: str | None) -> _Call[BatchResult]:
        headers = {"Content-Type": CSV, **_idempotency(idempotency_key)}
        return _Call("POST", "/v1/reports/batch", _one(BatchResult), content=data, headers=headers)

    @staticmethod
    def submit_batch(
        reports: Sequence[Mapping[str, Any]], idempotency_key: str | None
    ) -> _Call[BatchResult]:
        return _Call(
            "POST",
            "/v1/reports/batch",
            _one(BatchResult),
            json=[dict(report) for report in reports],
            headers=_idempotency(idempotency_key),
        )

    @staticmethod
    def vocabulary() -> _Call[Vocabulary]:
        return _Call("GET", "/v1/vocabulary", _vocabulary)

    @staticmethod
    def notices(
        status: str | None, referral_id: str | None, after: int | None, limit: int
    ) -> _Call[list[Notice]]:
        params: Params = [("limit", str(limit))]
        if status is not None:
            params.append(("status", status))
        if referral_id is not None:
            params.append(("referral_id", referral_id))
        if after is not None:
            params.append(("after", str(after)))
        return _Call("GET", "/v1/encompass/notices", _many(Notice), params=params)

    @staticmethod
    def acknowledge_notice(notice_id: str) -> _Call[Notice]:
        return _Call("POST", f"/v1/encompass/notices/{notice_id}/acknowledge", _one(Notice))

    @staticmethod
    def referrals(
        status: str | Sequence[str] | None,
        assigned_to: str | None,
        reason_code: str | None,
        limit: int,
    ) -> _Call[list[Referral]]:
        statuses = [status] if isinstance(status, str) else list(status or [])
        params: Params = [("status", s) for s in statuses]
        params.append(("limit", str(limit)))
        if assigned_to is not None:
            params.append(("assigned_to", assigned_to))
        if reason_code is not None:
            params.append(("reason_code", reason_code))
        return _Call("GET", "/v1/referrals", _many(Referral), params=params)

    @staticmethod
    def routing(referral_id: str) -> _Call[RoutingRecord]:
        return _Call("GET", f"/v1/referrals/{referral_id}/routing", _one(RoutingRecord))

    @staticmethod
    def step(referral_id: str, action: str, body: dict[str, Any] | None) -> _Call[RoutingRecord]:
        return _Call(
            "POST", f"/v1/referrals/{referral_id}/{action}", _one(RoutingRecord), json=body
        )

    @staticmethod
    def decline(referral_id: str, reason_code: str, note: str | None) -> _Call[RoutingRecord]:
        body: dict[str, Any] = {"reason_code": reason_code}
        if note is not None:
            body["note"] = note
        return _Calls.step(referral_id, "decline", body)

    @staticmethod
    def close(
        referral_id: str, outcome: str, outcome_code: str, note: str | None
    ) -> _Call[RoutingRecord]:
        body: dict[str, Any] = {"outcome": outcome, "outcome_code": outcome_code}
        if note is not None:
            body["note"] = note
        return _Calls.step(referral_id, "close", body)

    @staticmethod
    def subscribe(
        url: str,
        event_types: Sequence[str],
        event_filter: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> _Call[Subscription]:
        body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
        if event_filter is not None:
            body["filter"] = dict(event_filter)
        if headers is not None:
            body["headers"] = dict(headers)
        return _Call("POST", "/v1/subscriptions", _one(Subscription), json=body)


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT}


def _request(http: httpx.Client | httpx.AsyncClient, call: _Call[Any]) -> httpx.Request:
    return http.build_request(
        call.method,
        call.path,
        params=tuple(call.params) if call.params else None,
        json=call.json,
        content=call.content,
        headers=call.headers or None,
    )


def _answer(response: httpx.Response, call: _Call[T]) -> T:
    if response.is_error:
        raise error_from(response)
    return call.decode(response)


class SignpostClient:
    """Signpost's API with one key, synchronously. Use it as a context manager (or call
    `disconnect`; `close` is the referral step) so its connections are released.

        with SignpostClient("https://signpost.example", key) as signpost:
            receipt = signpost.submit_report(report, idempotency_key=record_id)
    """

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(key), transport=transport, timeout=timeout
        )

    def __enter__(self) -> SignpostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Release the connections (`close` closes a referral)."""
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        return _answer(self._http.send(_request(self._http, call)), call)

    # ------------------------------------------------------------ reports

    def submit_report(
        self, report: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Receipt:
        """Submit one report (`POST /v1/reports`); with `idempotency_key`, a retry of
        the same body replays the first answer (`Receipt.replayed`)."""
        return self._send(_Calls.submit_report(report, idempotency_key))

    def report(self, referral_id: str) -> Journey:
        """A report of your organisation's and its journey (`GET /v1/reports/{id}`)."""
        return self._send(_Calls.report(referral_id))

    def reports(
        self,
        status: str | None = None,
        received_from: When | None = None,
        received_to: When | None = None,
        reference: str | None = None,
        limit: int = 100,
    ) -> Iterator[ReportSummary]:
        """Every report of your organisation's that matches, newest first, following the
        `Link: rel="next"` pages (`limit` per page, 1 to 200) until the last."""
        call = _Calls.reports(status, received_from, received_to, reference, limit)
        while True:
            response = self._http.send(_request(self._http, call))
            yield from _answer(response, call)
            url = next_page(response)
            if url is None:
                return
            call = _Calls.following(url, call)

    def _every(self, call: _Call[list[T]]) -> list[T]:
        """Every row of a list, following its `Link: rel="next"` pages to the last."""
        rows: list[T] = []
        while True:
            response = self._http.send(_request(self._http, call))
            page: list[T] = _answer(response, call)
            rows.extend(page)
            url = next_page(response)
            if url is None:
                return rows
            call = _Calls.following(url, call)

    def submit_batch_csv(self, data: bytes, *, idempotency_key: str | None = None) -> BatchResult:
        """Submit a CSV file of reports (`POST /v1/reports/batch`, `text/csv`): every row
        is answered, accepted or rejected with its `file_row`."""
        return self._send(_Calls.submit_batch_csv(data, idempotency_key))

    def submit_batch(
        self, reports: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> BatchResult:
        """Submit a JSON array of reports (`POST /v1/reports/batch`)."""
        return self._send(_Calls.submit_batch(reports, idempotency_key))

    def vocabulary(self) -> Vocabulary:
        """The published concern vocabulary (`GET /v1/vocabulary`)."""
        return self._send(_Calls.vocabulary())

    # ------------------------------------------------------------ Operation Encompass

    def notices(
        self,
        status: str | None = None,
        referral_id: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[Notice]:
        """Every Operation Encompass notice addressed to you that matches (`GET
        /v1/encompass/notices`, following its pages, `limit` a page, 1 to 500): newest
        first, or with `after` (a notice's `cursor`) those recorded since, oldest first."""
        return self._every(_Calls.notices(status, referral_id, after, limit))

    def acknowledge_notice(self, notice_id: str) -> Notice:
        """Say your Designated Safeguarding Lead has the notice."""
        return self._send(_Calls.acknowledge_notice(notice_id))

    # ------------------------------------------------------------ referrals (agencies)

    def referrals(
        self,
        status: str | Sequence[str] | None = None,
        assigned_to: str | None = None,
        *,
        reason_code: str | None = None,
        limit: int = 100,
    ) -> list[Referral]:
        """Every referral addressed to your organisation that matches (the hub: every
        referral), newest first, following the pages (`limit` a page, 1 to 500)."""
        return self._every(_Calls.referrals(status, assigned_to, reason_code, limit))

    def routing(self, referral_id: str) -> RoutingRecord:
        """Where a referral went and why (`GET /v1/referrals/{id}/routing`)."""
        return self._send(_Calls.routing(referral_id))

    def accept(self, referral_id: str) -> RoutingRecord:
        """Accept a referral addressed to you."""
        return self._send(_Calls.step(referral_id, "accept", None))

    def decline(self, referral_id: str, reason_code: str, note: str | None = None) -> RoutingRecord:
        """Decline a referral with a reason code (`no_capacity`, `not_eligible`,
        `outside_catchment`, `already_supported`, `not_appropriate`)."""
        return self._send(_Calls.decline(referral_id, reason_code, note))

    def start(self, referral_id: str) -> RoutingRecord:
        """Start working with the family (from accepted)."""
        return self._send(_Calls.step(referral_id, "start", None))

    def close(
        self, referral_id: str, outcome: str, outcome_code: str, note: str | None = None
    ) -> RoutingRecord:
        """Close a referral (from accepted or in-progress) as `completed` or `failed`,
        with an outcome code (`got_help`, `no_further_action`, `unable_to_contact`, …)."""
        return self._send(_Calls.close(referral_id, outcome, outcome_code, note))

    # ------------------------------------------------------------ webhooks

    def subscribe(
        self,
        url: str,
        event_types: Sequence[str],
        *,
        filter: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Subscription:
        """Subscribe your organisation to events by webhook; the answer's `secret` is
        shown this once."""
        return self._send(_Calls.subscribe(url, event_types, filter, headers))


class AsyncSignpostClient:
    """Signpost's API with one key, on asyncio. Use it as an async context manager (or
    await `aclose`)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(key), transport=transport, timeout=timeout
        )

    async def __aenter__(self) -> AsyncSignpostClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call[T]) -> T:
        return _answer(await self._http.send(_request(self._http, call)), call)

    async def submit_report(
        self, report: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Receipt:
        """As `SignpostClient.submit_report`."""
        return await self._send(_Calls.submit_report(report, idempotency_key))

    async def report(self, referral_id: str) -> Journey:
        """As `SignpostClient.report`."""
        return await self._send(_Calls.report(referral_id))

    async def reports(
        self,
        status: str | None = None,
        received_from: When | None = None,
        received_to: When | None = None,
        reference: str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[ReportSummary]:
        """As `SignpostClient.reports`: `async for summary in client.reports(...)`."""
        call = _Calls.reports(status, received_from, received_to, reference, limit)
        while True:
            response = await self._http.send(_request(self._http, call))
            for summary in _answer(response, call):
                yield summary
            url = next_page(response)
            if url is None:
                return
            call = _Calls.following(url, call)

    async def _every(self, call: _Call[list[T]]) -> list[T]:
        """As `SignpostClient._every`."""
        rows: list[T] = []
        while True:
            response = await self._http.send(_request(self._http, call))
            page: list[T] = _answer(response, call)
            rows.extend(page)
            url = next_page(response)
            if url is None:
                return rows
            call = _Calls.following(url, call)

    async def submit_batch_csv(
        self, data: bytes, *, idempotency_key: str | None = None
    ) -> BatchResult:
        """As `SignpostClient.submit_batch_csv`."""
        return await self._send(_Calls.submit_batch_csv(data, idempotency_key))

    async def submit_batch(
        self, reports: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> BatchResult:
        """As `SignpostClient.submit_batch`."""
        return await self._send(_Calls.submit_batch(reports, idempotency_key))

    async def vocabulary(self) -> Vocabulary:
        """As `SignpostClient.vocabulary`."""
        return await self._send(_Calls.vocabulary())

    async def notices(
        self,
        status: str | None = None,
        referral_id: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[Notice]:
        """As `SignpostClient.notices`."""
        return await self._every(_Calls.notices(status, referral_id, after, limit))

    async def acknowledge_notice(self, notice_id: str) -> Notice:
        """As `SignpostClient.acknowledge_notice`."""
        return await self._send(_Calls.acknowledge_notice(notice_id))

    async def referrals(
        self,
        status: str | Sequence[str] | None = None,
        assigned_to: str | None = None,
        *,
        reason_code: str | None = None,
        limit: int = 100,
    ) -> list[Referral]:
        """As `SignpostClient.referrals`."""
        return await self._every(_Calls.referrals(status, assigned_to, reason_code, limit))

    async def routing(self, referral_id: str) -> RoutingRecord:
        """As `SignpostClient.routing`."""
        return await self._send(_Calls.routing(referral_id))

    async def accept(self, referral_id: str) -> RoutingRecord:
        """As `SignpostClient.accept`."""
        return await self._send(_Calls.step(referral_id, "accept", None))

    async def decline(
        self, referral_id: str, reason_code: str, note: str | None = None
    ) -> RoutingRecord:
        """As `SignpostClient.decline`."""
        return await self._send(_Calls.decline(referral_id, reason_code, note))

    async def start(self, referral_id: str) -> RoutingRecord:
        """As `SignpostClient.start`."""
        return await self._send(_Calls.step(referral_id, "start", None))

    async def close(
        self, referral_id: str, outcome: str, outcome_code: str, note: str | None = None
    ) -> RoutingRecord:
        """As `SignpostClient.close`."""
        return await self._send(_Calls.close(referral_id, outcome, outcome_code, note))

    async def subscribe(
        self,
        url: str,
        event_types: Sequence[str],
        *,
        filter: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Subscription:
        """As `SignpostClient.subscribe`."""
        return await self._send(_Calls.subscribe(url, event_types, filter, headers))


def verify_webhook(secret: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The delivery's JSON body (`{type, timestamp, data}`) once its Standard Webhooks
    signature verifies with `secret` (the subscription's `whsec_…`; during a rotation
    either secret verifies); `WebhookRejected` if the signature, the timestamp (more than
    five minutes off) or a header is wrong. Pass the body exactly as received."""
    try:
        payload = Webhook(secret).verify(body, dict(headers.items()))
    except Exception as exc:  # the library's own errors, and malformed headers
        raise WebhookRejected(str(exc) or type(exc).__name__) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("the body is not a JSON object")
    return payload
