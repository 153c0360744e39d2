"""The `signpost` command: run the embedded default, serve one service, manage keys,
replay parked events, write the AsyncAPI document; and each service's own commands,
registered from its `cli.py` (`policy`, `calendar`, `access`, `directory`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from services.apps import SERVICES
from services.console import cli as console_cli
from services.intake import cli as intake_cli
from services.notify import cli as notify_cli
from services.routing import cli as routing_cli
from services.triage import cli as triage_cli
from shared.cli import Handler
from shared.settings import Settings

KEY_KINDS = ["police", "school", "agency", "hub", "admin"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signpost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run", help="all four services and the console in one process (embedded default)"
    )
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--data-dir", type=Path, default=Path("./var"))
    run.add_argument(
        "--no-demo", action="store_true", help="skip the demo keys, subscription and webhook sink"
    )
    run.set_defaults(handler=_run)

    serve = sub.add_parser("serve", help="one service as its own process (distributed mode)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's service port
    serve.set_defaults(handler=_serve)

    migrate = sub.add_parser(
        "migrate",
        help="bring databases to this release's schema (distributed mode: before the "
        "services start; embedded mode does it at start)",
    )
    migrate.add_argument(
        "--service",
        action="append",
        choices=SERVICES,
        help="the service whose DATABASE_URL this is (repeatable with --data-dir); the key "
        "registry is migrated too. Default with --data-dir or no DATABASE_URL: every database",
    )
    migrate.add_argument(
        "--data-dir", type=Path, default=None, help="embedded databases folder (default: env)"
    )
    migrate.set_defaults(handler=lambda args: asyncio.run(_migrate(args)))
    keys = sub.add_parser("keys", help="API keys")
    keys.set_defaults(handler=lambda args: asyncio.run(_keys(args)))
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; the key is the last line printed")
    create.add_argument("--name", required=True)
    create.add_argument("--kind", required=True, choices=KEY_KINDS)
    create.add_argument("--organisation", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. reports:write")
    create.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded key registry folder (default: KEYS_DATABASE_URL)",
    )
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.add_argument("--data-dir", type=Path, default=None)
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--data-dir", type=Path, default=None)
    keys_sub.add_parser("scopes", help="every scope, what it allows, and which kinds of key get it")
    rotate = keys_sub.add_parser(
        "rotate",
        help="give the chosen partners' active keys new secrets: each gets a new key with the "
        "same name, kind, organisation and scopes, written to a new file only you can read",
    )
    rotate.add_argument(
        "--organisation",
        action="append",
        default=[],
        help="rotate this organisation's keys (repeatable)",
    )
    rotate.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=KEY_KINDS,
        help="rotate every key of this kind (repeatable; with --organisation: both must match)",
    )
    rotate.add_argument("--all", action="store_true", help="rotate every active key")
    rotate.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a new file for the new keys (mode 0600, never overwritten): one JSON object a "
        "line with the organisation, the key it replaces and the new key, to hand to each "
        "partner",
    )
    rotate.add_argument(
        "--revoke-old",
        action="store_true",
        help="revoke each old key once its new key is written (default: the old key keeps "
        "working until you revoke it, so each partner can switch without an outage)",
    )
    rotate.add_argument("--data-dir", type=Path, default=None)
    dlq = sub.add_parser("dlq", help="dead-letter topics")
    dlq.set_defaults(handler=lambda args: asyncio.run(_dlq(args)))
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    replay = dlq_sub.add_parser("replay", help="put parked records back on their topic")
    replay.add_argument("topic", help="the original topic, e.g. referral.received")
    replay.add_argument("--limit", type=int, default=1000)
    replay.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded event log folder (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    report = sub.add_parser("report", help="reports for the partnership")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    measures = report_sub.add_parser(
        "measures",
        help="every partnership measure (docs/measures.md) for a period, as CSV or XLSX, "
        "small numbers suppressed",
    )
    measures.add_argument(
        "--from", dest="period_from", required=True, help="the first UK date (YYYY-MM-DD)"
    )
    measures.add_argument(
        "--to", dest="period_to", required=True, help="the UK date the period ends before"
    )
    measures.add_argument(
        "--area", default=None, help="only children of this local authority (GSS code, E06000001)"
    )
    measures.add_argument(
        "--source",
        default=None,
        help="only reports from this kind of source: police, school, other",
    )
    measures.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    measures.add_argument(
        "--output", "-o", type=Path, default=None, help="a file (csv: default standard output)"
    )
    measures.add_argument(
        "--suppress-below",
        type=int,
        default=None,
        help="show counts from 1 to this minus 1 as <N (default MEASURES_SUPPRESS_BELOW, 5)",
    )
    measures.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the embedded databases folder (default: DATA_DIR or ./var)",
    )
    measures.set_defaults(handler=lambda args: asyncio.run(_report_measures(args)))
    demo = sub.add_parser("demo", help="the embedded demo's data")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    seed = demo_sub.add_parser(
        "seed",
        help="make realistic, varied referral history through the real pipeline (police and "
        "school reports, repeat children, households, agencies accepting, declining and "
        "closing), ending now: for the dashboard and the simulator",
    )
    seed.add_argument("--referrals", type=int, required=True, help="how many reports to make")
    seed.add_argument("--days", type=int, default=365, help="over how many days (default 365)")
    seed.add_argument(
        "--random-seed", type=int, default=1, help="the same seed makes the same history"
    )
    seed.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("DATA_DIR", "var")),
        help="the embedded data folder (default: DATA_DIR or ./var)",
    )
    seed.set_defaults(handler=lambda args: asyncio.run(_demo_seed(args)))
    simulate = sub.add_parser(
        "simulate",
        help="what a draft threshold policy (and directory) would have done to every referral "
        "received in a period: nothing is emitted, written or changed",
    )
    simulate.add_argument("--policy", type=Path, required=True, help="the draft policy (JSON)")
    simulate.add_argument(
        "--directory",
        type=Path,
        default=None,
        help="a draft agency directory (JSON); default: each referral's own directory version",
    )
    simulate.add_argument(
        "--from", dest="period_from", required=True, help="the first UK date (YYYY-MM-DD)"
    )
    simulate.add_argument(
        "--to", dest="period_to", required=True, help="the UK date the period ends before"
    )
    simulate.add_argument(
        "--format",
        choices=["json", "csv"],
        default="json",
        help="json: the whole difference (matrices, safety review, load, drivers, deadlines); "
        "csv: the referrals that change, the safety review first",
    )
    simulate.add_argument(
        "--output", "-o", type=Path, default=None, help="a file (default: standard output)"
    )
    simulate.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the embedded databases folder (default: DATA_DIR or ./var)",
    )
    simulate.set_defaults(handler=lambda args: asyncio.run(_simulate(args)))
    asyncapi = sub.add_parser(
        "asyncapi", help="write the AsyncAPI 3.0 document generated from the event models"
    )
    asyncapi.add_argument(
        "--output", "-o", type=Path, default=None, help="a file (default: standard output)"
    )
    asyncapi.set_defaults(handler=_asyncapi)
    # Each service's own commands, without its routes, models and handlers (the
    # packages build those on first use): `signpost serve intake` loads intake alone.
    for service_cli in (intake_cli, triage_cli, routing_cli, notify_cli, console_cli):
        service_cli.register(sub)
    return parser


def _asyncapi(args: argparse.Namespace) -> int:
    from shared.asyncapi import render

    text = render()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


async def _migrate(args: argparse.Namespace) -> int:
    """`signpost migrate`: each named database (and the key registry) to head."""
    from shared.db import Database
    from shared.migrations import KEYS, current_revision, head_revision, history_of, upgrade
    from shared.settings import Settings, embedded_settings

    settings = embedded_settings(args.data_dir) if args.data_dir else Settings()
    services: list[str] = args.service or []
    if settings.database_url and args.data_dir is None and len(services) != 1:
        print(
            "DATABASE_URL names one service's database: say which with --service NAME "
            "(each service has its own database)",
            file=sys.stderr,
        )
        return 2
    targets = [
        (history_of(name), settings.service_database_url(name)) for name in services or SERVICES
    ]
    targets.append((KEYS, settings.key_registry_url()))
    for history, url in targets:
        db = Database(url)
        try:
            before = await current_revision(db, history)
            await upgrade(db, history)
            print(f"{history.name}: {before or 'new'} -> {head_revision(history)}")
        finally:
            await db.dispose()
    return 0


async def _dlq(args: argparse.Namespace) -> int:
    from services.apps import make_bus
    from shared.dlq import replay
    from shared.events import Topic
    from shared.settings import Settings, embedded_settings

    if args.topic not in {t.value for t in Topic}:
        print(
            f"unknown topic {args.topic!r}; one of: {', '.join(t.value for t in Topic)}",
            file=sys.stderr,
        )
        return 2
    settings = embedded_settings(args.data_dir) if args.data_dir else Settings(mode="embedded")
    bus = make_bus(settings, client_id="signpost-dlq")
    await bus.start()
    try:
        count = await replay(bus, args.topic, limit=args.limit)
    finally:
        await bus.stop()
    print(f"replayed {count} record(s) from {args.topic}.dlq onto {args.topic}")
    return 0


class NoRegistry(Exception):
    """The embedded key registry is not where the command looked."""


def _registry(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The key registry: `--data-dir`'s (made there if new: provisioning keys before the
    first start), else KEYS_DATABASE_URL, else the one in DATA_DIR or ./var, which must
    exist already (`make run` makes it): run from another folder, the command would
    otherwise make an empty registry there, and a key created in it would open nothing."""
    from shared.auth import KeyRegistry
    from shared.db import Database
    from shared.settings import Settings, private_folder

    if data_dir is not None:
        private_folder(data_dir)
        return KeyRegistry(Database(f"sqlite+aiosqlite:///{data_dir / 'keys.db'}"), cache_seconds=0)
    settings = Settings(mode="embedded")
    if not settings.keys_database_url:
        file = (settings.data_dir / "keys.db").resolve()
        if not file.is_file():
            raise NoRegistry(
                f"no key registry at {file}: run this in the folder where Signpost runs "
                "(the one holding ./var), or pass --data-dir, or set KEYS_DATABASE_URL"
            )
    return KeyRegistry(Database(settings.key_registry_url()), cache_seconds=0)


