"""The `signpost` command: run the embedded default, serve one service, manage keys,
check a threshold policy, write the AsyncAPI document."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

SERVICES = ("intake", "triage", "routing", "notify")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signpost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="all four services in one process (embedded default)")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--data-dir", type=Path, default=Path("./var"))
    run.add_argument(
        "--no-demo", action="store_true", help="skip the demo keys, subscription and webhook sink"
    )

    serve = sub.add_parser("serve", help="one service as its own process (distributed mode)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's service port

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; the key is the last line printed")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--kind", required=True, choices=["police", "school", "agency", "hub", "admin"]
    )
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
    dlq = sub.add_parser("dlq", help="dead-letter topics")
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
    policy = sub.add_parser("policy", help="threshold policies")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser(
        "check", help="validate a threshold policy file: OK, or each line and reason"
    )
    check.add_argument("file", type=Path)
    calendar = sub.add_parser("calendar", help="school calendars (Operation Encompass)")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    calendar_check = calendar_sub.add_parser(
        "check", help="validate an area's school calendar file: OK, or each reason"
    )
    calendar_check.add_argument("file", type=Path)
    directory = sub.add_parser("directory", help="routing's agency directory")
    directory_sub = directory.add_subparsers(dest="directory_command", required=True)
    oruk = directory_sub.add_parser(
        "import",
        help="import agencies from Open Referral UK / HSDS 3 JSON as a new directory version",
    )
    oruk.add_argument("file", type=Path)
    oruk.add_argument(
        "--sla-hours",
        type=int,
        default=72,
        help="response time given to every imported agency (ORUK has none); default 72",
    )
    oruk.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded routing database folder (default: DATABASE_URL)",
    )
    asyncapi = sub.add_parser(
        "asyncapi", help="write the AsyncAPI 3.0 document generated from the event models"
    )
    asyncapi.add_argument(
        "--output", "-o", type=Path, default=None, help="a file (default: standard output)"
    )
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


def _directory(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: cannot read JSON: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_import_directory(args, document))


async def _import_directory(args: argparse.Namespace, document: object) -> int:
    """`signpost directory import FILE`: ORUK agencies into routing's own database."""
    from services.routing import definition
    from services.routing.store import import_oruk, seed
    from shared.clock import Clock
    from shared.db import Database, table_of
    from shared.settings import Settings, embedded_settings

    path: Path = args.file
    settings = embedded_settings(args.data_dir) if args.data_dir else Settings(mode="embedded")
    db = Database(settings.service_database_url("routing"))
    try:
        await db.create_tables([table_of(m) for m in definition.tables])
        now = Clock().now()
        await seed(db, settings.directory_path, at=now)
        async with db.session() as session:
            directory, result = await import_oruk(
                session, document, response_sla_hours=args.sla_hours, changed_by="cli", at=now
            )
            await session.commit()
    except ValueError as exc:
        print(f"{path}: the directory would not be valid: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    for skipped in result.skipped:
        print(f"skipped {skipped.service_id} ({skipped.name}): {skipped.reason}")
    for note in result.notes:
        print(f"note: {note}")
    if directory is None:
        print(f"{path}: no service could become an agency", file=sys.stderr)
        return 1
    print(f"imported {len(result.agencies)} agencies: {', '.join(a.id for a in result.agencies)}")
    print(f"directory version {directory.version}")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return None


def _policy(args: argparse.Namespace) -> int:
    from services.triage.policy import PolicyError, parse_policy

    path: Path = args.file
    if (text := _read(path)) is None:
        return 2
    try:
        loaded = parse_policy(text, source=str(path))
    except PolicyError as exc:
        for problem in exc.problems:
            print(f"{path}:{problem}", file=sys.stderr)
        return 1
    print(
        f"OK {loaded.id} version {loaded.version}: {loaded.area}, "
        f"{len(loaded.levels)} levels, {len(loaded.statutory)} statutory indicators"
    )
    return 0


def _calendar(args: argparse.Namespace) -> int:
    from services.notify.school_days import SchoolCalendarError, parse_calendar

    path: Path = args.file
    if (text := _read(path)) is None:
        return 2
    try:
        loaded = parse_calendar(text, source=str(path))
    except SchoolCalendarError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    print(
        f"OK {loaded.id} version {loaded.version}: {len(loaded.terms)} terms from "
        f"{loaded.covers.first} to {loaded.covers.last}, school day starts "
        f"{loaded.day_starts_at:%H:%M}; extend it before {loaded.covers.last}"
    )
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


def _registry(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from shared.auth import KeyRegistry
    from shared.db import Database
    from shared.settings import Settings

    if data_dir is not None:
        url = f"sqlite+aiosqlite:///{data_dir / 'keys.db'}"
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        settings = Settings(mode="embedded")
        url = settings.key_registry_url()
    return KeyRegistry(Database(url), cache_seconds=0)


async def _keys(args: argparse.Namespace) -> int:
    from shared.auth import SCOPES, ClientKind

    registry = _registry(args.data_dir)
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


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.apps import demo_setup, embedded_app
    from shared.logging import configure_logging
    from shared.settings import embedded_settings

    configure_logging()
    data_dir: Path = args.data_dir.resolve()
    base_url = f"http://{args.host}:{args.port}"
    # The demo sink lives on this loopback address, so the demo needs the allowance;
    # without the demo, WEBHOOK_ALLOW_PRIVATE (default false) decides.
    demo: dict[str, object] = {} if args.no_demo else {"webhook_allow_private": True}
    settings = embedded_settings(data_dir, **demo)
    setup = None if args.no_demo else demo_setup(data_dir, base_url)

    async def announce(app):  # type: ignore[no-untyped-def]
        if setup is not None:
            await setup(app)
        keys = getattr(app.state, "demo_keys", {})
        lines = [
            "",
            f"Signpost is running (embedded mode) on {base_url}",
            f"  data folder:   {data_dir}",
            f"  API docs:      {base_url}/docs",
        ]
        if keys:
            lines += [
                f"  demo police key: {keys['police']}",
                f"  demo school key: {keys['school']}  (school URN 100001)",
                f"  demo hub key:    {keys['hub']}",
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
    from shared.settings import Settings

    configure_logging()
    settings = Settings()
    app = service_app(args.service, settings)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "policy":
        return _policy(args)
    if args.command == "calendar":
        return _calendar(args)
    if args.command == "directory":
        return _directory(args)
    if args.command == "asyncapi":
        return _asyncapi(args)
    if args.command == "dlq":
        return asyncio.run(_dlq(args))
    return asyncio.run(_keys(args))


if __name__ == "__main__":
    sys.exit(main())
