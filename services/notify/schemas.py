"""Notify's public request and response models: subscriptions, deliveries and their
attempts, and Operation Encompass notices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from services.notify.filters import SubscriptionFilter
from services.notify.models import (
    Delivery,
    DeliveryAttempt,
    EncompassNoticeRecord,
    WebhookSubscription,
)
from services.notify.notices import NoticeStatus as NoticeStatus  # the API's query parameter
from services.notify.notices import NotifiedVia, RecipientKind, progress, status_of
from services.notify.sealed_headers import MAX_HEADERS, header_problem
from services.notify.ssrf import without_user_info
from services.notify.webhooks import overlap_until
from shared.clock import as_utc
from shared.text import ACCEPTED_EARLIER, CheckedText, check_text

PartnerEventType = Literal[
    "org.signpost.referral.routed.v1",
    "org.signpost.referral.status.v1",
    "org.signpost.referral.pathway.v1",
    "org.signpost.encompass.alert.v1",
    "org.signpost.encompass.notice.v1",
]
DeliveryStatus = Literal["pending", "delivered", "parked", "cancelled"]


class SubscriptionCreate(CheckedText):
    # Who subscribes (organisation, kind of partner) is the key's, never the body's: a
    # body that names them is refused.
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(
        max_length=2000,
        description=(
            "Where to POST signed notifications: https (plain http only where the "
            "deployment allows it for development), a public internet address, no user "
            "name or password in it (put credentials in `headers`)."
        ),
    )
    event_types: list[PartnerEventType] = Field(min_length=1, max_length=10)
    filter: SubscriptionFilter | None = Field(
        default=None, description="Optional: hear only about referrals that match."
    )
    headers: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_HEADERS,
        description=(
            "Optional: headers your endpoint wants on each delivery (`Authorization`, or "
            "custom `X-…` headers such as an API key). Stored encrypted and never shown "
            "again: answers list their names only."
        ),
    )

    @field_validator("url", mode="before")
    @classmethod
    def _url_text_is_clean(cls, value: object) -> object:
        # Before the URL parser, which would percent-encode a control character.
        return check_text(value)

    @field_validator("headers")
    @classmethod
    def _headers_are_allowed(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        if headers is None:
            return None
        if len({name.lower() for name in headers}) != len(headers):
            raise ValueError("a header is named twice")
        for name, value in headers.items():
            problem = header_problem(name, value)
            if problem is not None:
                raise ValueError(problem)  # never echo what was given: it may be a secret
        return headers


class SubscriptionPublic(BaseModel):
    id: str
    url: str = Field(description="The endpoint (never with a user name or password).")
    event_types: list[str]
    filter: SubscriptionFilter | None = None
    header_names: list[str] = Field(
        default_factory=list,
        description="The names of the headers sent with each delivery (never their values).",
    )
    status: str = Field(description="active, paused (deliveries held) or disabled (410 Gone).")
    created_at: datetime
    flagged_at: datetime | None = Field(
        default=None, description="When a delivery last ran out of retries and was parked."
    )
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until then the previous secret also signs each delivery."
    )

    @classmethod
    def of(cls, sub: WebhookSubscription, *, now: datetime) -> SubscriptionPublic:
        return cls(
            id=sub.id,
            url=without_user_info(sub.url),
            event_types=sub.event_types,
            header_names=sub.header_names or [],
            filter=SubscriptionFilter.model_validate(sub.event_filter, context=ACCEPTED_EARLIER)
            if sub.event_filter
            else None,
            status=sub.status,
            created_at=sub.created_at,
            flagged_at=sub.flagged_at,
            previous_secret_expires_at=_overlap(sub, now),
        )


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The whsec_ signing secret. Shown once: store it now.")

    @classmethod
    def created(cls, sub: WebhookSubscription, *, now: datetime) -> SubscriptionCreated:
        return cls(**SubscriptionPublic.of(sub, now=now).model_dump(), secret=sub.secret)


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_ secret. Shown once: store it now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries carry a signature with each secret."
    )

    @classmethod
    def of(cls, sub: WebhookSubscription, *, now: datetime) -> SecretRotated:
        return cls(id=sub.id, secret=sub.secret, previous_secret_expires_at=_overlap(sub, now))


def _overlap(sub: WebhookSubscription, now: datetime) -> datetime | None:
    return overlap_until(sub.previous_secret, sub.previous_secret_expires_at, now=now)


class AttemptPublic(BaseModel):
    attempted_at: datetime
    response_status: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str = Field(description="The webhook-id, the same on every attempt.")
    subscription_id: str
    referral_id: str | None
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_response_status: int | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Delivery) -> DeliveryPublic:
        public = cls.model_validate(row, from_attributes=True)
        if row.status != "pending":
            public.next_attempt_at = None  # only a pending delivery has a next attempt
        return public


class DeliveryDetail(DeliveryPublic):
    attempt_log: list[AttemptPublic]

    @classmethod
    def with_attempts(cls, row: Delivery, attempts: Sequence[DeliveryAttempt]) -> DeliveryDetail:
        return cls(
            **DeliveryPublic.of(row).model_dump(),
            attempt_log=[AttemptPublic.model_validate(a, from_attributes=True) for a in attempts],
        )


class NoticeSummary(BaseModel):
    """A notice's progress, without anything about the child."""

    notice_id: str
    cursor: int = Field(description="Resume polling after this notice with ?after=cursor.")
    referral_id: str
    referrer_organisation: str
    recipient_organisation: str
    recipient_kind: RecipientKind
    school_urn: str | None
    received_at: datetime
    notify_by: datetime = Field(description="The start of the recipient's next school day.")
    status: NoticeStatus
    notified_at: datetime | None
    notified_via: NotifiedVia | None

    @classmethod
    def of(cls, record: EncompassNoticeRecord, now: datetime) -> NoticeSummary:
        assert record.seq is not None
        return cls(
            **progress(record),
            cursor=record.seq,
            received_at=as_utc(record.received_at),
            status=status_of(record, now),
            notified_via=cast(NotifiedVia | None, record.notified_via),
        )


class NoticeContent(NoticeSummary):
    notice: dict[str, Any] = Field(
        description=(
            "The notice as the area's sharing policy lets your kind of partner see it "
            "(the same as its webhook)."
        )
    )
    content_removed_at: datetime | None = Field(
        default=None,
        description=(
            "When the child's details were removed, NOTIFY_ENCOMPASS_RETENTION_DAYS after "
            "the recipient had the notice: `notice` then holds ids only."
        ),
    )

    @classmethod
    def shown(
        cls, record: EncompassNoticeRecord, notice: dict[str, Any], now: datetime
    ) -> NoticeContent:
        removed = record.content_removed_at
        return cls(
            **NoticeSummary.of(record, now).model_dump(),
            notice=notice,
            content_removed_at=as_utc(removed) if removed else None,
        )