def _scopes_table() -> str:
    """Every scope, what it allows, and which kinds of key get it (KIND_SCOPES)."""
    from shared.auth import KIND_SCOPES, SCOPES

    rows = [("scope", "key kinds", "allows")]
    for scope, meaning in SCOPES.items():
        # An administrator's `admin` scope holds every other.
        kinds = [
            kind.value
            for kind, scopes in KIND_SCOPES.items()
            if scope in scopes or "admin" in scopes
        ]
        rows.append((scope, ", ".join(kinds) or "-", meaning))
    width = [max(len(row[i]) for row in rows) for i in (0, 1)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows)


async def _keys(args: argparse.Namespace) -> int:
    from shared.auth import SCOPES, ClientKind

    if args.keys_command == "scopes":
        print(_scopes_table())
        return 0
    try:
        registry = _registry(args.data_dir)
    except NoRegistry as exc:
        print(exc, file=sys.stderr)
        return 2
    await registry.create_schema()
    try:
        if args.keys_command == "create":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            unknown = sorted(set(scopes) - set(SCOPES))
            if unknown:
                print(
                    f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}",
                    file=sys.stderr,
                )
                return 2
            row, key = await registry.create(
                name=args.name,
                kind=ClientKind(args.kind),
                organisation=args.organisation,
                scopes=scopes,
            )
            print(f"created key {row.id} for {row.name} ({row.kind.value}, {row.organisation})")
            print(f"scopes: {', '.join(row.scopes)}")
            print("the key is shown once; store it now:")
            print(key)
            return 0
        if args.keys_command == "rotate":
            return await _rotate(registry, args)
        if args.keys_command == "revoke":
            if await registry.revoke(args.key_id):
                print(f"revoked {args.key_id}")
                return 0
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
        for row in await registry.list():
            print(
                json.dumps(
                    {
                        "id": row.id,
                        "name": row.name,
                        "kind": row.kind.value,
                        "organisation": row.organisation,
                        "scopes": row.scopes,
                        "revoked": row.revoked_at is not None,
                    }
                )
            )
        return 0
    finally:
        await registry.db.dispose()


