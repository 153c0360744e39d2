"""Notify's share of the partnership measures: Operation Encompass notices told in time,
late and missed (superseded ones left out), and each partner's webhook deliveries by
how they stand; and the route that answers them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from services.notify.models import Delivery, EncompassNoticeRecord
from services.notify.service.measures import delivery_health, encompass_timeliness
from tests.services.conftest import Signpost, bearer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 8, 45, tzinfo=UTC)


def notice(
    *, notified: datetime | None = None, due: datetime = DUE, superseded: bool = False
) -> EncompassNoticeRecord:
    # Only what the measures read (a pure function's input, not a stored row).
    row = SimpleNamespace(
        notify_by=due, notified_at=notified, superseded_by="enc_2" if superseded else None
    )
    return cast(EncompassNoticeRecord, row)


def delivery(status: str, attempts: int) -> Delivery:
    return cast(Delivery, SimpleNamespace(status=status, attempts=attempts))


def figure(rows: list[Any], statistic: str, **breakdown: str) -> Any:
    [found] = [r.value for r in rows if r.statistic == statistic and r.breakdown == breakdown]
    return found


def test_encompass_notices_are_in_time_late_missed_or_still_due() -> None:
    notices = [
        notice(notified=DUE - timedelta(hours=10)),
        notice(notified=DUE - timedelta(minutes=1)),
        notice(notified=DUE + timedelta(minutes=30)),  # late
        notice(),  # missed: the deadline has passed
        notice(due=NOW + timedelta(hours=20)),  # still due tomorrow morning
        notice(superseded=True),  # replaced by a corrected report: not counted
    ]

    rows = encompass_timeliness(notices, NOW)

    assert figure(rows, "count") == 5
    assert figure(rows, "count", status="notified") == 2
    assert figure(rows, "count", status="notified_late") == 1
    assert figure(rows, "count", status="missed") == 1
    assert figure(rows, "count", status="pending") == 1
    # In time of those whose deadline has come (2 of 4); the one still due is not late yet.
    assert figure(rows, "share", status="notified") == 50.0


def test_delivery_health_is_per_partner() -> None:
    deliveries = [
        (delivery("delivered", 1), "safe-homes"),
        (delivery("delivered", 3), "safe-homes"),
        (delivery("parked", 8), "safe-homes"),
        (delivery("pending", 1), "safe-homes"),
        (delivery("delivered", 1), "100001"),
    ]

    rows = delivery_health(deliveries)

    assert figure(rows, "count", partner="safe-homes") == 4
    assert figure(rows, "count", partner="safe-homes", status="delivered") == 2
    assert figure(rows, "count", partner="safe-homes", status="first attempt") == 1
    assert figure(rows, "count", partner="safe-homes", status="parked") == 1
    assert figure(rows, "share", partner="safe-homes") == 50.0
    assert figure(rows, "share", partner="100001") == 100.0


async def test_the_route_answers_notifys_share_for_the_period(signpost: Signpost) -> None:
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))

    answer = await signpost.client.get(
        "/v1/measures/notify", params={"from": "2026-11-01", "to": "2026-12-01"}, headers=analyst
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["service"] == "notify"
    assert {r["measure"] for r in body["rows"]} == {"encompass_timeliness"}  # nothing sent
    assert [r["value"] for r in body["rows"] if r["statistic"] == "count"] == [0, 0, 0, 0, 0]


async def test_notify_says_an_area_does_not_narrow_its_measures(signpost: Signpost) -> None:
    """Notify does not know a notice's local authority: asked for an area, it answers
    every notice of the period and names the measure as not narrowed."""
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))

    answer = await signpost.client.get(
        "/v1/measures/notify",
        params={"from": "2026-11-01", "to": "2026-12-01", "area": "E06099001", "source": "police"},
        headers=analyst,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["unfiltered"] == ["encompass_timeliness"]
