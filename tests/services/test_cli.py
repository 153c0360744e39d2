"""`signpost keys`: the scope table, a registry that is never made by accident (run
from another folder, the command refuses instead of creating an empty one), and
rotating many partners' keys with progress, the new secrets only in a private file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
from openpyxl import load_workbook

from services.apps import embedded_app
from shared.auth import KIND_SCOPES, SCOPES, ClientKind, KeyRegistry
from shared.clock import Clock
from shared.db import Database
from shared.measures import CATALOGUE
from shared.people import Person
from shared.settings import embedded_settings
from tests.services.intake.conftest import START, example

CLI = [sys.executable, "-m", "services.cli"]
WRITE = "reports:write"


def signpost(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env or clean_env()
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "KEYS_DATABASE_URL")}


def test_keys_scopes_lists_every_scope_with_the_kinds_of_key_that_get_it(tmp_path: Path) -> None:
    done = signpost("keys", "scopes", cwd=tmp_path, env=clean_env())
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert set(rows) == set(SCOPES)
    assert "police, school" in rows["reports:write"]
    assert "school" in rows["encompass:acknowledge"]
    assert "police" not in rows["encompass:acknowledge"]
    assert "hub" in rows["triage:override"] and "agency" not in rows["triage:override"]
    for kind, scopes in KIND_SCOPES.items():
        for scope in scopes:
            assert kind.value in rows[scope]
    assert not (tmp_path / "var").exists()


def test_keys_run_from_a_folder_without_signpost_refuses_and_makes_nothing(
    tmp_path: Path,
) -> None:
    for command in (
        ["list"],
        ["revoke", "key_x"],
        [
            "create",
            "--name",
            "n",
            "--kind",
            "police",
            "--organisation",
            "o",
            "--scopes",
            "reports:write",
        ],
    ):
        done = signpost("keys", *command, cwd=tmp_path, env=clean_env())
        assert done.returncode == 2, command
        assert f"no key registry at {tmp_path.resolve() / 'var' / 'keys.db'}" in done.stderr
        assert "--data-dir" in done.stderr
        assert not (tmp_path / "var").exists(), "no empty registry is made"


def test_keys_with_a_data_dir_provision_a_registry_the_folder_then_lists(tmp_path: Path) -> None:
    made = signpost(
        "keys",
        "create",
        "--name",
        "rms",
        "--kind",
        "police",
        "--organisation",
        "force-1",
        "--scopes",
        "reports:write",
        "--data-dir",
        str(tmp_path / "var"),
        cwd=tmp_path,
        env=clean_env(),
    )
    assert made.returncode == 0, made.stderr
    # From the folder that holds ./var, no --data-dir is needed.
    listed = signpost("keys", "list", cwd=tmp_path, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    assert '"organisation": "force-1"' in listed.stdout


def create_key(tmp_path: Path, name: str, kind: str, organisation: str, scopes: str) -> str:
    """A key made through the CLI; the key itself (its last line)."""
    made = signpost(
        "keys",
        "create",
        "--name",
        name,
        "--kind",
        kind,
        "--organisation",
        organisation,
        "--scopes",
        scopes,
        "--data-dir",
        str(tmp_path / "var"),
        cwd=tmp_path,
        env=clean_env(),
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.splitlines()[-1]


def registry_of(tmp_path: Path) -> KeyRegistry:
    return KeyRegistry(
        Database(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'keys.db'}"), cache_seconds=0
    )


async def verified(tmp_path: Path, *keys: str) -> list[bool]:
    registry = registry_of(tmp_path)
    try:
        return [await registry.verify(key) is not None for key in keys]
    finally:
        await registry.db.dispose()


def rotate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return signpost(
        "keys", "rotate", *args, "--data-dir", str(tmp_path / "var"), cwd=tmp_path, env=clean_env()
    )


async def test_rotate_gives_each_chosen_key_a_new_one_in_a_private_file_with_progress(
    tmp_path: Path,
) -> None:
    school_a = create_key(tmp_path, "mis", "school", "100001", "reports:write")
    school_b = create_key(tmp_path, "mis", "school", "100002", "reports:write,reports:read")
    police = create_key(tmp_path, "rms", "police", "force-1", "reports:write")
    output = tmp_path / "new-keys.jsonl"

    done = rotate(tmp_path, "--kind", "school", "--output", str(output))

    assert done.returncode == 0, done.stderr
    assert "rotating keys" in done.stderr and "2/2" in done.stderr  # the progress bar
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    entries = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(e["organisation"] for e in entries) == ["100001", "100002"]
    for entry in entries:
        assert entry["key"] not in done.stdout + done.stderr  # secrets only in the file
        assert (
            f"{entry['organisation']}: key {entry['replaces']} replaced by {entry['key_id']}"
            in (done.stdout)
        )
    assert "rotated 2 keys of 2 organisations" in done.stdout
    new = [e["key"] for e in entries]
    # The old keys work until revoked, so each school can switch without an outage; the
    # new ones carry the same organisation and scopes.
    assert await verified(tmp_path, school_a, school_b, police, *new) == [True] * 5
    registry = registry_of(tmp_path)
    try:
        rows = {row.id: row for row in await registry.list()}
    finally:
        await registry.db.dispose()
    for entry in entries:
        old, fresh = rows[entry["replaces"]], rows[entry["key_id"]]
        assert (fresh.name, fresh.kind, fresh.organisation, fresh.scopes) == (
            old.name,
            old.kind,
            old.organisation,
            old.scopes,
        )


async def test_rotate_with_revoke_old_ends_the_old_keys_and_never_overwrites_a_file(
    tmp_path: Path,
) -> None:
    old = create_key(tmp_path, "rms", "police", "force-1", "reports:write")
    other = create_key(tmp_path, "rms", "police", "force-2", "reports:write")
    output = tmp_path / "new-keys.jsonl"

    done = rotate(tmp_path, "--organisation", "force-1", "--revoke-old", "--output", str(output))

    assert done.returncode == 0, done.stderr
    [entry] = [json.loads(line) for line in output.read_text().splitlines()]
    assert await verified(tmp_path, old, other, entry["key"]) == [False, True, True]
    again = rotate(tmp_path, "--organisation", "force-1", "--output", str(output))
    assert again.returncode == 2 and "cannot create a new file" in again.stderr
    assert output.read_text().count("\n") == 1


def test_rotate_refuses_without_saying_whose_keys_or_when_none_match(tmp_path: Path) -> None:
    create_key(tmp_path, "rms", "police", "force-1", "reports:write")
    output = tmp_path / "new-keys.jsonl"

    unsaid = rotate(tmp_path, "--output", str(output))
    nobody = rotate(tmp_path, "--organisation", "force-9", "--output", str(output))

    assert unsaid.returncode == 2 and "--organisation, --kind or --all" in unsaid.stderr
    assert nobody.returncode == 1 and "no active key matches" in nobody.stderr
    assert not output.exists()


# ------------------------------------------------------------------ signpost report measures


async def test_report_measures_writes_a_workbook_that_matches_a_hand_count(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    app = embedded_app(embedded_settings(data_dir), clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            police = await app.state.key_registry.create(
                name="rms",
                kind=ClientKind.POLICE,
                organisation="demo-police",
                scopes=["reports:write"],
            )
            school = await app.state.key_registry.create(
                name="mis", kind=ClientKind.SCHOOL, organisation="100001", scopes=["reports:write"]
            )
            # By hand: six police reports and two school reports, all on 30 November.
            for n in range(6):
                await post(client, police[1], "police-report.json", f"DP-{n}")
            for n in range(2):
                await post(client, school[1], "school-report.json", f"CPOMS-{n}")
            # Stop only once all eight are routed (the pipeline runs on after the POST).
            analyst = app.state.person_token_signer.mint(
                Person("per_a", "Kim Ward", "demoshire-partnership", ("partnership_analyst",))
            )
            for _ in range(400):
                answer = await client.get(
                    "/v1/measures/routing",
                    params={"from": "2026-11-30", "to": "2026-12-01"},
                    headers={"Authorization": f"Bearer {analyst}"},
                )
                routed = [r["value"] for r in answer.json()["rows"] if not r["breakdown"]]
                if routed[:1] == [8]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"not every report was routed: {answer.text}")
    workbook = tmp_path / "measures.xlsx"

    done = signpost(
        "report",
        "measures",
        "--from",
        "2026-11-30",
        "--to",
        "2026-12-01",
        "--format",
        "xlsx",
        "--output",
        str(workbook),
        "--data-dir",
        str(data_dir),
        cwd=tmp_path,
        env=clean_env(),
    )

    assert done.returncode == 0, done.stderr
    book = load_workbook(workbook)
    assert book.sheetnames == ["Measures", "Definitions", "About"]
    rows = list(book["Measures"].iter_rows(values_only=True))
    assert rows[0] == ("service", "measure", "name", "breakdown", "statistic", "value", "unit")
    figures = {(r[1], r[3], r[4]): r[5] for r in rows[1:]}
    assert figures[("contacts_by_source", "all", "count")] == 8
    assert figures[("contacts_by_source", "source: police", "count")] == 6
    assert figures[("contacts_by_source", "source: school", "count")] == "<5"  # 2, suppressed
    assert figures[("contacts_by_source", "source: school", "share")] == "<5"
    assert figures[("contacts_by_source", "source: police", "share")] == 75.0
    assert figures[("contacts_by_source", "source: other", "count")] == 0
    assert figures[("contacts_by_concern", "concern: domestic_abuse", "count")] == 6
    assert figures[("outcome_of_contact", "all", "count")] == 8
    definitions = {r[0]: r[1] for r in book["Definitions"].iter_rows(min_row=2, values_only=True)}
    assert definitions == {measure: d.name for measure, d in CATALOGUE.items()}
    about = {row[0]: row[1] for row in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Period from (inclusive)"] == "2026-11-30"
    assert (about["Area (local authority)"], about["Source"]) == ("all", "all")

    # The schools' two reports alone, unsuppressed: intake and routing both narrow.
    schools = signpost(
        "report",
        "measures",
        "--from",
        "2026-11-30",
        "--to",
        "2026-12-01",
        "--source",
        "school",
        "--suppress-below",
        "1",
        "--data-dir",
        str(data_dir),
        cwd=tmp_path,
        env=clean_env(),
    )

    assert schools.returncode == 0, schools.stderr
    lines = list(csv.reader(io.StringIO(schools.stdout)))
    narrowed = {(r[1], r[3], r[4]): r[5] for r in lines[1:]}
    assert narrowed[("contacts_by_source", "all", "count")] == "2"
    assert narrowed[("contacts_by_source", "source: police", "count")] == "0"
    assert narrowed[("outcome_of_contact", "all", "count")] == "2"


def test_report_measures_refuses_a_period_that_is_not_one_or_a_folder_without_signpost(
    tmp_path: Path,
) -> None:
    reversed_period = signpost(
        "report",
        "measures",
        "--from",
        "2026-12-01",
        "--to",
        "2026-11-01",
        cwd=tmp_path,
        env=clean_env(),
    )
    nowhere = signpost(
        "report",
        "measures",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        cwd=tmp_path,
        env=clean_env(),
    )
    no_area = signpost(
        "report",
        "measures",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        "--area",
        "Demoshire",
        cwd=tmp_path,
        env=clean_env(),
    )

    assert (
        reversed_period.returncode == 2 and "--to: must be after --from" in reversed_period.stderr
    )
    assert nowhere.returncode == 2 and "no Signpost data at" in nowhere.stderr
    assert (
        no_area.returncode == 2 and "--area: must be a GSS local authority code" in no_area.stderr
    )
    assert not (tmp_path / "var").exists()


async def post(client: httpx.AsyncClient, key: str, name: str, reference: str) -> None:
    body = example(name)
    body["source"]["reference"] = reference
    answer = await client.post("/v1/reports", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 202, answer.text


# ------------------------------------------------------------------ signpost demo seed


def test_demo_seed_makes_history_in_the_folder_and_says_what_it_made(tmp_path: Path) -> None:
    done = signpost(
        "demo", "seed", "--referrals", "6", "--days", "3", "--data-dir", "var", cwd=tmp_path
    )
    nothing = signpost("demo", "seed", "--referrals", "0", "--data-dir", "none", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "seeded 6 referrals about" in done.stderr and "(6 routed;" in done.stderr
    assert {"intake.db", "triage.db", "routing.db"} <= {
        p.name for p in (tmp_path / "var").iterdir()
    }
    assert done.stdout == ""
    assert nothing.returncode == 2 and "--referrals and --days must be at least 1" in nothing.stderr
    assert not (tmp_path / "none").exists()
