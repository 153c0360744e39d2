"""Triage's share of the partnership measures (docs/measures.md), from its own tables:
how long each referral waited for its threshold decision, counted in the area's working
hours (red round the clock, as its deadline runs), against the policy's deadline;
re-referrals, the referrals about a child with another referral received in the 12
months before; and practitioners' overrides of the level, up or down, by reason.

"The child" is the one triage counted the referral as (its subject: the same matching
and practitioners' verdicts as the chronology). Times are triage's own: `received_at`
from intake's event, `decided_at` and `decide_by` its decision's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from services.triage import repository
from services.triage.deadlines import week_of
from services.triage.models import TriageDecision, TriageOverride
from services.triage.policy import ThresholdPolicy
from services.triage.service import statutory_level
from shared.clock import as_utc
from shared.measures import Filters, MeasureRow, MeasuresView, Period, count, hours, share, spread
from shared.override_reasons import NOT_GIVEN
from shared.uow import UnitOfWork
from shared.working_time import WorkingWeek, working_time

RAGS = ("red", "amber", "green", "blue")
# Red is worked round the clock, so its clock never stops (triage's deadlines agree).
ROUND_THE_CLOCK = "red"
TWELVE_MONTHS = relativedelta(months=12)
# How long decisions took, in bands of hours on each RAG's own clock: the distribution
# a board reads at a glance.
BANDS = (
    ("under 1 hour", 0.0, 1.0),
    ("1 to 4 hours", 1.0, 4.0),
    ("4 to 24 hours", 4.0, 24.0),
    ("24 to 72 hours", 24.0, 72.0),
    ("over 72 hours", 72.0, float("inf")),
)


def waited(week: WorkingWeek, decision: TriageDecision) -> timedelta:
    """From receipt to the decision, on the clock the decision's RAG runs by."""
    received, decided = as_utc(decision.received_at), as_utc(decision.decided_at)
    if decision.decided_priority == ROUND_THE_CLOCK:
        return decided - received
    return working_time(week, received, decided)


def working_day_hours(week: WorkingWeek) -> float:
    """How many hours the area's working day is open."""
    opens = week.opens.hour + week.opens.minute / 60
    closes = week.closes.hour + week.closes.minute / 60
    return closes - opens


def time_to_decision(week: WorkingWeek, decisions: Sequence[TriageDecision]) -> list[MeasureRow]:
    """For each RAG: how many, the median and 90th percentile wait, and the share decided
    by the policy's deadline (of those that had one); and how many waited how long, in
    BANDS."""
    rows: list[MeasureRow] = []
    for rag in RAGS:
        of_rag = [d for d in decisions if d.decided_priority == rag]
        rows.append(count("time_to_decision", len(of_rag), rag=rag))
        waits = [hours(waited(week, d)) for d in of_rag]
        clock = rag == ROUND_THE_CLOCK
        rows += spread("time_to_decision", waits, "hours" if clock else "working_hours", rag=rag)
        # The same waits in (working) days: a working day is the area's opening hours.
        per_day = 24.0 if clock else working_day_hours(week)
        rows += spread(
            "time_to_decision",
            [wait / per_day for wait in waits],
            "days" if clock else "working_days",
            rag=rag,
            measured="days" if clock else "working days",
        )
        timed = [d for d in of_rag if d.decide_by is not None]
        on_time = sum(as_utc(d.decided_at) <= as_utc(d.decide_by) for d in timed if d.decide_by)
        rows.append(share("time_to_decision", on_time, len(timed), rag=rag, within="deadline"))
    waits = [hours(waited(week, d)) for d in decisions]
    for band, low, high in BANDS:
        within = sum(low <= wait < high for wait in waits)
        rows.append(count("time_to_decision", within, waited=band))
    return rows


def re_referrals(
    period: Period, decisions: Sequence[TriageDecision], source: str | None = None
) -> list[MeasureRow]:
    """The referrals received in `period` (from a source of kind `source`, when given)
    about a child with another referral received in the 12 months before it, from any
    source (`decisions` reaches back 12 months before the period)."""
    received: dict[str, list[datetime]] = defaultdict(list)
    for decision in decisions:
        received[decision.subject_key].append(as_utc(decision.received_at))
    in_period = [
        d for d in decisions if period.holds(as_utc(d.received_at)) and from_source(d, source)
    ]
    again = 0
    for decision in in_period:
        at = as_utc(decision.received_at)
        earlier = at - TWELVE_MONTHS
        # Another referral of this child, received in the 12 months before this one.
        if any(earlier <= other < at for other in received[decision.subject_key]):
            again += 1
    return [
        count("re_referrals_12_months", len(in_period)),
        count("re_referrals_12_months", again, referral="re-referral"),
        share("re_referrals_12_months", again, len(in_period), referral="re-referral"),
    ]


def overrides(statutory: int, referrals: int, made: Sequence[TriageOverride]) -> list[MeasureRow]:
    """Practitioners' overrides of the `referrals` received in a period (`made`: every
    override of them, whenever it was made): how many stepped the level up and down;
    each direction by reason code (`NOT_GIVEN` for none); the step-downs from the
    `statutory` level (each approved by a second person: two people); and the share of
    the referrals overridden, a referral overridden more than once counted once."""
    rows: list[MeasureRow] = []
    for direction in ("up", "down"):
        going = [o for o in made if (o.to_level > o.from_level) == (direction == "up")]
        rows.append(count("overrides", len(going), direction=direction))
        reasons = sorted({o.reason_code or NOT_GIVEN for o in going}, key=_not_given_last)
        for reason in reasons:
            n = sum((o.reason_code or NOT_GIVEN) == reason for o in going)
            rows.append(count("overrides", n, direction=direction, reason=reason))
    from_statutory = sum(o.from_level == statutory and o.to_level < o.from_level for o in made)
    rows.append(count("overrides", from_statutory, direction="down", step="from statutory level"))
    overridden = len({o.referral_id for o in made})
    rows.append(share("overrides", overridden, referrals, referral="overridden"))
    return rows


def _not_given_last(reason: str) -> tuple[bool, str]:
    return reason == NOT_GIVEN, reason


async def measures(
    *,
    uow: UnitOfWork,
    period: Period,
    policy: ThresholdPolicy,
    filters: Filters | None = None,
) -> MeasuresView:
    """Triage's share of the partnership measures for `period`, on the area's working
    week (`policy`), narrowed to a source when asked. Triage does not place a child in
    a local authority (routing does): an area leaves its measures unfiltered."""
    filters = filters or Filters()
    since = period.start_at - TWELVE_MONTHS
    decisions = await repository.decisions_received(uow.session, since, period.end_at)
    in_period = [
        d
        for d in decisions
        if period.holds(as_utc(d.received_at)) and from_source(d, filters.source)
    ]
    counted = {d.referral_id for d in in_period}
    made = [
        o
        for o in await repository.overrides_received(uow.session, period.start_at, period.end_at)
        if o.referral_id in counted
    ]
    rows = [
        *time_to_decision(week_of(policy), in_period),
        *re_referrals(period, decisions, filters.source),
        *overrides(statutory_level(policy), len(in_period), made),
    ]
    held = ("time_to_decision", "re_referrals_12_months", "overrides")
    return filters.view("triage", period, rows, source=held)


def from_source(decision: TriageDecision, source: str | None) -> bool:
    """Whether the referral came from a source of kind `source` (None: any); a kind
    other than police or school is "other"."""
    if source is None:
        return True
    kind = decision.source_kind if decision.source_kind in ("police", "school") else "other"
    return kind == source