async def _rotate(registry, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """`signpost keys rotate`: a new key for each chosen active key, each written (and
    synced to disk) to `--output` before its old key is revoked (`--revoke-old`), so a
    crash part way never leaves a partner without a key it can be given. Progress on
    standard error; ids only on standard output, the secrets only in the file."""
    from shared.cli import progress

    if not (args.organisation or args.kind or args.all):
        print("say whose keys to rotate: --organisation, --kind or --all", file=sys.stderr)
        return 2
    chosen = [
        row
        for row in await registry.list()
        if row.revoked_at is None
        and (not args.organisation or row.organisation in args.organisation)
        and (not args.kind or row.kind.value in args.kind)
    ]
    if not chosen:
        print("no active key matches: nothing rotated", file=sys.stderr)
        return 1
    output: Path = args.output
    try:
        handle = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"{output}: cannot create a new file: {exc.strerror}", file=sys.stderr)
        return 2
    replaced: list[tuple[str, str, str]] = []
    with (
        os.fdopen(handle, "w", encoding="utf-8") as file,
        progress(len(chosen), "rotating keys", "keys") as bar,
    ):
        for row in chosen:
            new, key = await registry.create(
                name=row.name, kind=row.kind, organisation=row.organisation, scopes=row.scopes
            )
            entry = {
                "organisation": row.organisation,
                "name": row.name,
                "kind": row.kind.value,
                "replaces": row.id,
                "key_id": new.id,
                "key": key,
            }
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())
            if args.revoke_old:
                await registry.revoke(row.id)
            replaced.append((row.organisation, row.id, new.id))
            bar.update(1)
    for organisation, old, new_id in replaced:
        print(f"{organisation}: key {old} replaced by {new_id}")
    organisations = len({organisation for organisation, _, _ in replaced})
    print(f"rotated {len(replaced)} keys of {organisations} organisations; new keys in {output}")
    if args.revoke_old:
        print("the old keys are revoked")
    else:
        print(
            "the old keys still work: revoke each (signpost keys revoke ID) once its "
            "partner has switched"
        )
    return 0


