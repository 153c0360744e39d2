"""Routing's share of the partnership measures (docs/measures.md), from its own tables:
where each referral was first sent (the outcome of contact) and those closed with no
further action; each agency's declines, escalations past its deadline and the hub's
redirects away from it; and each agency's open referrals against its capacity.

A referral belongs to the period in which routing first routed it (seconds after intake
received it: routing keeps no receipt time of its own)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from services.routing import repository
from services.routing.lifecycle import OPEN_STATUSES
from services.routing.models import RoutingStep
from services.routing.service.directory import current_directory
from shared.events import ReasonCode
from shared.measures import MeasureRow, MeasuresView, Period, count, share
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


async def agency_load(uow: UnitOfWork) -> list[MeasureRow]:
    """Each agency's open referrals now against its capacity in the directory in force."""
    directory = await current_directory(uow)
    held = await repository.open_referrals(uow.session, statuses=sorted(OPEN_STATUSES))
    rows: list[MeasureRow] = []
    for agency in directory.agencies:
        if agency.kind != "agency":
            continue
        open_now = held.get(agency.id, 0)
        rows.append(count("agency_load", open_now, agency=agency.name, figure="open"))
        if agency.capacity is not None:
            rows.append(
                count("agency_load", agency.capacity, agency=agency.name, figure="capacity")
            )
            rows.append(share("agency_load", open_now, agency.capacity, agency=agency.name))
    return rows


async def measures(*, uow: UnitOfWork, period: Period) -> MeasuresView:
    """Routing's share of the partnership measures for `period`."""
    steps = await repository.steps_routed_in(uow.session, period.start_at, period.end_at)
    histories = _by_referral(steps)
    directory = await current_directory(uow)
    names = {agency.id: agency.name for agency in directory.agencies}
    rows = [
        *outcome_of_contact(histories),
        *declines_and_redirects(histories, names),
        *await agency_load(uow),
    ]
    return MeasuresView(
        service="routing", period_from=period.first, period_to=period.end, rows=rows
    )
