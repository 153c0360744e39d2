"""Real Kafka and PostgreSQL for the tests, started by the project's own scripts.

With CI=true the infrastructure is mandatory: if it cannot start, the tests that
need it fail. Elsewhere they are skipped with the reason, so a laptop without Java
can still run the rest.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, why: str) -> None:
    message = f"{what} could not start: {why}"
    if in_ci():
        pytest.fail(message + " (CI=true: real infrastructure is mandatory)", pytrace=False)
    pytest.skip(message)


def start_script(script: str, *args: str) -> tuple[str, str]:
    """Run `scripts/<script> start DIR ...`; returns (DIR, the NAME=value line's value)."""
    workdir = tempfile.mkdtemp(prefix=f"signpost-{script.split('.')[0]}-", dir="/tmp")
    os.chmod(workdir, 0o755)
    result = subprocess.run(
        ["bash", str(SCRIPTS / script), "start", workdir, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    line = result.stdout.strip().splitlines()[-1]
    return workdir, line.split("=", 1)[1]


def stop_script(script: str, workdir: str) -> None:
    subprocess.run(
        ["bash", str(SCRIPTS / script), "stop", workdir],
        capture_output=True,
        timeout=120,
        check=False,
    )
