"""Intake's use cases: storing reports (one at a time or in a batch, with their
Idempotency-Key), the referrer's view of a report and the list of an organisation's own
reports, the claim check (a partner reads the report it is sent, and each read is
recorded), following each referral's journey from the other services' events, and
forgetting old Idempotency-Key answers.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from services.intake import repository
from services.intake.access import ReportAccessPolicy, load_access_policy
from services.intake.authority import REFERRERS, authorise, may_submit, not_a_referrer, owns
from services.intake.batch import Rows
from services.intake.encompass import encompass_notices
from services.intake.journey import (
    PATHWAY_STEP,
    advanced,
    is_latest_routing,
    outcome,
    pathway_summary,
    received_summary,
    routed_summary,
    status_summary,
    triaged_summary,
)
from services.intake.models import JourneyStep, Report, ReportPathway, ReportVersion
from services.intake.resubmission import is_duplicate, newest_first, report_sha256
from services.intake.schemas import (
    Accepted,
    BatchResult,
    DestinationForPartner,
    DestinationView,
    PathwayForReferrer,
    ReportForPartner,
    ReportStatus,
    ReportSummary,
    RowAccepted,
    RowRejected,
    Step,
)
from services.intake.settings import settings_of
from services.intake.subjects import subject_key
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import (
    EventType,
    ReasonCode,
    ReferralPathway,
    ReferralReceived,
    ReferralRouted,
    ReferralStatus,
    ReferralTriaged,
)
from shared.measures import Filters, MeasuresView, Period, count, share
from shared.pagination import Page, PageRequest, Position, page_of
from shared.pathways import PATHWAYS
from shared.privacy import ReadPublic, audit_read, only_overseers, reads_of
from shared.problems import NotFound, Problem
from shared.report import ConcernReport
from shared.runtime import ServiceContext
from shared.uow import ReadAhead, UnitOfWork, UnitsOfWork

# A concurrent request can win a race (same Idempotency-Key, or a resubmission of the
# same reference); the loser starts again and answers from what the winner stored.
ATTEMPTS = 3
# The claim check: what the read audit calls a report, and where the policy is kept.
AUDITED = "report"
POLICY = "report_access_policy"

# What the other services tell intake about a referral's journey.
JourneyNews = ReferralTriaged | ReferralRouted | ReferralStatus | ReferralPathway


@dataclass(frozen=True)
class Answer:
    """The answer to a write: its status code and body, and whether it replays the one
    first given under the same Idempotency-Key."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


Write = Callable[[UnitOfWork, datetime], Awaitable[tuple[int, BaseModel]]]


async def submit_report(
    *,
    units: UnitsOfWork,
    principal: Principal,
    report: ConcernReport,
    idempotency_key: str | None,
    pseudonym_secret: str,
) -> Answer:
    """Store a report whose rules were checked on receipt, with its `referral.received`
    (and any Encompass notices), in one transaction, or recognise it as a resubmission;
    202 with its receipt. 403 unless the key may speak for the report's source (see
    `authority`)."""
    authorise(principal, report)
    digest = report_sha256(report)

    async def write(uow: UnitOfWork, now: datetime) -> tuple[int, BaseModel]:
        return 202, await _store(
            uow, now=now, principal=principal, report=report, digest=digest, secret=pseudonym_secret
        )

    return await _once(units, principal, idempotency_key, digest, write, _ahead_of([report]))


async def submit_batch(
    *,
    units: UnitsOfWork,
    principal: Principal,
    rows: Rows,
    request_sha256: str,
    idempotency_key: str | None,
    pseudonym_secret: str,
) -> Answer:
    """Store every valid row of a batch as `submit_report` would, in one transaction,
    and answer every row: accepted with its receipt, or rejected with its errors. The
    rows were checked against the key (`authority`); a key that may not submit at all is
    refused whole (403)."""
    if not may_submit(principal):
        raise not_a_referrer(principal)
    for _, report in rows.valid:
        authorise(principal, report)

    async def write(uow: UnitOfWork, now: datetime) -> tuple[int, BaseModel]:
        accepted = []
        for index, report in rows.valid:
            receipt = await _store(
                uow,
                now=now,
                principal=principal,
                report=report,
                digest=report_sha256(report),
                secret=pseudonym_secret,
            )
            accepted.append(
                RowAccepted(row=index, file_row=rows.file_row(index), **receipt.model_dump())
            )
        return 200, BatchResult(
            rows=rows.count,
            accepted=accepted,
            errors=[
                RowRejected.model_validate({"row": i, "file_row": rows.file_row(i), "errors": e})
                for i, e in rows.invalid
            ],
        )

    return await _once(
        units,
        principal,
        idempotency_key,
        request_sha256,
        write,
        _ahead_of(report for _, report in rows.valid),
    )


