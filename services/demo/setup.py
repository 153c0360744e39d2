"""First run of the embedded demo: demo keys for each kind of partner (police, school,
hub, an agency and the MASH), the hub's and the demo school's subscriptions to the demo
webhook sink, and one console person for each role; later runs reuse them, add what an
older data folder lacks, and re-point the sink subscriptions at this run's address."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI

from services.console.passwords import generated_password
from services.console.service.people import create_person
from services.demo.sink import DemoSink
from services.notify.service import subscriptions
from services.notify.webhooks import new_secret
from shared.auth import KIND_SCOPES, ClientKind, KeyRegistry

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
HUB_EVENTS = [
    "org.signpost.referral.routed.v1",
    "org.signpost.referral.status.v1",
    "org.signpost.referral.pathway.v1",
    "org.signpost.encompass.alert.v1",
]
SCHOOL_EVENTS = ["org.signpost.encompass.notice.v1"]
# The demo's subscriptions to its own sink (the hub's; the demo school's on loopback).
DEMO_SUBSCRIPTIONS = ("sub_demo_sink", "sub_demo_school_sink")

# The demo's keys, one for each kind of partner: label → (kind, organisation). Each gets
# its kind's scopes (shared.auth.KIND_SCOPES). The agency and the MASH are the demo
# directory's `demoshire-families` and `demoshire-mash`.
DEMO_KEYS: dict[str, tuple[ClientKind, str]] = {
    "police": (ClientKind.POLICE, "demo-police"),
    "school": (ClientKind.SCHOOL, "100001"),
    "hub": (ClientKind.HUB, "demoshire-hub"),
    "agency": (ClientKind.AGENCY, "demoshire-families"),
    "mash": (ClientKind.AGENCY, "demoshire-mash"),
}


# One demo person for each role of the console: (role, email, name, organisation).
DEMO_PEOPLE = [
    ("hub_practitioner", "hub@demo.example", "Sam Hale", "demoshire-hub"),
    ("hub_manager", "manager@demo.example", "Morgan Lee", "demoshire-hub"),
    ("mash_practitioner", "mash@demo.example", "Priya Shah", "demoshire-mash"),
    ("agency_worker", "agency@demo.example", "Jo Bright", "demoshire-families"),
    ("school_dsl", "dsl@demo.example", "Alex Reed", "100001"),
    ("referrer", "police@demo.example", "PC Lee Morgan", "demo-police"),
    ("partnership_analyst", "analyst@demo.example", "Kim Ward", "demoshire-partnership"),
    ("admin", "admin@demo.example", "Ravi Patel", "demoshire-partnership"),
]


async def demo_people(app: FastAPI) -> dict[str, dict[str, str]]:
    """The console's demo people, one per role, with generated passwords: by role,
    their email and password (kept in the demo's state file, 0600, to print again)."""
    people: dict[str, dict[str, str]] = {}
    async with app.state.runtimes["console"].ctx.units.begin() as uow:
        for role, email, name, organisation in DEMO_PEOPLE:
            password = generated_password()
            await create_person(
                uow=uow,
                email=email,
                name=name,
                organisation=organisation,
                roles=[role],
                password=password,
            )
            people[role] = {"email": email, "password": password}
    return people


def demo_setup(data_dir: Path, base_url: str) -> Callable[[FastAPI], Awaitable[None]]:
    """First run: demo keys, and hub and school subscriptions to the demo sink; later runs
    reuse them."""

    async def setup(app: FastAPI) -> None:
        state_file = data_dir / "demo.json"
        sink_url = f"{base_url}/demo/sink/webhook"
        registry: KeyRegistry = app.state.key_registry
        if state_file.exists():
            state = json.loads(state_file.read_text())
            # The sink is where this run serves it (another port, say); and a release
            # before the demo's subscriptions were marked left them unmarked.
            async with app.state.runtimes["notify"].ctx.units.begin() as uow:
                for subscription_id in DEMO_SUBSCRIPTIONS:
                    await subscriptions.keep_local_target(
                        uow=uow, subscription_id=subscription_id, url=sink_url
                    )
        else:
            secret = new_secret()
            # The hub hears referral events and Encompass alerts at the sink; the demo
            # school's DSL hears Operation Encompass notices there too (they name a
            # child: only when the sink is reachable from this machine alone, since
            # GET /demo/sink needs no key).
            hub_sub, school_sub = DEMO_SUBSCRIPTIONS
            subscribers = [(hub_sub, "demoshire-hub", "hub", HUB_EVENTS)]
            if urlsplit(base_url).hostname in LOOPBACK_HOSTS:
                subscribers.append((school_sub, "100001", "school", SCHOOL_EVENTS))
            async with app.state.runtimes["notify"].ctx.units.begin() as uow:
                for subscription_id, organisation, client_kind, event_types in subscribers:
                    await subscriptions.create(
                        uow=uow,
                        organisation=organisation,
                        client_kind=client_kind,
                        client_id="demo",
                        url=sink_url,
                        event_types=event_types,
                        # The demo's own sink, on this machine: these subscriptions
                        # alone may reach it; every other keeps the SSRF guard.
                        local_target=True,
                        allow_private=False,
                        allow_http=False,
                        subscription_id=subscription_id,
                        secret=secret,
                    )
            state = {"keys": {}, "sink_secret": secret}
            state_file.write_text(json.dumps(state, indent=2))
            state_file.chmod(0o600)
        if urlsplit(base_url).hostname not in LOOPBACK_HOSTS:
            # A later run on an open address: the school's notices (they name a child)
            # must not reach the unauthenticated sink.
            async with app.state.runtimes["notify"].ctx.units.begin() as uow:
                for school in await subscriptions.find(uow=uow, organisation="100001"):
                    if school.id == DEMO_SUBSCRIPTIONS[1]:
                        await subscriptions.delete(uow=uow, subscription=school)
        missing = [label for label in DEMO_KEYS if label not in state["keys"]]
        if missing:
            # First run, or a data folder from before the demo had an agency and a MASH key.
            for label in missing:
                kind, organisation = DEMO_KEYS[label]
                _, key = await registry.create(
                    name=f"demo {label}",
                    kind=kind,
                    organisation=organisation,
                    scopes=list(KIND_SCOPES[kind]),
                )
                state["keys"][label] = key
            state_file.write_text(json.dumps(state, indent=2))
            state_file.chmod(0o600)
        if "people" not in state:
            # First run, or a data folder from before the console.
            state["people"] = await demo_people(app)
            state_file.write_text(json.dumps(state, indent=2))
            state_file.chmod(0o600)
        app.state.demo_sink = DemoSink(state["sink_secret"], data_dir / "demo-sink.jsonl")
        app.state.demo_keys = state["keys"]
        app.state.demo_people = state["people"]

    return setup
