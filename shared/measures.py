"""Partnership measures: the one shape every service answers its share of the measures in
(`docs/measures.md` defines each), and what every consumer of them shares.

A measure is a set of rows. Each row is one statistic (a count, a share, a median, a
90th percentile) of one measure for one breakdown (a source kind, a RAG, an agency),
with its unit. Each service computes the rows of the measures it owns from its own
tables (`GET /v1/measures`); the console's dashboard, the CSV and XLSX exports and
`signpost report measures` put the four services' rows together.

Pure functions: the period a request asks for (`period_of`), the statistics (`count`,
`share`, `spread`, `nearest_rank`), and small-number suppression for anything that
leaves the partnership (`suppressed`). Nothing here knows a child: a row's breakdown is
a source kind, a concern code, a level or RAG, a destination kind, an agency or a
partner organisation.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from shared.auth import Principal, requires
from shared.pagination import invalid_query
from shared.spreadsheet import write_csv, write_xlsx

# Counts from 1 to SUPPRESS_BELOW - 1 leave the partnership as "<5" (ONS and DfE
# practice for published children's social care statistics); a zero stays 0.
SUPPRESS_BELOW = 5
# The longest period one request may ask for: a board looks at a year, a trend at a few.
MAX_PERIOD_DAYS = 366 * 5
UK = ZoneInfo("Europe/London")

Statistic = Literal["count", "share", "median", "p90"]
Unit = Literal[
    "referrals",
    "percent",
    "working_hours",
    "hours",
    "working_days",
    "days",
    "notices",
    "deliveries",
]


@dataclass(frozen=True)
class MeasureDefinition:
    """A measure as partnerships report it: its name, what it counts, which service
    counts it, and where the definition comes from."""

    name: str
    definition: str
    counted_by: str
    source: str


# The catalogue, in the order a board reads it (docs/measures.md has the same table).
CATALOGUE: dict[str, MeasureDefinition] = {
    "contacts_by_source": MeasureDefinition(
        "Contacts by source",
        "Reports received in the period, by source kind (police, school, other); the "
        "corrected versions of one report count once.",
        "intake",
        "MASH performance reports (contact sources)",
    ),
    "contacts_by_concern": MeasureDefinition(
        "Contacts by concern category",
        "Reports received in the period, by concern code (a report counts once under each "
        "of its codes).",
        "intake",
        "Working Together 2023; Signpost vocabulary v2",
    ),
    "outcome_of_contact": MeasureDefinition(
        "Outcome of contact (conversion)",
        "Referrals received in the period, by where the first routing decision sent them "
        "(universal services, a single agency, the hub, the MASH, a statutory pathway), "
        "and those closed with no further action; counts and shares.",
        "routing",
        "MASH contact conversion rates; DfE children in need census",
    ),
    "time_to_decision": MeasureDefinition(
        "Timeliness of the threshold decision",
        "Working hours from receipt to triage's decision by RAG (red round the clock): "
        "median, 90th percentile, and the share decided by the policy's deadline.",
        "triage",
        "Working Together 2023 (a decision within one working day); Surrey MASH RAG timescales",
    ),
    "time_to_acceptance": MeasureDefinition(
        "Timeliness of allocation",
        "Hours from receipt to the first accept by the agency, hub or MASH asked, by RAG: "
        "median, 90th percentile, and the share accepted by the response deadline; those "
        "still waiting, and waiting past a deadline.",
        "routing",
        "Early help allocation within the local standard; Surrey MASH RAG timescales",
    ),
    "overrides": MeasureDefinition(
        "Changes to the threshold level",
        "Practitioner overrides of the referrals received in the period, stepped up or "
        "down, by reason; step-downs from the statutory level (two people); and the "
        "share of referrals overridden.",
        "triage",
        "Surrey MASH: staff may raise or lower a rating with a rationale",
    ),
    "re_referrals_12_months": MeasureDefinition(
        "Re-referrals within 12 months",
        "Referrals received in the period about a child with an earlier referral received "
        "within the 12 months before; count and rate.",
        "triage",
        "DfE, Children in need: a focus on re-referrals",
    ),
    "declines_and_redirects": MeasureDefinition(
        "Declines and redirects by agency",
        "For each agency, the referrals received in the period it declined (by reason), "
        "that escalated unanswered past its deadline, and that the hub redirected away.",
        "routing",
        "Primero and findhelp outcome vocabularies",
    ),
    "agency_load": MeasureDefinition(
        "Agency load against capacity",
        "For each agency now: open referrals (requested, accepted, in progress) against "
        "the directory's capacity, as a number and a share.",
        "routing",
        "Open Referral UK service_capacity",
    ),
    "encompass_timeliness": MeasureDefinition(
        "Operation Encompass notifications before the next school day",
        "Notices received in the period notified in time, late and missed (superseded "
        "left out); the share notified in time.",
        "notify",
        "Operation Encompass",
    ),
    "delivery_health": MeasureDefinition(
        "Notification delivery by partner",
        "For each partner organisation, webhook deliveries created in the period: "
        "delivered, delivered at the first attempt, pending and parked.",
        "notify",
        "Standard Webhooks retry schedule",
    ),
}


class MeasureRow(BaseModel):
    """One statistic of one measure for one breakdown."""

    measure: str = Field(description="The measure's id (docs/measures.md).")
    breakdown: dict[str, str] = Field(
        default_factory=dict,
        description='What this row counts within the measure, e.g. {"source": "police"}; '
        "empty for the whole.",
    )
    statistic: Statistic
    value: float | None = Field(
        description="The figure; null when it has no value (a median of nothing, a share of none)."
    )
    unit: Unit
    of: int | None = Field(
        default=None,
        description="For a share: how many it is a share of (the denominator).",
    )
    part: int | None = Field(
        default=None, description="For a share: how many of them (the numerator)."
    )


Source = Literal["police", "school", "other"]
SOURCES: tuple[Source, ...] = ("police", "school", "other")


class MeasuresView(BaseModel):
    """A service's share of the measures for one period (and area and source, if asked)."""

    service: str
    period_from: date = Field(description="The first UK date of the period (inclusive).")
    period_to: date = Field(description="The UK date the period ends before (exclusive).")
    area: str | None = Field(
        default=None, description="The local authority (GSS code) asked for, if any."
    )
    source: Source | None = Field(default=None, description="The source kind asked for, if any.")
    unfiltered: list[str] = Field(
        default_factory=list,
        description=(
            "The measures here that the area or source asked for does not narrow, because "
            "this service does not hold that fact: they count every referral of the period."
        ),
    )
    rows: list[MeasureRow]


