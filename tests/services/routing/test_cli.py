"""`signpost directory import`: a file with nothing usable fails and says why, and
changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "services.cli"]


def test_an_import_with_nothing_usable_lists_what_it_skipped_and_fails(tmp_path: Path) -> None:
    document = tmp_path / "adults.json"
    adults_only = {"id": "svc-debt", "name": "Adult Debt Advice", "minimum_age": 18}
    document.write_text(json.dumps({"contents": [adults_only]}))
    out = subprocess.run(
        [*CLI, "directory", "import", str(document), "--data-dir", str(tmp_path / "var")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "skipped svc-debt (Adult Debt Advice)" in out.stdout
    assert "no service could become an agency" in out.stderr