async def _once(
    units: UnitsOfWork,
    principal: Principal,
    idempotency_key: str | None,
    request_sha256: str,
    write: Write,
    ahead: ReadAhead,
) -> Answer:
    """Run `write` in one unit of work with the Idempotency-Key's answer, or replay the
    answer stored under that key (409 when it was given for another body). The unit may
    be shared with other requests that arrive together (`UnitsOfWork.together`: one
    commit for them all). A unit that loses a race is rolled back whole and started
    again. `ahead` names the references `write` reads, for a shared unit to read them
    for all its requests at once."""

    async def attempt(uow: UnitOfWork) -> Answer:
        conn = await uow.connection()
        if idempotency_key is not None:
            stored = await repository.stored_answer(
                conn, client_id=principal.client_id, key=idempotency_key
            )
            if stored is not None:
                if stored.request_sha256 != request_sha256:
                    raise Problem(
                        409,
                        "Conflict",
                        "This Idempotency-Key was already used with a different body.",
                        type="idempotency-conflict",
                    )
                return Answer(stored.status_code, stored.response, replayed=True)
        now = uow.now()
        status, answer = await write(uow, now)
        body = answer.model_dump(mode="json")
        if idempotency_key is not None:
            await repository.remember_answer(
                conn,
                client_id=principal.client_id,
                key=idempotency_key,
                request_sha256=request_sha256,
                status_code=status,
                response=body,
                created_at=now,
            )
        return Answer(status, body)

    for _ in range(ATTEMPTS):
        try:
            return await units.together(attempt, ahead=ahead)
        except IntegrityError:
            continue
    raise Problem(409, "Conflict", "The report conflicts with one being stored; retry.")


def status_url(referral_id: str) -> str:
    """Where the organisation that raised a report follows it."""
    return f"/v1/reports/{referral_id}"


def _accepted(
    referral_id: str, status: str, *, duplicate_of: str | None = None, supersedes: str | None = None
) -> Accepted:
    return Accepted(
        referral_id=referral_id,
        status=status,
        status_url=status_url(referral_id),
        duplicate_of=duplicate_of,
        supersedes=supersedes,
    )


async def _no_references() -> set[tuple[str, str]]:
    return set()


_VERSIONS_AHEAD = "intake.versions_ahead"


async def _read_versions_ahead(uow: UnitOfWork, references: list[Hashable]) -> None:
    """The versions under every reference a group of requests names, in one statement
    (`ReadAhead`): each request in a shared unit then reads none of its own."""
    conn = await uow.connection()
    pairs = cast(list[tuple[str, str]], references)
    uow.keep(_VERSIONS_AHEAD, await repository.versions_of(conn, pairs))


def _versions_read_ahead(uow: UnitOfWork) -> dict[tuple[str, str], list[ReportVersion]] | None:
    kept = uow.kept(_VERSIONS_AHEAD)
    return cast(dict[tuple[str, str], list[ReportVersion]], kept) if kept is not None else None


def _ahead_of(reports: Iterable[ConcernReport]) -> ReadAhead:
    return ReadAhead(
        _read_versions_ahead, tuple((r.source.organisation, r.source.reference) for r in reports)
    )