@dataclass(frozen=True)
class Period:
    """From the start of one UK date (inclusive) to the start of another (exclusive), as
    UTC instants for the queries."""

    first: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UK).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(0), tzinfo=UK).astimezone(UTC)

    def holds(self, at: datetime) -> bool:
        return self.start_at <= at < self.end_at


def period_of(first: str, end: str, *, names: tuple[str, str] = ("from", "to")) -> Period:
    """The period two query parameters give, each a UK date (`2026-11-01`); a 422 naming
    the parameter that is not a date, `to` when it is not after `from`, or when the
    period is longer than MAX_PERIOD_DAYS."""
    parsed: list[date] = []
    for name, text in zip(names, (first, end), strict=True):
        try:
            parsed.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise invalid_query(name, "must be a date (YYYY-MM-DD)", "date") from None
    start, stop = parsed
    if stop <= start:
        raise invalid_query(names[1], f"must be after {names[0]}", "range_reversed")
    if (stop - start).days > MAX_PERIOD_DAYS:
        raise invalid_query(
            names[1], f"the period may be at most {MAX_PERIOD_DAYS} days", "range_too_long"
        )
    return Period(start, stop)


def _period(
    first: Annotated[
        str, Query(alias="from", description="The period's first UK date (YYYY-MM-DD).")
    ],
    end: Annotated[
        str,
        Query(alias="to", description="The UK date the period ends before (YYYY-MM-DD)."),
    ],
) -> Period:
    return period_of(first, end)


# A measures route's period: `from` (inclusive) and `to` (exclusive), UK dates; a 422
# naming either when it is not a date, or `to` when the period is empty or too long.
PeriodQuery = Annotated[Period, Depends(_period)]

# A GSS local authority code: a country letter and eight digits (E06000001).
_GSS = re.compile(r"[EWSN]\d{8}")


@dataclass(frozen=True)
class Filters:
    """What a request narrows the measures to, beyond the period: the child's local
    authority (a GSS code, the one routing placed the referral in) and the source kind
    of the report. None is every one."""

    area: str | None = None
    source: Source | None = None

    def view(
        self, service: str, period: Period, rows: list[MeasureRow], **held: Iterable[str]
    ) -> MeasuresView:
        """A service's share as it answers: `held` names, for `area` and `source`, the
        measures that filter narrowed; the others in `rows` are listed as unfiltered
        when that filter was asked for."""
        measures = list(dict.fromkeys(row.measure for row in rows))
        narrowed = {name: set(held.get(name, ())) for name in ("area", "source")}
        unfiltered = [
            measure
            for measure in measures
            if (self.area and measure not in narrowed["area"])
            or (self.source and measure not in narrowed["source"])
        ]
        return MeasuresView(
            service=service,
            period_from=period.first,
            period_to=period.end,
            area=self.area,
            source=self.source,
            unfiltered=unfiltered,
            rows=rows,
        )


