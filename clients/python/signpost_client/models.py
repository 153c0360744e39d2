"""What Signpost answers, as frozen dataclasses whose fields are the API's own names.

Each class mirrors one response schema of the OpenAPI (`/openapi.json`): intake's
`Accepted`, `ReportStatus`, `ReportSummary`, `BatchResult`, `VocabularyDocument`;
routing's `ReferralView` and `RoutingRecord`; notify's `NoticeSummary` and
`SubscriptionCreated`. Times are aware `datetime`s. Fields the server adds in a later
release are ignored, so an older client keeps working.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

# ---------------------------------------------------------------- intake: reports


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """The answer to `POST /v1/reports` (202): the referral the report became."""

    referral_id: str
    status: str
    status_url: str
    duplicate_of: str | None = None
    supersedes: str | None = None
    # Not a body field: the `Idempotent-Replayed: true` header of a replayed answer.
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where a report went, as the referrer is told: `kind` (agency, hub, mash,
    universal) and the service's `name`."""

    kind: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of a report's journey."""

    status: str
    at: datetime
    summary: str


@dataclass(frozen=True, kw_only=True)
class PathwayNotified:
    """A statutory pathway the report was told to, beside where it went."""

    pathway: str
    label: str
    destination: Destination
    notified_at: datetime


@dataclass(frozen=True, kw_only=True)
class Journey:
    """`GET /v1/reports/{id}`: where a report of your organisation's stands."""

    referral_id: str
    status: str
    outcome: str
    source_reference: str
    received_at: datetime
    level: int | None
    priority: str | None
    destination: Destination | None
    supersedes: str | None = None
    superseded_by: str | None = None
    pathways: list[PathwayNotified] = field(default_factory=list)
    journey: list[Step] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ReportSummary:
    """One report as `GET /v1/reports` lists it (never the child's details)."""

    referral_id: str
    status: str
    outcome: str
    source_reference: str
    received_at: datetime
    level: int | None
    priority: str | None
    destination: Destination | None
    status_url: str


@dataclass(frozen=True, kw_only=True)
class FieldError:
    """One field's problem: `loc` (its path, starting `body`, `query` or, in a batch,
    the row), `pointer` (a JSON pointer into the body, when it is one), the dotted
    `field` (in a CSV batch, the column), `message` and `type`."""

    loc: list[str]
    pointer: str | None
    field: str
    message: str
    type: str


@dataclass(frozen=True, kw_only=True)
class RowAccepted:
    """A batch row kept as a referral. `row` is 0-based; `file_row` is the CSV file's
    own numbering (header row 1, first report row 2), None for a JSON array."""

    row: int
    file_row: int | None = None
    referral_id: str
    status: str
    status_url: str
    duplicate_of: str | None = None
    supersedes: str | None = None


@dataclass(frozen=True, kw_only=True)
class RowRejected:
    """A batch row refused, with each of its field errors."""

    row: int
    file_row: int | None = None
    errors: list[FieldError]


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """`POST /v1/reports/batch`: every row, accepted or rejected
    (`rows == len(accepted) + len(errors)`)."""

    rows: int
    accepted: list[RowAccepted]
    errors: list[RowRejected]


@dataclass(frozen=True, kw_only=True)
class Concern:
    """One code of the concern vocabulary."""

    code: str
    label: str
    domain: str
    group: str
    ace: bool
    guidance: str
    synonyms: list[str]
    source: str
    pathway: str | None = None
    modifier: bool | None = None
    deprecated: bool | None = None
    replaced_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    """`GET /v1/vocabulary`: the published concern codes."""

    version: str
    previous_version: str | None = None
    description: str
    concerns: list[Concern]
    # Not a body field: the answer's strong `ETag` (send it as `if_none_match`).
    etag: str | None = None


# ---------------------------------------------------------------- notify: Encompass


@dataclass(frozen=True, kw_only=True)
class Notice:
    """An Operation Encompass notice's progress, without anything about the child.
    `status`: pending, notified, notified_late, missed or superseded."""

    notice_id: str
    cursor: int
    referral_id: str
    referrer_organisation: str
    recipient_organisation: str
    recipient_kind: str
    school_urn: str | None
    received_at: datetime
    notify_by: datetime
    status: str
    notified_at: datetime | None
    notified_via: str | None


# ---------------------------------------------------------------- routing: referrals


@dataclass(frozen=True, kw_only=True)
class ReferralDestination:
    """Where routing sent a referral: `kind`, the directory `id`, the `organisation`
    that receives it and its `name`."""

    kind: str
    id: str | None
    organisation: str | None
    name: str | None


@dataclass(frozen=True, kw_only=True)
class Assigned:
    """The person of the receiving organisation who has the referral, and since when."""

    person_id: str
    name: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Referral:
    """A referral as its destination sees it (`GET /v1/referrals`): no personal data.
    `respond_by` is the receiving agency's deadline to accept or decline."""

    referral_id: str
    status: str
    level: int
    priority: str
    destination: ReferralDestination
    respond_by: datetime | None
    routed_at: datetime
    updated_at: datetime | None
    reason_code: str | None
    allowed_actions: list[str]
    assigned_to: Assigned | None = None


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An agency routing considered, and why it was or was not suitable."""

    agency_id: str
    name: str
    suitable: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class RoutingStep:
    """One step of a referral's routing history."""

    at: datetime
    status: str
    destination_kind: str | None
    destination_id: str | None
    reason_code: str | None
    by: str
    summary: str
    rationale: str | None
    directory_version: str | None


@dataclass(frozen=True, kw_only=True)
class RoutingPathway:
    """A statutory pathway the referral was told to, as routing records it."""

    pathway: str
    label: str
    concern_codes: list[str]
    destination: ReferralDestination
    reason_code: str
    explanation: str
    notified_at: datetime
    directory_version: str


@dataclass(frozen=True, kw_only=True)
class RoutingRecord(Referral):
    """A referral's routing record: where it went and why, with every later step (the
    answer to accept, decline, start and close)."""

    reason_codes: list[str]
    explanation: str
    considered: list[Candidate]
    directory_version: str
    history: list[RoutingStep]
    pathways: list[RoutingPathway] = field(default_factory=list)


# ---------------------------------------------------------------- notify: webhooks


@dataclass(frozen=True, kw_only=True)
class Subscription:
    """A webhook subscription of your organisation's. `secret` (the `whsec_` signing
    secret) is given once, by `subscribe`: store it then."""

    id: str
    url: str
    event_types: list[str]
    filter: dict[str, Any] | None = None
    header_names: list[str] = field(default_factory=list)
    status: str
    created_at: datetime
    flagged_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    secret: str | None = None


# ---------------------------------------------------------------- decoding


def parse(cls: type[T], data: Any) -> T:
    """`data` (decoded JSON) as an instance of the dataclass `cls`, nested dataclasses,
    lists and times included; keys the class does not know are ignored."""
    value: T = _decode(cls, data)
    return value


def parse_list(cls: type[T], data: Any) -> list[T]:
    """A JSON array of `cls`."""
    if not isinstance(data, list):
        raise TypeError(f"expected a JSON array of {cls.__name__}, got {type(data).__name__}")
    return [parse(cls, item) for item in data]


def _decode(hint: Any, value: Any) -> Any:
    if hint is Any:
        return value
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _decode(inner, value)
    if origin is list:
        (item,) = get_args(hint)
        return [_decode(item, element) for element in value]
    if origin is dict:
        return dict(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint) if f.init}
        given = {name: _decode(hints[name], item) for name, item in value.items() if name in known}
        return hint(**given)
    return value