async def _store(
    uow: UnitOfWork,
    *,
    now: datetime,
    principal: Principal,
    report: ConcernReport,
    digest: str,
    secret: str,
) -> Accepted:
    """Store a report and record its events in the unit, or recognise it as a duplicate
    of the latest version under the same reference (see `resubmission`).

    Raises IntegrityError when a concurrent request stored a version first; the caller
    starts its whole unit again."""
    conn = await uow.connection()
    source = report.source
    # Its rows are written when the unit completes (`uow.insert`): a reference stored
    # earlier in this unit (a batch's rows, requests sharing a unit) is written first,
    # so this one is read as its resubmission.
    references = await uow.read_once("intake.references", _no_references)
    reference = (source.organisation, source.reference)
    if reference in references:
        await uow.write_inserts()
        ahead = None  # what the shared unit read ahead predates this reference's rows
    else:
        ahead = _versions_read_ahead(uow)
    references.add(reference)
    history = newest_first(
        ahead[reference]
        if ahead is not None and reference in ahead
        else await repository.versions(
            conn, organisation=source.organisation, reference=source.reference
        )
    )
    latest = history[0] if history else None
    if latest is not None and is_duplicate(report, digest, latest):
        status = await repository.status_of(conn, latest.referral_id)
        return _accepted(latest.referral_id, status or "received", duplicate_of=latest.referral_id)

    referral_id = "ref_" + uuid.uuid4().hex
    child = report.child
    key = subject_key(
        secret=secret,
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
    )
    previous = latest.referral_id if latest is not None else None
    repository.add_report(
        uow,
        {
            "referral_id": referral_id,
            "client_id": principal.client_id,
            "organisation": source.organisation,
            "source_kind": source.kind,
            "source_reference": source.reference,
            "subject_key": key,
            "payload": report.model_dump(mode="json"),
            "status": "received",
            "received_at": now,
            "updated_at": now,
        },
    )
    repository.add_version(
        uow,
        {
            "referral_id": referral_id,
            "organisation": source.organisation,
            "source_reference": source.reference,
            "body_sha256": digest,
            "supersedes": previous or "",
            "received_at": now,
        },
    )
    repository.add_step(
        uow,
        referral_id=referral_id,
        status="received",
        at=now,
        summary=received_summary(previous),
        ce_id=None,
    )
    supersedes = [v.referral_id for v in history]
    uow.record(
        type=EventType.REFERRAL_RECEIVED,
        subject=referral_id,
        partitionkey=key,
        data=ReferralReceived(
            referral_id=referral_id,
            subject_key=key,
            client_id=principal.client_id,
            received_at=now,
            report=report,
            supersedes=supersedes,
        ),
        time=now,
    )
    # Only a police key's report tells schools of an incident (checked on the way in
    # too: a report's source.kind is its key's).
    for notice in encompass_notices(
        report,
        raised_by=principal.kind,
        referral_id=referral_id,
        received_at=now,
        supersedes=supersedes,
    ):
        named = notice.child
        uow.record(
            type=EventType.ENCOMPASS_NOTICE,
            subject=referral_id,
            # The child's own pseudonymous key, so notices about one child stay in
            # order; the report's when the police gave no birth date.
            partitionkey=key
            if named.date_of_birth is None
            else subject_key(
                secret=secret,
                given_name=named.given_name,
                family_name=named.family_name,
                date_of_birth=named.date_of_birth,
            ),
            data=notice,
            time=now,
        )
    return _accepted(referral_id, "received", supersedes=previous)


def _destination(report: Report) -> DestinationView | None:
    if not report.destination_kind:
        return None
    return DestinationView(kind=report.destination_kind, name=report.destination_name or "")


def _outcome(steps: Sequence[JourneyStep]) -> str:
    # Where the report stands: a statutory pathway told is beside its route, never it.
    return outcome([s.summary for s in steps if s.status != PATHWAY_STEP])


async def report_status(*, uow: UnitOfWork, principal: Principal, referral_id: str) -> ReportStatus:
    """A report's journey as its organisation sees it (any key or person of the
    organisation and kind that submitted it: `authority.owns`); NotFound for anyone
    else."""
    session = uow.session
    report = await repository.report_without_payload(session, referral_id)
    if report is None or not owns(
        principal, organisation=report.organisation, source_kind=report.source_kind
    ):
        raise NotFound("Report")
    steps = await repository.journey(session, referral_id)
    version = await repository.version(session, referral_id)
    later = await repository.superseded_by(session, referral_id)
    destination = _destination(report)
    journey = [Step(status=s.status, at=s.at, summary=s.summary) for s in steps]
    told = await repository.pathways(session, referral_id)
    return ReportStatus(
        pathways=[
            PathwayForReferrer(
                pathway=p.pathway,
                label=PATHWAYS[p.pathway].label if p.pathway in PATHWAYS else p.pathway,
                destination=DestinationView(kind=p.destination_kind, name=p.destination_name),
                notified_at=as_utc(p.notified_at),
            )
            for p in told
        ],
        referral_id=report.referral_id,
        status=report.status,
        outcome=_outcome(steps),
        source_reference=report.source_reference,
        received_at=report.received_at,
        level=report.level,
        priority=report.priority,
        destination=destination,
        supersedes=(version.supersedes or None) if version is not None else None,
        superseded_by=later,
        journey=journey,
    )


@dataclass(frozen=True)
class ReportFilter:
    """Which of an organisation's reports a list shows: all of them unless narrowed to
    a status, a time they were received (from inclusive, to exclusive) or their
    `source.reference`."""

    status: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    reference: str | None = None