def filters_of(area: str | None, source: str | None) -> Filters:
    """The filters two query parameters give; a 422 naming `area` when it is not a GSS
    local authority code, or `source` when it is not a source kind."""
    code = (area or "").strip().upper() or None
    if code is not None and not _GSS.fullmatch(code):
        raise invalid_query("area", "must be a GSS local authority code, e.g. E06000001", "area")
    kind = (source or "").strip().lower() or None
    if kind is not None and kind not in SOURCES:
        raise invalid_query("source", f"must be one of {', '.join(SOURCES)}", "source")
    return Filters(area=code, source=kind)


def _filters(
    area: Annotated[
        str | None,
        Query(description="Only referrals about a child of this local authority (GSS code)."),
    ] = None,
    source: Annotated[
        str | None,
        Query(description="Only reports from this kind of source: police, school or other."),
    ] = None,
) -> Filters:
    return filters_of(area, source)


# A measures route's optional narrowing: `area` and `source`; a 422 naming either when
# it is not one.
FiltersQuery = Annotated[Filters, Depends(_filters)]


# ------------------------------------------------------------------ statistics


def count(measure: str, value: int, unit: Unit = "referrals", **breakdown: str) -> MeasureRow:
    return MeasureRow(
        measure=measure, breakdown=breakdown, statistic="count", value=value, unit=unit
    )


def share(measure: str, part: int, whole: int, **breakdown: str) -> MeasureRow:
    """`part` of `whole` as a percentage to one decimal place (null of none)."""
    value = round(100 * part / whole, 1) if whole else None
    return MeasureRow(
        measure=measure,
        breakdown=breakdown,
        statistic="share",
        value=value,
        unit="percent",
        of=whole,
        part=part,
    )


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0 < q <= 1) by the nearest-rank method: the smallest value
    with at least `q` of the values at or below it; None of no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def spread(measure: str, values: Sequence[float], unit: Unit, **breakdown: str) -> list[MeasureRow]:
    """The median and 90th percentile of `values`, each to two decimal places."""
    rows = []
    quantiles: tuple[tuple[Statistic, float], ...] = (("median", 0.5), ("p90", 0.9))
    for statistic, q in quantiles:
        found = nearest_rank(values, q)
        rows.append(
            MeasureRow(
                measure=measure,
                breakdown=breakdown,
                statistic=statistic,
                value=None if found is None else round(found, 2),
                unit=unit,
            )
        )
    return rows


def hours(duration: timedelta) -> float:
    return duration.total_seconds() / 3600


# ------------------------------------------------------------------ leaving the partnership


def suppressed(value: int | None, below: int = SUPPRESS_BELOW) -> int | str | None:
    """A count as it may leave the partnership: 1 to `below` - 1 as "<`below`"."""
    if value is None or value == 0 or value >= below:
        return value
    return f"<{below}"


def published(rows: Iterable[MeasureRow], below: int = SUPPRESS_BELOW) -> list[dict[str, object]]:
    """The rows as they may leave the partnership: each count from 1 to `below` - 1
    shown as "<`below`", and each share whose numerator or denominator is so small
    withheld as "<`below`" too (a share of a suppressed count would give it away)."""
    out: list[dict[str, object]] = []
    for row in rows:
        shown: object = row.value
        if row.statistic == "count" and row.value is not None:
            shown = suppressed(int(row.value), below)
        elif row.statistic == "share" and (
            suppressed(row.part, below) != row.part or suppressed(row.of, below) != row.of
        ):
            shown = f"<{below}"
        out.append({**row.model_dump(exclude={"value", "of", "part"}), "value": shown})
    return out


# ------------------------------------------------------------------ the route

# Each service answers at its own path, so the four share one app in embedded mode.


