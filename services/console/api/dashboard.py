"""The partnership dashboard: how the front door performs over a period, for the hub
manager and the partnership analyst (`measures:read`). Charts a board member reads at a
glance (contacts month by month, where contacts went, the RAG funnel, how long
decisions took, Operation Encompass timeliness), each drawn on the server as SVG with
its table beneath; every other measure in a table; and the exports, CSV and XLSX, with
small numbers suppressed because a download can leave the partnership."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.console.api import web
from services.console.api.dependencies import UoW
from services.console.charts import Bar, bars, columns
from services.console.service.measures import (
    PeriodRefused,
    areas,
    monthly_contacts,
    query_of,
    shares,
)
from services.console.service.sessions import SignedIn
from shared.measures import (
    CATALOGUE,
    SOURCES,
    UK,
    Filters,
    MeasureRow,
    MeasuresView,
    Period,
    filters_of,
    measures_csv,
    measures_xlsx,
    period_of,
)
from shared.people import scopes_of
from shared.uow import UnitOfWork

router = APIRouter(prefix="/console")

RAG_ORDER = ("red", "amber", "green", "blue")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _this_month(uow: UnitOfWork) -> tuple[str, str]:
    """From the first of this month (UK) to the end of today."""
    today = uow.now().astimezone(UK).date()
    return today.replace(day=1).isoformat(), (today + timedelta(days=1)).isoformat()


async def _reader(request: Request, uow: UnitOfWork) -> SignedIn | Response:
    signed = await web.signed_in(request, uow)
    if signed is None:
        return web.sign_in_again()
    if "measures:read" not in scopes_of(signed.person.roles):
        return web.problem_page(
            request,
            signed,
            403,
            "No measures for your role",
            "The partnership measures are for the hub manager and the partnership analyst.",
        )
    return signed


def _period(request: Request, uow: UnitOfWork) -> tuple[Period, Filters] | str:
    """The period, area and source the page asks for, or why they are not ones."""
    first, end = _this_month(uow)
    given = request.query_params
    try:
        period = period_of(given.get("from") or first, given.get("to") or end)
        return period, filters_of(given.get("area"), given.get("source"))
    except RequestValidationError as exc:
        return "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())


def _rows(views: list[MeasuresView], measure: str) -> list[MeasureRow]:
    return [r for view in views for r in view.rows if r.measure == measure]


def _value(rows: list[MeasureRow], statistic: str, **breakdown: str) -> float | None:
    for row in rows:
        if row.statistic == statistic and row.breakdown == breakdown:
            return row.value
    return None


def _sentence(text: str) -> str:
    """`text` with a capital first letter, the rest as written ("MASH" stays)."""
    return text[:1].upper() + text[1:]


def _shown(value: float | None, unit: str = "") -> str:
    if value is None:
        return "none"
    number = f"{value:g}"
    return f"{number}%" if unit == "percent" else number


def _chart(chart_id: str, title: str, items: list[Bar], header: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": chart_id,
        "title": title,
        "svg": bars(chart_id, title, items, table=f'"{title}"'),
        "header": header,
        "rows": [(item.label, item.shown) for item in items],
    }


def _charts(views: list[MeasuresView], trend: list[tuple[Period, int]]) -> list[dict[str, Any]]:
    """The dashboard's charts, each with the rows of its table."""
    months = [Bar(month.first.strftime("%b %y"), total, str(total)) for month, total in trend]
    trend_title = "Contacts month by month"
    charts = [
        {
            "id": "trend",
            "title": trend_title,
            "svg": columns("trend", trend_title, months, table=f'"{trend_title}"'),
            "header": ("Month", "Contacts"),
            "rows": [(bar.label, bar.shown) for bar in months],
        }
    ]
    sources = _rows(views, "contacts_by_source")
    charts.append(
        _chart(
            "sources",
            "Contacts by source",
            [
                Bar(s.capitalize(), n, _shown(n))
                for s in ("police", "school", "other")
                for n in [_value(sources, "count", source=s) or 0]
            ],
            ("Source", "Contacts"),
        )
    )
    outcomes = _rows(views, "outcome_of_contact")
    charts.append(
        _chart(
            "outcomes",
            "Where contacts went",
            [
                Bar(
                    _sentence(r.breakdown["outcome"]),
                    r.value or 0,
                    f"{_shown(r.value)} "
                    f"({_shown(_value(outcomes, 'share', **r.breakdown), 'percent')})",
                )
                for r in outcomes
                if r.statistic == "count" and r.breakdown
            ],
            ("Outcome", "Referrals (share)"),
        )
    )
    decisions = _rows(views, "time_to_decision")
    charts.append(
        _chart(
            "funnel",
            "Threshold decisions by RAG",
            [
                Bar(rag.capitalize(), n, _shown(n), tone=f"rag-{rag}")
                for rag in RAG_ORDER
                for n in [_value(decisions, "count", rag=rag) or 0]
            ],
            ("RAG", "Decisions"),
        )
    )
    charts.append(
        _chart(
            "waits",
            "How long threshold decisions took",
            [
                Bar(_sentence(r.breakdown["waited"]), r.value or 0, _shown(r.value))
                for r in decisions
                if "waited" in r.breakdown
            ],
            ("Time to decision", "Decisions"),
        )
    )
    notices = _rows(views, "encompass_timeliness")
    words = {
        "notified": "In time",
        "notified_late": "Late",
        "missed": "Missed",
        "pending": "Still due",
    }
    charts.append(
        _chart(
            "encompass",
            "Operation Encompass notices before the next school day",
            [
                Bar(text, n, _shown(n))
                for status, text in words.items()
                for n in [_value(notices, "count", status=status) or 0]
            ],
            ("Notices", "Count"),
        )
    )
    return charts


