"""`signpost keys`: the scope table, and a registry that is never made by accident (run
from another folder, the command refuses instead of creating an empty one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.auth import KIND_SCOPES, SCOPES

CLI = [sys.executable, "-m", "services.cli"]


def signpost(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
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