def measures_router(
    service: str, uow: Any, compute: Callable[..., Awaitable[MeasuresView]], **given: Any
) -> APIRouter:
    """`GET /measures/<service>` (each service includes it under `/v1`): its share of the
    partnership measures for the period asked, `compute(uow=..., period=..., **given)`
    over the service's own tables, for the hub manager, the partnership analyst, the
    hub's keys and administrators (`measures:read`), narrowed by `filters=...` (area
    and source) where the service holds those facts. `uow` is the service's
    unit-of-work dependency; `given` names any other dependency `compute` needs (triage:
    its threshold policy)."""
    router = APIRouter(tags=["measures"])

    async def get_measures(**arguments: Any) -> MeasuresView:
        arguments.pop("principal")
        return await compute(**arguments)

    # FastAPI reads a route's parameters from its signature: this one's are built here,
    # with each dependency as a real object.
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(
            "principal", keyword, annotation=Annotated[Principal, requires("measures:read")]
        ),
        inspect.Parameter("uow", keyword, annotation=uow),
        inspect.Parameter("period", keyword, annotation=PeriodQuery),
        inspect.Parameter("filters", keyword, annotation=FiltersQuery),
        *(inspect.Parameter(name, keyword, annotation=kind) for name, kind in given.items()),
    ]
    get_measures.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=MeasuresView
    )
    router.add_api_route(
        f"/measures/{service}",
        get_measures,
        methods=["GET"],
        response_model=MeasuresView,
        summary=f"{service.capitalize()}'s share of the partnership measures for a period",
        description=(
            "The measures this service counts (docs/measures.md), for referrals received "
            "from `from` (inclusive) to `to` (exclusive), UK dates, optionally about "
            "children of one local authority (`area`, a GSS code) or from one kind of "
            "source (`source`): counts, shares, medians and 90th percentiles, each row "
            "with its breakdown and unit; `unfiltered` names the measures this service "
            "cannot narrow that way (it does not hold the fact). Exact "
            "figures, for the partnership itself: anything published suppresses counts "
            "under 5. Nothing about any one child. A `from` or `to` that is not a date, "
            "or a period that is empty or longer than five years, or an `area` or `source` "
            "that is not one, is a 422 naming it."
        ),
    )
    return router


# ------------------------------------------------------------------ exports

EXPORT_HEADER = ("service", "measure", "name", "breakdown", "statistic", "value", "unit")
DEFINITIONS_HEADER = ("measure", "name", "definition", "counted by", "source")


def _breakdown(row: dict[str, object]) -> str:
    parts = row["breakdown"]
    assert isinstance(parts, dict)
    return "; ".join(f"{k}: {v}" for k, v in parts.items()) or "all"


def export_rows(views: Sequence[MeasuresView], below: int = SUPPRESS_BELOW) -> list[list[object]]:
    """Every row of every service's share as it may leave the partnership (`published`):
    one line each, the measure named as partnerships name it."""
    lines: list[list[object]] = []
    for view in views:
        for row in published(view.rows, below):
            measure = str(row["measure"])
            known = CATALOGUE.get(measure)
            lines.append(
                [
                    view.service,
                    measure,
                    known.name if known else measure,
                    _breakdown(row),
                    row["statistic"],
                    row["value"],
                    row["unit"],
                ]
            )
    return lines


def definitions() -> list[list[object]]:
    """The catalogue, one line a measure: the workbook's definitions sheet."""
    return [
        [measure, d.name, d.definition, d.counted_by, d.source] for measure, d in CATALOGUE.items()
    ]


def measures_csv(views: Sequence[MeasuresView], below: int = SUPPRESS_BELOW) -> str:
    """Every measure as CSV (`shared.spreadsheet`: no cell can be a formula)."""
    return write_csv(EXPORT_HEADER, export_rows(views, below))


def coverage(views: Sequence[MeasuresView]) -> list[Sequence[object]]:
    """What the figures cover beyond the period: the area and source asked for, and the
    measures they did not narrow (the service does not hold that fact)."""
    first = views[0] if views else None
    unfiltered = [f"{v.service}: {m}" for v in views for m in v.unfiltered]
    return [
        ["Area (local authority)", first.area if first and first.area else "all"],
        ["Source", first.source if first and first.source else "all"],
        ["Not narrowed by area or source", "; ".join(unfiltered) or "none"],
    ]


def measures_xlsx(
    views: Sequence[MeasuresView], period: Period, below: int = SUPPRESS_BELOW
) -> bytes:
    """Every measure as an XLSX workbook: the measures, their definitions, and what the
    figures cover (the period, the area and source, and the suppression applied)."""
    about: list[Sequence[object]] = [
        ["Period from (inclusive)", period.first.isoformat()],
        ["Period to (exclusive)", period.end.isoformat()],
        *coverage(views),
        ["Small numbers", f"counts from 1 to {below - 1} are shown as <{below}"],
        ["Definitions", "docs/measures.md; the Definitions sheet"],
    ]
    return write_xlsx(
        [
            ("Measures", EXPORT_HEADER, export_rows(views, below)),
            ("Definitions", DEFINITIONS_HEADER, definitions()),
            ("About", ("item", "value"), about),
        ]
    )