async def list_reports(
    *, uow: UnitOfWork, principal: Principal, filters: ReportFilter, page: PageRequest
) -> Page[ReportSummary]:
    """The caller's organisation's own reports (those `authority.owns`), newest first,
    a page at a time: where each stands, never the child's personal data. A caller that
    raises no reports (not police or a school) has none."""
    source_kind = REFERRERS.get(principal.kind)
    if source_kind is None:
        return Page([])
    session = uow.session
    rows = await repository.reports_of(
        session,
        organisation=principal.organisation,
        source_kind=source_kind,
        page=page,
        status=filters.status,
        received_from=filters.received_from,
        received_to=filters.received_to,
        reference=filters.reference,
    )
    found = page_of(rows, page.limit, lambda r: Position(as_utc(r.received_at), r.referral_id))
    journeys = await repository.journeys(session, [r.referral_id for r in found.items])
    return found.map(
        lambda report: ReportSummary(
            referral_id=report.referral_id,
            status=report.status,
            outcome=_outcome(journeys[report.referral_id]),
            source_reference=report.source_reference,
            received_at=as_utc(report.received_at),
            level=report.level,
            priority=report.priority,
            destination=_destination(report),
            status_url=status_url(report.referral_id),
        )
    )


async def load_policy_at_start(ctx: ServiceContext) -> None:
    """Read the report-access policy as intake starts: a broken file stops the service
    with the reason, rather than failing every read later."""
    ctx.state[POLICY] = load_access_policy(settings_of(ctx).intake_report_access_policy_path)


def access_policy(ctx: ServiceContext) -> ReportAccessPolicy:
    """The report-access policy read at start."""
    policy: ReportAccessPolicy = ctx.state[POLICY]
    return policy


async def _readable(uow: UnitOfWork, principal: Principal, report: Report | None) -> Report:
    # Only the organisation the referral is addressed to now, a statutory pathway it was
    # told to, and those who oversee, may read; to anyone else it does not exist.
    if report is None:
        raise NotFound("Referral")
    addressed = (
        report.destination_organisation is not None
        and report.destination_organisation == principal.organisation
    )
    if addressed or principal.oversees:
        return report
    told = await repository.pathways(uow.session, report.referral_id)
    if any(p.organisation == principal.organisation for p in told):
        return report
    raise NotFound("Referral")


async def read_for_partner(
    *, uow: UnitOfWork, principal: Principal, referral_id: str, policy: ReportAccessPolicy
) -> ReportForPartner:
    """The claim check: the report cut down by `policy` for the partner's kind, the read
    recorded in the same unit (a read that is answered is a read that is recorded)."""
    report = await _readable(uow, principal, await repository.report(uow.session, referral_id))
    shown = policy.shown(principal.kind.value, report.payload)
    audit_read(
        uow.session,
        principal,
        resource=AUDITED,
        resource_id=report.referral_id,
        shown=shown,
        at=uow.now(),
    )
    destination = (
        DestinationForPartner(
            kind=report.destination_kind,
            name=report.destination_name or "",
            organisation=report.destination_organisation,
        )
        if report.destination_kind
        else None
    )
    return ReportForPartner(
        referral_id=report.referral_id,
        received_at=as_utc(report.received_at),
        destination=destination,
        policy=f"{policy.id}@{policy.version}",
        report=shown,
    )


async def report_reads(
    *, uow: UnitOfWork, principal: Principal, referral_id: str
) -> list[ReadPublic]:
    """Who read a report, when and which fields: for those who oversee only (403 for the
    partner it is addressed to, 404 for anyone else)."""
    report = await _readable(
        uow, principal, await repository.report_without_payload(uow.session, referral_id)
    )
    if not principal.oversees:
        raise only_overseers()
    return await reads_of(uow.session, AUDITED, report.referral_id)


async def prepare_journeys(*, uow: UnitOfWork, referral_ids: Sequence[str]) -> None:
    """Read where each of these referrals' reports stands in one statement, before a
    batch of journey events about them is followed in `uow`."""
    await repository.read_standings(uow, referral_ids)


