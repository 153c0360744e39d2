"""Signpost's errors as exceptions. Every error answer is an RFC 9457
`application/problem+json` document; `SignpostError` carries it, and a subclass names
the broad case a caller handles differently:

- `ValidationFailed` (422): fix the fields listed in `errors`;
- `NotAllowed` (401, 403): the key is missing, wrong, or may not do this;
- `NotFound` (404): no such thing among yours;
- `Conflict` (409): an illegal step, or an `Idempotency-Key` reused with another body;
- `Unavailable` (429, 503): wait `retry_after` seconds and send the same request again.

A webhook that fails verification raises `WebhookRejected` (no HTTP answer involved).
"""

from __future__ import annotations

from typing import Any

import httpx

from signpost_client.models import FieldError, parse_list


class SignpostError(Exception):
    """An error answer from Signpost: its `status`, the problem's `type`, `title` and
    `detail`, the field `errors` of a validation problem, `retry_after` (seconds, from
    the `Retry-After` header), the `request_id` to quote to the operator, and the whole
    `problem` document."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        type: str = "about:blank",
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after
        self.request_id = request_id
        self.problem = problem or {}

    @property
    def fields(self) -> list[str]:
        """The dotted names of the fields (or query parameters, or CSV columns) at fault."""
        return [error.field for error in self.errors]


class ValidationFailed(SignpostError):
    """422: the request's fields are not valid; `errors` names each one."""


class NotAllowed(SignpostError):
    """401 or 403: no valid key, or the key may not do this (scope, organisation, kind)."""


class NotFound(SignpostError):
    """404: no such report, referral, notice or subscription among yours."""


class Conflict(SignpostError):
    """409: a step the referral's status does not allow, or an Idempotency-Key reused
    with a different body."""


class Unavailable(SignpostError):
    """429 (over the rate limit) or 503 (a dependency is away): retry after
    `retry_after` seconds; a write with the same Idempotency-Key is safe to repeat."""


class WebhookRejected(Exception):
    """A webhook delivery whose signature, timestamp or headers do not verify: answer it
    with a 4xx and do not act on it."""


_BY_STATUS: dict[int, type[SignpostError]] = {
    401: NotAllowed,
    403: NotAllowed,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: Unavailable,
    503: Unavailable,
}


def _retry_after(value: str | None) -> float | None:
    # Signpost sends seconds; an HTTP date (which it never sends) is left to the caller.
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def error_from(response: httpx.Response) -> SignpostError:
    """The exception for an error answer (status 400 or above)."""
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
    except ValueError:
        pass  # not JSON: a proxy's page, say; the status and reason still say enough
    raw_errors = problem.get("errors")
    errors = parse_list(FieldError, raw_errors) if isinstance(raw_errors, list) else []
    cls = _BY_STATUS.get(response.status_code, SignpostError)
    detail = problem.get("detail")
    return cls(
        response.status_code,
        str(problem.get("title") or response.reason_phrase or "Error"),
        type=str(problem.get("type") or "about:blank"),
        detail=str(detail) if detail is not None else None,
        errors=errors,
        retry_after=_retry_after(response.headers.get("Retry-After")),
        request_id=response.headers.get("X-Request-ID") or problem.get("request_id"),
        problem=problem,
    )
