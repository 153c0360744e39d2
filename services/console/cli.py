"""The console's commands: `signpost users create|list` (local accounts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from shared.cli import Commands
from shared.problems import Problem


def register(commands: Commands) -> None:
    users = commands.add_parser("users", help="the console's people (local accounts)")
    sub = users.add_subparsers(dest="users_command", required=True)
    create = sub.add_parser(
        "create", help="a person with a local password (printed once when generated)"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="", help="as colleagues know them (default: the email)")
    create.add_argument("--organisation", required=True, help="as its API keys name it")
    create.add_argument(
        "--roles",
        required=True,
        help="comma-separated: hub_practitioner, hub_manager, mash_practitioner, "
        "agency_worker, school_dsl, referrer, partnership_analyst, admin",
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: generate one and print it)",
    )
    create.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded console database folder (default: DATABASE_URL)",
    )
    create.set_defaults(handler=lambda args: _in_data_dir(args) or asyncio.run(_create(args)))
    listing = sub.add_parser("list", help="everyone, with organisation and roles")
    listing.add_argument("--data-dir", type=Path, default=None)
    listing.set_defaults(handler=lambda args: _in_data_dir(args) or asyncio.run(_list(args)))


def _in_data_dir(args: argparse.Namespace) -> int:
    """0 when --data-dir (if given) is a Signpost data folder; else 2, said why. A
    mistyped folder must not quietly become a new, empty console database."""
    from shared.settings import Settings

    data_dir: Path | None = args.data_dir
    if data_dir is None and not Settings().database_url:
        data_dir = Settings().data_dir
    if data_dir is not None and not data_dir.is_dir():
        print(
            f"{data_dir} is not a Signpost data folder (run `signpost run` there first, "
            "or give the right --data-dir)",
            file=sys.stderr,
        )
        return 2
    return 0


async def _units(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from shared.clock import Clock
    from shared.db import Database
    from shared.migrations import history_of
    from shared.runtime import prepare_schema
    from shared.settings import Settings, embedded_settings
    from shared.uow import UnitsOfWork

    data_dir: Path | None = args.data_dir
    settings = embedded_settings(data_dir) if data_dir else Settings(mode="embedded")
    db = Database(settings.service_database_url("console"))
    await prepare_schema(db, history_of("console"), settings)
    clock = Clock(settings.clock_start, running=True)
    return db, UnitsOfWork(db, clock=clock, source="/signpost/console/cli")


async def _create(args: argparse.Namespace) -> int:
    from services.console.passwords import generated_password
    from services.console.service.people import create_person

    db, units = await _units(args)
    if db is None or units is None:
        return 2
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else generated_password()
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    try:
        async with units.begin() as uow:
            person = await create_person(
                uow=uow,
                email=args.email,
                name=args.name,
                organisation=args.organisation,
                roles=roles,
                password=password,
            )
    except Problem as problem:
        print(f"not created: {problem.detail}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"created {person.id}: {person.email} ({person.organisation}; {', '.join(person.roles)})")
    if not args.password_stdin:
        print(f"password (shown once): {password}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    from services.console.service.people import people

    db, units = await _units(args)
    if db is None or units is None:
        return 2
    try:
        async with units.begin() as uow:
            everyone = await people(uow=uow)
    finally:
        await db.dispose()
    for p in everyone:
        state = " (disabled)" if p.disabled_at else ""
        print(f"{p.id}  {p.email}  {p.organisation}  {','.join(p.roles)}{state}")
    return 0
