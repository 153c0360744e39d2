"""Routing's commands: `signpost directory import FILE` (Open Referral UK / HSDS 3)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Never

from shared.cli import Commands, progress
from shared.problems import Problem

if TYPE_CHECKING:
    from tqdm import tqdm

    from services.routing.schemas import SkippedView


def register(commands: Commands) -> None:
    directory = commands.add_parser("directory", help="routing's agency directory")
    sub = directory.add_subparsers(dest="directory_command", required=True)
    oruk = sub.add_parser(
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
    oruk.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: cannot read JSON: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_import_directory(args, document))


async def _import_directory(args: argparse.Namespace, document: object) -> int:
    """Merge ORUK agencies into routing's own database as a new directory version."""
    from services.routing.service.directory import NothingToImport, import_oruk, seed
    from services.routing.settings import RoutingSettings
    from shared.clock import Clock
    from shared.db import Database
    from shared.migrations import history_of
    from shared.runtime import prepare_schema
    from shared.settings import Settings, embedded_settings
    from shared.uow import UnitsOfWork

    path: Path = args.file
    settings = embedded_settings(args.data_dir) if args.data_dir else Settings(mode="embedded")
    db = Database(settings.service_database_url("routing"))
    clock = Clock(settings.clock_start, running=True)
    units = UnitsOfWork(db, clock=clock, source="/signpost/routing/cli")
    bar: tqdm[Never] | None = None

    def read(done: int, total: int) -> None:
        # A bar on standard error once the services are counted; the result stays on
        # standard output.
        nonlocal bar
        if bar is None:
            bar = progress(total, "reading services", "services")
        bar.update(done - bar.n)
        if done == total:
            bar.close()
            print("checking and saving the new directory version", file=sys.stderr)

    try:
        await prepare_schema(db, history_of("routing"), settings)
        async with units.begin() as uow:
            await seed(uow=uow, path=settings.service_settings(RoutingSettings).directory_path)
        async with units.begin() as uow:
            imported = await import_oruk(
                uow=uow,
                document=document,
                response_sla_hours=args.sla_hours,
                changed_by="cli",
                progress=read,
            )
    except NothingToImport as nothing:
        _say(nothing.skipped, nothing.notes)
        print(f"{path}: no service could become an agency", file=sys.stderr)
        return 1
    except (Problem, ValueError) as exc:
        print(f"{path}: the directory would not be valid: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
        await db.dispose()
    _say(imported.skipped, imported.notes)
    print(f"imported {len(imported.imported)} agencies: {', '.join(imported.imported)}")
    print(f"directory version {imported.version}")
    return 0


def _say(skipped: list[SkippedView], notes: list[str]) -> None:
    for service in skipped:
        print(f"skipped {service.service_id} ({service.name}): {service.reason}")
    for note in notes:
        print(f"note: {note}")
