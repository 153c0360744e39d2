"""The partnership measures as the dashboard and its exports read them: each service's
share for a period (`GET /v1/measures/<service>`, asked as the signed-in person, who
needs `measures:read`), and contacts month by month for the trend.

The console counts nothing itself: it puts together what the four services counted
from their own tables (docs/measures.md)."""

from __future__ import annotations

import asyncio
from datetime import date

from dateutil.relativedelta import relativedelta

from services.console.gateway import Services
from shared.measures import Filters, MeasuresView, Period
from shared.problems import Problem

SHARES = ("intake", "triage", "routing", "notify")
TREND_MONTHS = 12


class PeriodRefused(Exception):
    """A service found the period (or the area or source) not one it could count (a
    422)."""


def query_of(period: Period, filters: Filters | None = None) -> dict[str, str]:
    """The query a measures request (and a page's links) carry for a period and filters."""
    given = {"from": period.first.isoformat(), "to": period.end.isoformat()}
    if filters and filters.area:
        given["area"] = filters.area
    if filters and filters.source:
        given["source"] = filters.source
    return given


async def share(
    services: Services, service: str, period: Period, filters: Filters | None = None
) -> MeasuresView:
    """One service's share for `period` (narrowed by `filters`), as the person;
    PeriodRefused on a 422, a 503 problem when the service could not answer, a 403
    problem when the person may not read measures."""
    answer = await services.get(service, f"/v1/measures/{service}", **query_of(period, filters))
    if answer.status_code == 422:
        raise PeriodRefused(answer.text)
    if answer.status_code in (401, 403):
        raise Problem(403, "Forbidden", "Your role does not read the partnership measures.")
    if answer.status_code != 200:
        raise Problem(
            503,
            "A service could not answer",
            f"{service.capitalize()} answered {answer.status_code} for the measures; try "
            "again shortly.",
            type="dependency-unavailable",
            headers={"Retry-After": "5"},
        )
    return MeasuresView.model_validate(answer.json())


async def shares(
    services: Services, period: Period, filters: Filters | None = None
) -> list[MeasuresView]:
    """Every service's share for `period` and `filters`, in SHARES order."""
    return list(await asyncio.gather(*(share(services, s, period, filters) for s in SHARES)))


def months_to(end: date, months: int = TREND_MONTHS) -> list[Period]:
    """The `months` calendar months up to the one holding the day before `end`, oldest
    first (a period ending on 1 December ends with November)."""
    last = (end - relativedelta(days=1)).replace(day=1)
    firsts = [last - relativedelta(months=n) for n in range(months - 1, -1, -1)]
    return [Period(first, first + relativedelta(months=1)) for first in firsts]


async def monthly_contacts(
    services: Services, end: date, filters: Filters | None = None
) -> list[tuple[Period, int]]:
    """Contacts (intake's `contacts_by_source`, of the source asked or all) in each of
    the 12 months up to `end`, oldest first."""
    months = months_to(end)
    views = await asyncio.gather(*(share(services, "intake", month, filters) for month in months))
    found = []
    for month, view in zip(months, views, strict=True):
        total = next(
            (
                r.value
                for r in view.rows
                if r.measure == "contacts_by_source" and r.statistic == "count" and not r.breakdown
            ),
            0,
        )
        found.append((month, int(total or 0)))
    return found


async def areas(services: Services) -> list[str]:
    """The local authorities (GSS codes) the directory in force places children in, for
    the dashboard's area filter; none when routing does not answer (the filter then
    takes a typed code)."""
    answer = await services.get("routing", "/v1/directory")
    if answer.status_code != 200:
        return []
    return sorted(answer.json().get("authority_districts") or {})
