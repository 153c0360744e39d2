"""Storing an accepted report: the one write path for single and batch submissions.

A report from an organisation whose `source.reference` is already stored is a
resubmission. Byte-for-byte the same as the latest version (after validation and
normalisation) it is a duplicate: nothing is stored or emitted, and the answer names
the original referral. Changed, it is stored as a new version that supersedes the
previous one, and its `referral.received` event lists every earlier version so
downstream counts the concern once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.encompass import encompass_notices
from services.intake.models import JourneyStep, Report, ReportVersion
from services.intake.subjects import subject_key
from shared.auth import Principal
from shared.db import table_of
from shared.envelope import new_event
from shared.events import EventType, ReferralReceived
from shared.outbox import OutboxMessage, outbox_row
from shared.report import ConcernReport
from shared.runtime import ServiceContext

_INSERT_REPORT = insert(table_of(Report))
_INSERT_VERSION = insert(table_of(ReportVersion))
_INSERT_STEP = insert(table_of(JourneyStep))
_INSERT_OUTBOX = insert(table_of(OutboxMessage))
_VERSIONS = table_of(ReportVersion)
_SELECT_VERSIONS = select(_VERSIONS).where(
    _VERSIONS.c.organisation == bindparam("organisation"),
    _VERSIONS.c.source_reference == bindparam("reference"),
)


@dataclass(frozen=True)
class Receipt:
    """What intake tells the referrer about one stored (or recognised) report."""

    referral_id: str
    status: str
    duplicate_of: str | None = None
    supersedes: str | None = None

    @property
    def status_url(self) -> str:
        return f"/v1/reports/{self.referral_id}"


def report_sha256(report: ConcernReport) -> str:
    """A digest of the validated, normalised report (stable across key order, spacing).

    Fields left at their defaults are left out, so an optional field added to the
    contract later does not change the digest of a report that does not use it (a
    resubmission across an upgrade is still recognised as the same report), and an
    explicit default means the same as an omitted one.
    """
    return hashlib.sha256(report.model_dump_json(exclude_defaults=True).encode()).hexdigest()


# The report's shape before Operation Encompass added fields: the digest reports
# stored before it were given, so an unchanged resubmission is still recognised.
_BEFORE_ENCOMPASS: Any = {
    "child": {"school_urn", "home_educated"},
    "police": {
        "circumstances": True,
        "children_present": {"__all__": {"school_urn", "home_educated"}},
    },
}


def earlier_digests(report: ConcernReport) -> set[str]:
    """Digests an unchanged report was stored under by earlier versions of intake."""
    police = report.police
    schooling = [report.child, *(police.children_present if police is not None else [])]
    if (police is not None and police.circumstances is not None) or any(
        child.school_urn is not None or child.home_educated for child in schooling
    ):
        return set()  # it uses the new fields: no earlier version could have stored it
    legacy = report.model_dump_json(exclude=_BEFORE_ENCOMPASS)
    return {hashlib.sha256(legacy.encode()).hexdigest()}


async def _versions(
    conn: AsyncConnection, organisation: str, reference: str
) -> list[ReportVersion]:
    rows = await conn.execute(
        _SELECT_VERSIONS, {"organisation": organisation, "reference": reference}
    )
    return [ReportVersion.model_validate(dict(row._mapping)) for row in rows]


def _newest_first(versions: list[ReportVersion]) -> list[ReportVersion]:
    # Follow the supersedes links rather than trusting clocks: newest first.
    by_previous = {v.supersedes: v for v in versions}
    chain: list[ReportVersion] = []
    current = by_previous.get("")
    while current is not None and len(chain) < len(versions):
        chain.append(current)
        current = by_previous.get(current.referral_id)
    return list(reversed(chain))


async def store_report(
    conn: AsyncConnection,
    *,
    ctx: ServiceContext,
    principal: Principal,
    report: ConcernReport,
    now: datetime,
) -> Receipt:
    """Store a report and stage its `referral.received` in the caller's transaction, or
    recognise it as a duplicate of the latest version under the same reference.

    Raises IntegrityError when a concurrent request stored a version first; the caller
    retries its whole transaction.
    """
    digest = report_sha256(report)
    history = _newest_first(
        await _versions(conn, report.source.organisation, report.source.reference)
    )
    latest = history[0] if history else None
    if latest is not None and latest.body_sha256 in {digest, *earlier_digests(report)}:
        status = await conn.scalar(
            select(table_of(Report).c.status).where(
                table_of(Report).c.referral_id == latest.referral_id
            )
        )
        return Receipt(
            referral_id=latest.referral_id,
            status=str(status or "received"),
            duplicate_of=latest.referral_id,
        )

    referral_id = "ref_" + uuid.uuid4().hex
    key = subject_key(
        secret=ctx.settings.pseudonym_secret,
        given_name=report.child.given_name,
        family_name=report.child.family_name,
        date_of_birth=report.child.date_of_birth,
    )
    summary = "Your report was received."
    if latest is not None:
        summary += f" It updates your earlier report {latest.referral_id} (same reference)."
    # Statements with separate parameters are compiled once and cached by SQLAlchemy;
    # `.values(...)` would build and compile a new statement for every report.
    await conn.execute(
        _INSERT_REPORT,
        dict(
            referral_id=referral_id,
            client_id=principal.client_id,
            organisation=report.source.organisation,
            source_kind=report.source.kind,
            source_reference=report.source.reference,
            subject_key=key,
            payload=report.model_dump(mode="json"),
            status="received",
            received_at=now,
            updated_at=now,
        ),
    )
    await conn.execute(
        _INSERT_VERSION,
        dict(
            referral_id=referral_id,
            organisation=report.source.organisation,
            source_reference=report.source.reference,
            body_sha256=digest,
            supersedes=latest.referral_id if latest is not None else "",
            received_at=now,
        ),
    )
    await conn.execute(
        _INSERT_STEP,
        dict(referral_id=referral_id, status="received", at=now, summary=summary, ce_id=None),
    )
    event_supersedes = [v.referral_id for v in history]
    event = new_event(
        type=EventType.REFERRAL_RECEIVED,
        source=ctx.source,
        subject=referral_id,
        partitionkey=key,
        data=ReferralReceived(
            referral_id=referral_id,
            subject_key=key,
            client_id=principal.client_id,
            received_at=now,
            report=report,
            supersedes=event_supersedes,
        ),
        time=now,
    )
    await conn.execute(_INSERT_OUTBOX, outbox_row(event))
    for notice in encompass_notices(
        report,
        referral_id=referral_id,
        received_at=now,
        supersedes=event_supersedes,
    ):
        child = notice.child
        await conn.execute(
            _INSERT_OUTBOX,
            outbox_row(
                new_event(
                    type=EventType.ENCOMPASS_NOTICE,
                    source=ctx.source,
                    subject=referral_id,
                    # The child's own pseudonymous key, so notices about one child
                    # stay in order; the report's when the police gave no birth date.
                    partitionkey=key
                    if child.date_of_birth is None
                    else subject_key(
                        secret=ctx.settings.pseudonym_secret,
                        given_name=child.given_name,
                        family_name=child.family_name,
                        date_of_birth=child.date_of_birth,
                    ),
                    data=notice,
                    time=now,
                )
            ),
        )
    return Receipt(
        referral_id=referral_id,
        status="received",
        supersedes=latest.referral_id if latest is not None else None,
    )
