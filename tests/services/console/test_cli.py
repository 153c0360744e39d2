"""`signpost users create|list`: local accounts from the command line, the password
generated and shown once; a mistyped data folder is refused, never made anew."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "services.cli"]


def signpost(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_users_create_makes_a_person_with_a_generated_password_shown_once(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    made = signpost(
        "users",
        "create",
        "--email",
        "Sam.Hale@Demoshire.example",
        "--name",
        "Sam Hale",
        "--organisation",
        "demoshire-hub",
        "--roles",
        "hub_practitioner,admin",
        "--data-dir",
        str(data),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert "sam.hale@demoshire.example (demoshire-hub; hub_practitioner, admin)" in made.stdout
    password = made.stdout.split("password (shown once): ")[1].strip()
    assert len(password) >= 20
    listed = signpost("users", "list", "--data-dir", str(data), cwd=tmp_path)
    assert "sam.hale@demoshire.example  demoshire-hub  hub_practitioner,admin" in listed.stdout
    assert password not in listed.stdout

    again = signpost(
        "users",
        "create",
        "--email",
        "sam.hale@demoshire.example",
        "--organisation",
        "x",
        "--roles",
        "referrer",
        "--data-dir",
        str(data),
        cwd=tmp_path,
    )
    assert again.returncode == 1 and "has an account already" in again.stderr


def test_users_create_refuses_unknown_roles_and_short_passwords(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    unknown = signpost(
        "users",
        "create",
        "--email",
        "a@b.example",
        "--organisation",
        "o",
        "--roles",
        "superuser",
        "--data-dir",
        str(data),
        cwd=tmp_path,
    )
    assert unknown.returncode == 1 and "unknown: superuser" in unknown.stderr
    short = signpost(
        "users",
        "create",
        "--email",
        "a@b.example",
        "--organisation",
        "o",
        "--roles",
        "referrer",
        "--password-stdin",
        "--data-dir",
        str(data),
        cwd=tmp_path,
        stdin="short\n",
    )
    assert short.returncode == 1 and "at least 12 characters" in short.stderr


def test_users_run_outside_a_data_folder_is_refused_with_the_reason(tmp_path: Path) -> None:
    answer = signpost("users", "list", cwd=tmp_path)
    assert answer.returncode == 2
    assert "is not a Signpost data folder" in answer.stderr
    assert not (tmp_path / "var").exists()


def test_a_person_whose_roles_would_widen_their_reach_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    mixed = signpost(
        "users",
        "create",
        "--email",
        "a@b.example",
        "--organisation",
        "o",
        "--roles",
        "partnership_analyst,agency_worker",
        "--data-dir",
        str(data),
        cwd=tmp_path,
    )
    assert mixed.returncode == 1 and "combine" in mixed.stderr