async def _report_measures(args: argparse.Namespace) -> int:
    """`signpost report measures`: each service's share of the measures, computed from
    its own embedded database as its `GET /v1/measures/<service>` would, written
    together as CSV or XLSX with small numbers suppressed. A distributed deployment
    reads the same shares from each service's API (README, Partnership measures)."""
    from fastapi.exceptions import RequestValidationError

    from services.intake import service as intake
    from services.notify.service import measures as notify
    from services.routing.service import measures as routing
    from services.triage.policy import load_policy
    from services.triage.service import measures as triage
    from services.triage.settings import TriageSettings
    from shared.clock import Clock
    from shared.db import Database
    from shared.measures import filters_of, measures_csv, measures_xlsx, period_of
    from shared.uow import UnitsOfWork

    try:
        period = period_of(args.period_from, args.period_to, names=("--from", "--to"))
        filters = filters_of(args.area, args.source)
    except RequestValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][-1])
            print(
                f"{name if name.startswith('--') else '--' + name}: {error['msg']}", file=sys.stderr
            )
        return 2
    if args.format == "xlsx" and args.output is None:
        print("--format xlsx needs --output FILE", file=sys.stderr)
        return 2
    counted = ("intake", "triage", "routing", "notify")
    settings = _stored_data(args.data_dir, counted)
    if settings is None:
        return 2
    below = args.suppress_below or settings.measures_suppress_below
    clock = Clock(settings.clock_start, running=True)
    policy = load_policy(settings.service_settings(TriageSettings).triage_policy_path)
    shares = {
        "intake": intake.measures,
        "triage": lambda **given: triage.measures(policy=policy, **given),
        "routing": routing.measures,
        "notify": notify.measures,
    }
    views = []
    for name in counted:
        compute = shares[name]
        db = Database(settings.service_database_url(name))
        units = UnitsOfWork(db, clock=clock, source=f"/signpost/{name}/cli")
        try:
            async with units.begin() as uow:
                views.append(await compute(uow=uow, period=period, filters=filters))
        finally:
            await db.dispose()
    if args.format == "xlsx":
        args.output.write_bytes(measures_xlsx(views, period, below))
        print(f"wrote {args.output}", file=sys.stderr)
    elif args.output is None:
        sys.stdout.write(measures_csv(views, below))
    else:
        args.output.write_text(measures_csv(views, below), encoding="utf-8", newline="")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _stored_data(data_dir: Path | None, services: Sequence[str]) -> Settings | None:
    """The settings whose databases a command reads (`--data-dir`, else the environment);
    None, having said why on stderr, when an embedded folder lacks one of them (the
    command must not create an empty one)."""
    from shared.settings import embedded_settings

    settings = embedded_settings(data_dir) if data_dir else Settings(mode="embedded")
    missing = [name for name in services if not (settings.data_dir / f"{name}.db").is_file()]
    if not settings.database_url and missing:
        print(
            f"no Signpost data at {settings.data_dir.resolve()} (no {', '.join(missing)} "
            "database): run this in the folder where Signpost runs, or pass --data-dir",
            file=sys.stderr,
        )
        return None
    return settings


