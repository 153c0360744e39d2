"""The demo `make run` sets up: keys, and the sink's subscriptions (the school's, which
carries children's details, only when the sink is reachable from this machine alone).
A process serving one service loads none of the others' parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from services.apps import SERVICES, embedded_app
from services.demo.setup import demo_setup
from services.notify.models import WebhookSubscription
from shared.settings import embedded_settings

pytestmark = pytest.mark.app

REPO = Path(__file__).resolve().parents[2]
# What `signpost serve NAME` does before uvicorn starts, in a fresh interpreter: the
# command's parser (every service's commands), then the one service's app.
SERVE = """
import json, sys
from services import cli
cli._parser()
from services.apps import service_app
from shared.settings import Settings
service_app(sys.argv[1], Settings())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("services."))))
"""
# A service's parts the runtime runs, which its `signpost` commands do not need.
PARTS = ("api", "models", "handlers", "loops", "service", "repository")


async def subscriptions_after_demo(tmp_path: Path, base_url: str) -> dict[str, list[str]]:
    data_dir = tmp_path / "var"
    app = embedded_app(
        embedded_settings(data_dir, webhook_allow_private=True),
        on_started=demo_setup(data_dir, base_url),
    )
    async with app.router.lifespan_context(app):
        async with app.state.runtimes["notify"].ctx.db.session() as session:
            rows = (await session.exec(select(WebhookSubscription))).all()
    assert set(json.loads((data_dir / "demo.json").read_text())["keys"]) == {
        "police",
        "school",
        "hub",
        "agency",
        "mash",
    }
    return {row.organisation: row.event_types for row in rows}


async def test_on_loopback_the_demo_school_hears_encompass_notices(tmp_path: Path) -> None:
    subs = await subscriptions_after_demo(tmp_path, "http://127.0.0.1:8000")
    assert subs["100001"] == ["org.signpost.encompass.notice.v1"]
    assert "org.signpost.encompass.alert.v1" in subs["demoshire-hub"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
async def test_on_an_open_address_no_child_details_reach_the_unauthenticated_sink(
    tmp_path: Path, host: str
) -> None:
    subs = await subscriptions_after_demo(tmp_path, f"http://{host}:8000")
    assert "100001" not in subs
    assert "demoshire-hub" in subs  # ids and codes only


async def test_a_later_run_on_an_open_address_drops_the_school_subscription(
    tmp_path: Path,
) -> None:
    assert "100001" in await subscriptions_after_demo(tmp_path, "http://127.0.0.1:8000")
    assert "100001" not in await subscriptions_after_demo(tmp_path, "http://0.0.0.0:8000")


async def test_the_demo_makes_one_console_person_per_role_once_and_keeps_them(
    tmp_path: Path,
) -> None:
    from services.console.models import Person
    from shared.people import ROLES

    data_dir = tmp_path / "var"
    for _ in range(2):  # a later run reuses them
        app = embedded_app(
            embedded_settings(data_dir), on_started=demo_setup(data_dir, "http://127.0.0.1:8000")
        )
        async with app.router.lifespan_context(app):
            async with app.state.runtimes["console"].ctx.db.session() as session:
                people = (await session.exec(select(Person))).all()
            printed = app.state.demo_people
    assert sorted(r for p in people for r in p.roles) == sorted(ROLES)
    assert set(printed) == set(ROLES)
    assert printed["hub_practitioner"]["email"] == "hub@demo.example"
    state = json.loads((data_dir / "demo.json").read_text())
    assert state["people"] == printed
    assert (data_dir / "demo.json").stat().st_mode & 0o077 == 0


async def test_every_kind_of_partner_gets_a_demo_key_that_works_for_its_organisation(
    tmp_path: Path,
) -> None:
    """Police, school, hub, an agency and the MASH: each key authenticates as its demo
    organisation with its kind's scopes; a data folder from before the agency and MASH
    keys gains them on the next run, and keeps the keys it had."""
    from shared.auth import KIND_SCOPES

    data_dir = tmp_path / "var"
    base_url = "http://127.0.0.1:8000"

    async def run_once() -> dict[str, str]:
        app = embedded_app(embedded_settings(data_dir), on_started=demo_setup(data_dir, base_url))
        async with app.router.lifespan_context(app):
            keys: dict[str, str] = app.state.demo_keys
            for label, organisation in (
                ("agency", "demoshire-families"),
                ("mash", "demoshire-mash"),
                ("hub", "demoshire-hub"),
            ):
                principal = await app.state.key_registry.verify(keys[label])
                assert principal is not None, label
                assert principal.organisation == organisation
                assert principal.scopes == frozenset(KIND_SCOPES[principal.kind])
        return dict(keys)

    first = await run_once()
    state = json.loads((data_dir / "demo.json").read_text())
    del state["keys"]["agency"], state["keys"]["mash"]  # as an older release left it
    (data_dir / "demo.json").write_text(json.dumps(state))
    second = await run_once()
    assert second["police"] == first["police"] and second["hub"] == first["hub"]
    assert second["agency"] != first["agency"]  # made anew, and it works (above)


async def test_a_later_run_on_another_port_points_the_demo_sink_subscriptions_at_it(
    tmp_path: Path,
) -> None:
    """`make run PORT=8010` with the ./var of an earlier `make run`: the demo's webhooks
    follow the sink to its new address instead of failing against the old one."""
    data_dir = tmp_path / "var"
    for port in (8000, 8010):
        app = embedded_app(
            embedded_settings(data_dir), on_started=demo_setup(data_dir, f"http://127.0.0.1:{port}")
        )
        async with app.router.lifespan_context(app):
            async with app.state.runtimes["notify"].ctx.db.session() as session:
                urls = {
                    row.id: row.url for row in (await session.exec(select(WebhookSubscription)))
                }
    assert urls == {
        "sub_demo_sink": "http://127.0.0.1:8010/demo/sink/webhook",
        "sub_demo_school_sink": "http://127.0.0.1:8010/demo/sink/webhook",
    }


@pytest.mark.parametrize("name", SERVICES)
def test_a_process_serving_one_service_loads_none_of_the_others_parts(
    name: str, tmp_path: Path
) -> None:
    # Each service process loaded all five before: 22-31 MB it never used.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "MODE": "embedded",
        "DATA_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVE, name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {f"services.{name}.{part}" for part in ("api", "models")} <= loaded
    others = {
        module
        for module in loaded
        for other in SERVICES
        if other != name and module.startswith(f"services.{other}.")
        if module.split(".")[2] in PARTS
    }
    assert others == set()
