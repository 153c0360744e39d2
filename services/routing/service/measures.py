"""Routing's share of the partnership measures (docs/measures.md), from its own tables:
where each referral was first sent (the outcome of contact) and those closed with no
further action; each agency's declines, escalations past its deadline and the hub's
redirects away from it; and each agency's open referrals against its capacity.

A referral belongs to the period in which intake received it: routing keeps the receipt
time from `referral.triaged` (a referral routed before it did counts by when it was
first routed, seconds later). Routing also keeps the local authority it placed the child
in and the report's kind of source, so every measure here can be narrowed by area and
source (agency load, a count "now" of every open referral, by area only: the agencies
serving it).

Time to acceptance runs on the clock, as routing's response deadlines do (an agency's
`response_hours`), so "took 30 hours" and "late" never disagree."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from services.routing import repository
from services.routing.directory import Agency, Directory
from services.routing.models import RoutingDeadline, RoutingDecision, RoutingStep
from services.routing.service.directory import current_directory
from shared.clock import as_utc
from shared.events import ReasonCode
from shared.measures import (
    Filters,
    MeasureRow,
    MeasuresView,
    Period,
    count,
    hours,
    share,
    spread,
)
from shared.uow import UnitOfWork

# Where a referral can first go, as a board reads it (routing's destination kinds).
OUTCOMES = {
    "universal": "universal services",
    "agency": "single agency (early help)",
    "hub": "early intervention hub",
    "mash": "MASH",
    "pathway": "statutory pathway",
}
# The hub moved a referral on from where it was.
REDIRECTS = frozenset({ReasonCode.REASSIGNED_BY_HUB.value, ReasonCode.OVERRIDDEN_BY_HUB.value})
NO_FURTHER_ACTION = "no_further_action"
RAGS = ("red", "amber", "green", "blue")
# Where a referral is asked of someone who accepts or declines it.
ANSWERING = frozenset({"agency", "hub", "mash"})


def _by_referral(steps: Sequence[RoutingStep]) -> list[list[RoutingStep]]:
    histories: dict[str, list[RoutingStep]] = defaultdict(list)
    for step in steps:
        histories[step.referral_id].append(step)
    return list(histories.values())


def outcome_of_contact(histories: list[list[RoutingStep]]) -> list[MeasureRow]:
    """Where each referral was first sent, and those closed with no further action."""
    total = len(histories)
    first = Counter(history[0].destination_kind or "universal" for history in histories)
    closed_nfa = sum(
        any(s.status == "completed" and s.reason_code == NO_FURTHER_ACTION for s in history)
        for history in histories
    )
    rows = [count("outcome_of_contact", total)]
    for kind, words in OUTCOMES.items():
        rows.append(count("outcome_of_contact", first[kind], outcome=words))
        rows.append(share("outcome_of_contact", first[kind], total, outcome=words))
    rows.append(count("outcome_of_contact", closed_nfa, outcome="no further action"))
    rows.append(share("outcome_of_contact", closed_nfa, total, outcome="no further action"))
    return rows


def declines_and_redirects(
    histories: list[list[RoutingStep]], names: dict[str, str]
) -> list[MeasureRow]:
    """For each agency that received a referral: how many it received, declined, let
    pass its deadline unanswered, and had redirected away from it by the hub."""
    received: dict[str, set[str]] = defaultdict(set)
    declined: Counter[tuple[str, str]] = Counter()
    escalated: Counter[str] = Counter()
    redirected: Counter[str] = Counter()
    for history in histories:
        for before, step in zip([None, *history[:-1]], history, strict=True):
            if step.destination_kind == "agency" and step.destination_id:
                received[step.destination_id].add(step.referral_id)
            if step.status == "rejected" and step.destination_id:
                declined[(step.destination_id, step.reason_code or "unknown")] += 1
            held = before.destination_id if before and before.destination_kind == "agency" else None
            if held is None:
                continue
            if step.reason_code == ReasonCode.NO_RESPONSE_WITHIN_SLA.value:
                escalated[held] += 1
            elif step.reason_code in REDIRECTS and step.destination_id != held:
                redirected[held] += 1
    rows: list[MeasureRow] = []
    for agency in sorted(received):
        name = names.get(agency, agency)
        whole = len(received[agency])
        rows.append(count("declines_and_redirects", whole, agency=name, step="received"))
        reasons = {reason: n for (a, reason), n in declined.items() if a == agency}
        total_declined = sum(reasons.values())
        rows.append(count("declines_and_redirects", total_declined, agency=name, step="declined"))
        rows.append(
            share("declines_and_redirects", total_declined, whole, agency=name, step="declined")
        )
        for reason, n in sorted(reasons.items()):
            rows.append(
                count("declines_and_redirects", n, agency=name, step="declined", reason=reason)
            )
        for step_name, counted in (("escalated", escalated), ("redirected", redirected)):
            rows.append(
                count("declines_and_redirects", counted[agency], agency=name, step=step_name)
            )
            rows.append(
                share("declines_and_redirects", counted[agency], whole, agency=name, step=step_name)
            )
    return rows


def _accepted(history: Sequence[RoutingStep]) -> RoutingStep | None:
    return next((step for step in history if step.status == "accepted"), None)


def _due(deadlines: Sequence[RoutingDeadline], accepted: RoutingStep) -> datetime | None:
    """The response deadline an accept is judged against: the accepting destination's
    newest clock started at or before the accept; or, when it had none (the hub took
    the referral on after an agency's clock ran out), the newest clock started before
    it, which it missed. None when no clock ever ran (straight to the hub or MASH)."""
    started = [d for d in deadlines if as_utc(d.created_at) <= as_utc(accepted.at)]
    own = [d for d in started if d.destination_id == accepted.destination_id]
    chosen = own or started
    return as_utc(max(chosen, key=lambda d: as_utc(d.created_at)).due_at) if chosen else None


def received(decision: RoutingDecision, history: Sequence[RoutingStep]) -> datetime:
    """When intake received the referral, or (routed before routing kept it) when it
    was first routed."""
    return as_utc(decision.received_at or history[0].at)


def time_to_acceptance(
    decisions: Sequence[RoutingDecision],
    histories: dict[str, list[RoutingStep]],
    deadlines: Sequence[RoutingDeadline],
    now: datetime,
) -> list[MeasureRow]:
    """For each RAG, of the referrals asked of an agency, the hub or the MASH: how many;
    hours from receipt to the first accept (median, 90th percentile); the share accepted
    by the response deadline in force (of those accepted with one); and those still
    waiting for an answer, and still waiting past their deadline."""
    clocks: dict[str, list[RoutingDeadline]] = defaultdict(list)
    for deadline in deadlines:
        clocks[deadline.referral_id].append(deadline)
    rows: list[MeasureRow] = []
    for rag in RAGS:
        asked = [
            d
            for d in decisions
            if d.priority == rag
            and any(s.destination_kind in ANSWERING for s in histories.get(d.referral_id, ()))
        ]
        took: list[float] = []
        timed = on_time = waiting = late = 0
        for decision in asked:
            history = histories[decision.referral_id]
            accepted = _accepted(history)
            if accepted is None:
                if decision.status == "requested":
                    waiting += 1
                    # Past its deadline: the one it waits on now, or one an agency let
                    # run out before it was escalated.
                    dues = [d.due_at for d in clocks[decision.referral_id]]
                    dues += [decision.respond_by] if decision.respond_by else []
                    late += any(as_utc(due) < now for due in dues)
                continue
            took.append(hours(as_utc(accepted.at) - received(decision, history)))
            due = _due(clocks[decision.referral_id], accepted)
            if (
                due is None
                and decision.respond_by
                and (accepted.destination_id == decision.destination_id)
            ):
                # Straight to the hub or the MASH, no agency clock: judged against the
                # respond_by it was given there.
                due = as_utc(decision.respond_by)
            if due is not None:
                timed += 1
                on_time += as_utc(accepted.at) <= due
        rows.append(count("time_to_acceptance", len(asked), rag=rag))
        rows.append(count("time_to_acceptance", len(took), rag=rag, step="accepted"))
        rows += spread("time_to_acceptance", took, "hours", rag=rag)
        rows.append(share("time_to_acceptance", on_time, timed, rag=rag, within="deadline"))
        rows.append(count("time_to_acceptance", waiting, rag=rag, step="waiting"))
        rows.append(count("time_to_acceptance", late, rag=rag, step="waiting past deadline"))
    return rows


def serves(directory: Directory, agency: Agency, area: str) -> bool:
    """Whether the agency's catchment takes in local authority `area`: everywhere (no
    catchment), the authority itself, or one of its postcode districts."""
    if not agency.postcode_districts and not agency.local_authority_codes:
        return True
    districts = set(directory.authority_districts.get(area, ()))
    return area in agency.local_authority_codes or bool(districts & set(agency.postcode_districts))


async def agency_load(uow: UnitOfWork, area: str | None = None) -> list[MeasureRow]:
    """Each agency's open referrals now against its capacity in the directory in force
    (with `area`: the agencies serving that local authority)."""
    directory = await current_directory(uow)
    held = await repository.open_referrals(uow.session)
    rows: list[MeasureRow] = []
    for agency in directory.agencies:
        if agency.kind != "agency" or (area is not None and not serves(directory, agency, area)):
            continue
        open_now = held.get(agency.id, 0)
        rows.append(count("agency_load", open_now, agency=agency.name, figure="open"))
        if agency.capacity is not None:
            rows.append(
                count("agency_load", agency.capacity, agency=agency.name, figure="capacity")
            )
            rows.append(share("agency_load", open_now, agency.capacity, agency=agency.name))
    return rows


async def measures(
    *, uow: UnitOfWork, period: Period, filters: Filters | None = None
) -> MeasuresView:
    """Routing's share of the partnership measures for `period`, narrowed to an area
    and a source when asked."""
    filters = filters or Filters()
    held = await repository.received_in(
        uow.session, period.start_at, period.end_at, area=filters.area, source=filters.source
    )
    histories = _by_referral(held.steps)
    directory = await current_directory(uow)
    names = {agency.id: agency.name for agency in directory.agencies}
    by_id = {history[0].referral_id: history for history in histories}
    rows = [
        *outcome_of_contact(histories),
        *time_to_acceptance(held.decisions, by_id, held.deadlines, uow.now()),
        *declines_and_redirects(histories, names),
        *await agency_load(uow, filters.area),
    ]
    per_referral = ("outcome_of_contact", "time_to_acceptance", "declines_and_redirects")
    return filters.view(
        "routing", period, rows, area=(*per_referral, "agency_load"), source=per_referral
    )