async def _demo_seed(args: argparse.Namespace) -> int:
    """`signpost demo seed`: the history, made through an in-process embedded Signpost on
    the data folder, with a progress bar; a summary on stderr."""
    from services.demo.seed import seed_history
    from shared.cli import progress

    if args.referrals < 1 or args.days < 1:
        print("--referrals and --days must be at least 1", file=sys.stderr)
        return 2
    with progress(args.referrals, "referrals seeded", "referrals") as bar:
        summary = await seed_history(
            data_dir=args.data_dir.resolve(),
            referrals=args.referrals,
            days=args.days,
            random_seed=args.random_seed,
            step=bar.update,
        )
    actions = ", ".join(f"{n} {verb}" for verb, n in sorted(summary.agency_actions.items()))
    print(
        f"seeded {summary.referrals} referrals about {summary.children} children from "
        f"{summary.first_day} to {summary.last_day} ({summary.routed} routed; agencies: "
        f"{actions or 'none'}) in {args.data_dir}",
        file=sys.stderr,
    )
    return 0


async def _simulate(args: argparse.Namespace) -> int:
    """`signpost simulate`: every referral of the period decided and routed again with the
    draft, read-only, with a progress bar (and its ETA) on stderr; the difference as
    JSON, or the referrals that change as CSV."""
    from fastapi.exceptions import RequestValidationError

    from services.simulate import (
        Draft,
        load_draft_directory,
        policy_in_force,
        referrals_in,
        simulate,
    )
    from services.triage.policy import load_policy
    from services.triage.settings import TriageSettings
    from shared.cli import progress
    from shared.clock import Clock
    from shared.measures import period_of
    from shared.simulation import as_json, changed_csv

    try:
        period = period_of(args.period_from, args.period_to, names=("--from", "--to"))
    except RequestValidationError as exc:
        for error in exc.errors():
            print(f"{error['loc'][-1]}: {error['msg']}", file=sys.stderr)
        return 2
    try:
        draft = Draft(
            policy=load_policy(args.policy),
            directory=load_draft_directory(args.directory) if args.directory else None,
        )
    except (OSError, ValueError) as exc:
        print(f"the draft is not one Signpost can use: {exc}", file=sys.stderr)
        return 2
    settings = _stored_data(args.data_dir, ("triage", "routing"))
    if settings is None:
        return 2
    triage_url = settings.service_database_url("triage")
    live = await policy_in_force(
        triage_url,
        load_policy(settings.service_settings(TriageSettings).triage_policy_path),
        Clock(settings.clock_start, running=True).now(),
    )
    total = await referrals_in(triage_url, period)
    try:
        with progress(total, "referrals re-decided", "referrals") as bar:
            difference = await simulate(
                triage_url=triage_url,
                routing_url=settings.service_database_url("routing"),
                live=live,
                draft=draft,
                period=period,
                step=lambda: bar.update(1),
            )
    except LookupError as exc:  # a referral routed by a directory version not stored
        print(f"cannot simulate: {exc}", file=sys.stderr)
        return 1
    about = {
        "draft_policy": draft.policy.tag,
        "live_policy": live.tag,
        "draft_directory": str(args.directory) if args.directory else None,
        "period_from": period.first.isoformat(),
        "period_to": period.end.isoformat(),
    }
    text = as_json(difference, about) if args.format == "json" else changed_csv(difference)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8", newline="")
        print(f"wrote {args.output}", file=sys.stderr)
    print(
        f"{difference.total} referrals: {difference.level_changed} change level, "
        f"{difference.destination_changed} change destination, {len(difference.safety)} "
        "for the safety review",
        file=sys.stderr,
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.apps import embedded_app
    from services.demo.setup import demo_setup
    from services.notify.settings import settings_of
    from shared.logging import configure_logging
    from shared.runtime import settle_heap
    from shared.settings import embedded_settings

    configure_logging()
    data_dir: Path = args.data_dir.resolve()
    base_url = f"http://{args.host}:{args.port}"
    # WEBHOOK_ALLOW_PRIVATE (default false) decides for every subscription; the demo's
    # own subscriptions to its sink on this loopback address are marked as the demo's
    # (services/demo/setup.py) and need no allowance.
    settings = embedded_settings(data_dir)
    setup = None if args.no_demo else demo_setup(data_dir, base_url)

    async def announce(app):  # type: ignore[no-untyped-def]
        if setup is not None:
            await setup(app)
        await settle_heap()
        keys = getattr(app.state, "demo_keys", {})
        lines = [
            "",
            f"Signpost is running (embedded mode) on {base_url}",
            f"  data folder:   {data_dir}",
            f"  API docs:      {base_url}/docs",
        ]
        if settings_of(app.state.runtimes["notify"].ctx).webhook_allow_private:
            lines += [
                "  WEBHOOK_ALLOW_PRIVATE is on: the SSRF guard is off for every webhook "
                "subscription (private and loopback addresses allowed)",
            ]
        people = getattr(app.state, "demo_people", {})
        lines.insert(3, f"  console:       {base_url}/console/")
        for role, who in people.items():
            label = role.replace("_", " ")
            lines.append(f"  demo {label}: {who['email']} / password: {who['password']}")
        if keys:
            lines += [
                f"  demo police key: {keys['police']}",
                f"  demo school key: {keys['school']}  (school URN 100001)",
                f"  demo hub key:    {keys['hub']}",
                f"  demo agency key: {keys['agency']}  (Supporting Families)",
                f"  demo MASH key:   {keys['mash']}",
                f"  demo webhook sink (what partners receive): {base_url}/demo/sink",
                "",
                "Next: post the example police report:",
                f"  curl -s -X POST {base_url}/v1/reports \\",
                f"    -H 'Authorization: Bearer {keys['police']}' \\",
                "    -H 'Content-Type: application/json' \\",
                "    --data @examples/police-report.json",
                "then follow it with GET /v1/reports/<referral_id> and watch "
                f"{base_url}/demo/sink.",
            ]
        print("\n".join(lines), flush=True)

    app = embedded_app(settings, on_started=announce)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.apps import service_app
    from shared.logging import configure_logging
    from shared.runtime import settle_heap
    from shared.settings import Settings

    configure_logging()
    settings = Settings()
    app = service_app(args.service, settings, on_started=settle_heap)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
