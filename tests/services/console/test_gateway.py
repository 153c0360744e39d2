"""The console's calls to the services: `Services.get_all` reads a list to its last page
by following each `Link: rel="next"`, and hands back a refusal as the service gave it;
a service that cannot be reached is a 503 with Retry-After."""

from __future__ import annotations

import pytest

from services.console import gateway
from services.console.gateway import Services, app_of
from services.console.service.people import create_person
from services.console.settings import settings_of
from shared.problems import Problem
from shared.runtime import ServiceContext
from tests.services.conftest import Signpost
from tests.services.console.conftest import PASSWORD
from tests.services.console.test_pages import statutory_report


async def as_officer(sp: Signpost) -> Services:
    """The services called as a police officer of the demo force."""
    ctx: ServiceContext = sp.app.state.runtimes["console"].ctx
    async with ctx.units.begin() as uow:
        row = await create_person(
            uow=uow,
            email="pc@demo.example",
            name="PC Lee Morgan",
            organisation="demo-police",
            roles=["referrer"],
            password=PASSWORD,
        )
    return Services.for_app(app_of(ctx), settings_of(ctx), row)


async def test_get_all_follows_every_page_to_the_last(sp: Signpost) -> None:
    reports = [await statutory_report(sp, reference=f"ST-{n}") for n in range(3)]
    services = await as_officer(sp)

    one_page = await services.get("intake", "/v1/reports", limit=1)
    every = await services.get_all("intake", "/v1/reports", limit=1)

    assert len(one_page.json()) == 1 and "link" in one_page.headers
    assert every.status_code == 200
    assert sorted(r["referral_id"] for r in every.json()) == sorted(reports)


async def test_get_all_hands_back_a_refusal_as_the_service_gave_it(sp: Signpost) -> None:
    services = await as_officer(sp)

    refused = await services.get_all("intake", "/v1/reports", cursor="not-a-cursor")

    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["cursor"]


async def test_get_all_stops_after_its_most_pages(
    sp: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await statutory_report(sp, reference=f"ST-{n}")
    services = await as_officer(sp)
    monkeypatch.setattr(gateway, "MAX_PAGES", 2)

    capped = await services.get_all("intake", "/v1/reports", limit=1)

    assert capped.status_code == 200 and len(capped.json()) == 2


async def test_a_service_that_cannot_be_reached_is_a_503_with_retry_after(sp: Signpost) -> None:
    """Distributed mode, the intake service's port closed: the page gets a 503 to try
    again, never a 500."""
    services = await as_officer(sp)
    services._embedded = False
    services._settings = services._settings.model_copy(
        update={"console_intake_url": "http://127.0.0.1:9"}
    )

    for call in (
        services.get("intake", "/v1/reports"),
        services.get_all("intake", "/v1/reports"),
        services.post("intake", "/v1/reports", {}),
        services.post_content("intake", "/v1/x", b"", media_type="text/plain", timeout=5),
    ):
        with pytest.raises(Problem) as refused:
            await call
        assert refused.value.status == 503
        assert refused.value.headers == {"Retry-After": "5"}