async def follow_journey(
    *,
    uow: UnitOfWork,
    referral_id: str,
    event_id: str,
    at: datetime | None,
    news: JourneyNews,
) -> None:
    """Add what happened to a referral (triaged, routed, an agency's decision) to its
    journey, phrased for the referrer; a referral intake does not hold is ignored (it
    came through another intake deployment)."""
    report = await repository.standing(uow, referral_id)
    if report is None:
        return
    # The journey is ordered by when each step happened, not by when intake heard of
    # it: triaged and routed arrive on different topics, in either order.
    when = at or uow.now()
    if isinstance(news, ReferralTriaged):
        report["level"], report["priority"] = news.level, news.priority
        status = "triaged"
        report["status"] = advanced(report["status"], status)
        summary = triaged_summary(
            news.level, news.priority, suspected=news.suspected_codes if news.needs_review else ()
        )
    elif isinstance(news, ReferralRouted):
        since = report["destination_routed_at"]
        if is_latest_routing(as_utc(since) if since else None, news.routed_at):
            # The latest destination, and the one who may read the report.
            destination = news.destination
            universal = destination.kind == "universal"
            report.update(
                destination_kind=destination.kind,
                destination_name=destination.name,
                destination_organisation=None if universal else destination.organisation,
                destination_routed_at=news.routed_at,
            )
        status = "routed"
        report["status"] = advanced(report["status"], status)
        summary = routed_summary(
            news.destination.kind,
            news.destination.name,
            review=ReasonCode.NEEDS_REVIEW in news.reason_codes,
        )
    elif isinstance(news, ReferralPathway):
        session = uow.session
        if await session.get(ReportPathway, (referral_id, news.pathway)) is not None:
            return  # told already (the same pathway is told once)
        session.add(
            ReportPathway(
                referral_id=referral_id,
                pathway=news.pathway,
                organisation=news.destination.organisation,
                destination_kind=news.destination.kind,
                destination_name=news.destination.name,
                notified_at=news.notified_at,
            )
        )
        status = PATHWAY_STEP  # beside the referral's own route: its status stays
        summary = pathway_summary(news.pathway, news.destination.kind, news.destination.name)
    else:
        status = report["status"] = news.status
        # The status event names its own destination: the routed event that named the
        # latest one travels on another topic and may not have arrived yet.
        name = news.destination.name if news.destination else report["destination_name"]
        summary = status_summary(news.status, name, news.reason_code)
    repository.change_standing(uow, referral_id, report, at=when)
    repository.add_step(
        uow,
        referral_id=referral_id,
        status=status,
        at=when,
        summary=summary,
        ce_id=event_id,
    )


async def forget_idempotency_keys(*, uow: UnitOfWork, older_than: timedelta, limit: int) -> int:
    """Delete at most `limit` Idempotency-Key answers stored more than `older_than` ago;
    returns how many went. A retry with such a key is then a new request (a repeated
    report is still recognised as a resubmission of the same one)."""
    return await repository.forget_answers(
        await uow.connection(), before=uow.now() - older_than, limit=limit
    )


# The sources a board sees; any other kind of referrer is "other".
SOURCES = ("police", "school")


async def measures(
    *, uow: UnitOfWork, period: Period, filters: Filters | None = None
) -> MeasuresView:
    """Intake's share of the partnership measures (docs/measures.md): contacts by source
    and by concern category, each report once however many corrected versions it has
    (its newest version's codes). Narrowed by source; intake does not place a child in
    a local authority (routing does), so an area leaves its measures unfiltered."""
    filters = filters or Filters()
    rows = await repository.contacts_in(uow.session, period.start_at, period.end_at)
    newest: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row.organisation, row.source_reference)
        order = (as_utc(row.received_at), row.referral_id)
        if key not in newest or order > newest[key][0]:
            newest[key] = (order, row)
    if filters.source:
        newest = {
            key: (order, row)
            for key, (order, row) in newest.items()
            if _source_of(row.source_kind) == filters.source
        }
    by_source = Counter(_source_of(row.source_kind) for _, row in newest.values())
    by_concern = Counter(
        code
        for _, row in newest.values()
        for code in {str(c.get("code")) for c in row.payload.get("concerns") or []}
    )
    total = len(newest)
    out = [count("contacts_by_source", total)]
    for source in (*SOURCES, "other"):
        out.append(count("contacts_by_source", by_source[source], source=source))
        out.append(share("contacts_by_source", by_source[source], total, source=source))
    for code, n in sorted(by_concern.items(), key=lambda item: (-item[1], item[0])):
        out.append(count("contacts_by_concern", n, concern=code))
        out.append(share("contacts_by_concern", n, total, concern=code))
    held = ("contacts_by_source", "contacts_by_concern")
    return filters.view("intake", period, out, source=held)


def _source_of(kind: str) -> str:
    return kind if kind in SOURCES else "other"
