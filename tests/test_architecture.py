"""The rules of docs/architecture.md that can be checked mechanically: one shape for
every service, one unit of work, requests and events travel downward only."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "triage", "routing", "notify", "console")
# Every service has these, for the same jobs; `api` and `service` may be a module or a
# package.
SAME_FILES = (
    "__init__.py",
    "schemas.py",
    "repository.py",
    "models.py",
    "handlers.py",
    "loops.py",
    "settings.py",
    "cli.py",
    "migrations",
)
# What only the unit of work (shared/uow.py) and the outbox relay may do.
COMMITS_AND_PUBLISHES = (".commit(", "stage(", "outbox_row(", "new_event(", ".published(")
# Layers, top to bottom: a module may import its own layer or those below, never above.
LAYER = {"api": 0, "handlers": 0, "loops": 0, "cli": 0, "service": 1, "repository": 2}


def modules(service: str) -> list[Path]:
    folder = ROOT / "services" / service
    return [p for p in folder.rglob("*.py") if "migrations" not in p.relative_to(folder).parts]


def layer_of(service: str, path: Path) -> str:
    """The layer of a module: its top-level name in the service folder."""
    first = path.relative_to(ROOT / "services" / service).parts[0]
    return first.removesuffix(".py")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_folder_has_the_same_files_for_the_same_jobs(service: str) -> None:
    folder = ROOT / "services" / service
    missing = [name for name in SAME_FILES if not (folder / name).exists()]
    for either in ("api", "service"):
        if not ((folder / f"{either}.py").exists() or (folder / either).is_dir()):
            missing.append(f"{either}.py or {either}/")
    assert not missing, f"services/{service} lacks {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_code_commits_or_publishes_by_hand(service: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in modules(service)
        for needle in COMMITS_AND_PUBLISHES
        if needle in path.read_text(encoding="utf-8")
    ]
    assert not offenders, "only the unit of work commits and records events:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_and_queries_know_nothing_of_http(service: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules(service)
        if layer_of(service, path) in ("service", "repository")
        and any(name == "fastapi" or name.startswith("fastapi.") for name in imported(path))
    ]
    assert not offenders, f"FastAPI imported below the API: {offenders}"


@pytest.mark.parametrize("service", SERVICES)
def test_requests_and_events_travel_downward_only(service: str) -> None:
    offenders = []
    for path in modules(service):
        if layer_of(service, path) == "__init__":
            continue  # the ServiceDefinition assembles every layer
        here = LAYER.get(layer_of(service, path))
        for name in imported(path):
            parts = name.split(".")
            if parts[:2] != ["services", service] or len(parts) < 3:
                continue
            there = LAYER.get(parts[2])
            if there is None:
                continue  # a pure module, models, settings: usable from any layer
            if here is None or there < here:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "an import climbs back up:\n" + "\n".join(sorted(set(offenders)))


def test_no_service_reads_another_services_modules() -> None:
    offenders = []
    for service in SERVICES:
        for path in modules(service):
            for name in imported(path):
                parts = name.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] in SERVICES:
                    if parts[1] != service:
                        offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_schemas_are_made_by_migrations_not_create_all() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for service in SERVICES
        for path in modules(service)
        if "create_all(" in path.read_text(encoding="utf-8")
        or "create_tables(" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_the_loops_its_loops_module_lists(service: str) -> None:
    package = importlib.import_module(f"services.{service}")
    loops = importlib.import_module(f"services.{service}.loops")
    assert package.definition.loops is loops.LOOPS


def test_only_shared_spreadsheet_writes_csv_or_xlsx() -> None:
    """Every spreadsheet Signpost writes neutralises formula prefixes (shared/spreadsheet.py):
    no other module may write one its own way."""
    writers = ("csv.writer", "csv.DictWriter", "openpyxl", "xlsxwriter")
    allowed = ROOT / "shared" / "spreadsheet.py"
    offenders = []
    for folder in ("services", "shared", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == allowed:
                continue
            text = path.read_text(encoding="utf-8")
            names = imported(path)
            if any(w in text for w in writers[:2]) or any(
                n.split(".")[0] in writers[2:] for n in names
            ):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