def _tables(views: list[MeasuresView]) -> list[dict[str, Any]]:
    """Every measure's rows, a table each, in the catalogue's order; a measure the area
    or source asked for did not narrow says so."""
    unfiltered = {m for view in views for m in view.unfiltered}
    tables = []
    for measure, definition in CATALOGUE.items():
        rows = _rows(views, measure)
        if not rows:
            continue
        tables.append(
            {
                "title": definition.name,
                "definition": definition.definition,
                "unfiltered": measure in unfiltered,
                "rows": [
                    (
                        "; ".join(f"{k}: {v}" for k, v in r.breakdown.items()) or "all",
                        r.statistic,
                        _shown(r.value, r.unit),
                        r.unit.replace("_", " "),
                    )
                    for r in rows
                ],
            }
        )
    return tables


@router.get("/dashboard")
async def dashboard(request: Request, uow: UoW) -> Response:
    """The partnership's measures for the period asked (default: this month so far)."""
    signed = await _reader(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    asked = _period(request, uow)
    if isinstance(asked, str):
        return web.problem_page(request, signed, 400, "That period is not one", asked)
    period, filters = asked
    services = web.services(request, signed)
    try:
        views = await shares(services, period, filters)
        trend = await monthly_contacts(services, period.end, filters)
    except PeriodRefused:
        return web.problem_page(
            request, signed, 400, "That period is not one", "The services refused the period."
        )
    unfiltered = sorted({CATALOGUE[m].name for v in views for m in v.unfiltered if m in CATALOGUE})
    return web.page(
        request,
        "dashboard.html",
        signed=signed,
        period=period,
        filters=filters,
        areas=await areas(services),
        sources=SOURCES,
        unfiltered=unfiltered,
        last_day=period.end - timedelta(days=1),
        charts=_charts(views, trend),
        tables=_tables(views),
        query=urlencode(query_of(period, filters)),
        below=request.app.state.settings.measures_suppress_below,
    )


async def _export(request: Request, uow: UnitOfWork, kind: str) -> Response:
    signed = await _reader(request, uow)
    if not isinstance(signed, SignedIn):
        return signed
    asked = _period(request, uow)
    if isinstance(asked, str):
        return web.problem_page(request, signed, 400, "That period is not one", asked)
    period, filters = asked
    try:
        views = await shares(web.services(request, signed), period, filters)
    except PeriodRefused:
        return web.problem_page(
            request, signed, 400, "That period is not one", "The services refused the period."
        )
    below = request.app.state.settings.measures_suppress_below
    name = "-".join(
        [
            "signpost-measures",
            *(part for part in (filters.area, filters.source) if part),
            f"{period.first.isoformat()}-to-{period.end.isoformat()}",
        ]
    )
    if kind == "csv":
        response = Response(measures_csv(views, below), media_type="text/csv; charset=utf-8")
    else:
        response = Response(measures_xlsx(views, period, below), media_type=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return web.guard(response)


@router.get("/dashboard/measures.csv")
async def export_csv(request: Request, uow: UoW) -> Response:
    """Every measure for the period as CSV, small numbers suppressed."""
    return await _export(request, uow, "csv")


@router.get("/dashboard/measures.xlsx")
async def export_xlsx(request: Request, uow: UoW) -> Response:
    """Every measure for the period as an XLSX workbook with its definitions."""
    return await _export(request, uow, "xlsx")
