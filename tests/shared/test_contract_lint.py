"""The API contracts lint clean in their own ecosystems: every app's `/openapi.json`
(the embedded one, and each service on its own as deployed) passes Redocly's
recommended ruleset with no error and no warning, and `docs/asyncapi.json` parses
under the official AsyncAPI parser with no error and no warning. The linters come from
npm (`scripts/contracts.sh`, versions pinned in `scripts/contracts/`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.apps import embedded_app, service_app
from shared.auth import NO_KEY
from shared.settings import embedded_settings
from tests.infra import ROOT

pytestmark = pytest.mark.app

SERVICES = ("intake", "triage", "routing", "notify", "console")


def lint(kind: str, document: Path) -> dict[str, Any]:
    """scripts/contracts.sh's JSON answer; the linter must run (a failure to install or
    start it is this test's failure, never a skip)."""
    done = subprocess.run(
        ["bash", "scripts/contracts.sh", kind, str(document)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip(), f"the {kind} linter did not run: {done.stderr[-2000:]}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def problems(answer: dict[str, Any]) -> list[str]:
    return [
        f"{p['severity']} {p['ruleId']} at {p['location'][0]['pointer']}: {p['message']}"
        for p in answer["problems"]
    ]


@pytest.mark.parametrize("name", ["embedded", *SERVICES])
def test_openapi_passes_redoclys_recommended_rules_with_nothing_to_say(
    tmp_path: Path, name: str
) -> None:
    settings = embedded_settings(tmp_path / "var")
    app = embedded_app(settings) if name == "embedded" else service_app(name, settings)
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(app.openapi()))

    answer = lint("openapi", document)

    assert problems(answer) == []
    assert answer["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}


def test_the_operations_anyone_may_call_say_so_and_no_other_does(tmp_path: Path) -> None:
    """An explicit empty `security` marks exactly the public operations; every other
    declares the key it needs."""
    spec = embedded_app(embedded_settings(tmp_path / "var")).openapi()
    public = sorted(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == NO_KEY["security"]
    )
    assert public == [
        "GET /demo/sink",
        "GET /healthz",
        "GET /readyz",
        "GET /readyz/serving",
        "GET /v1/asyncapi.json",
        "GET /v1/vocabulary",
        "POST /demo/sink/webhook",
    ]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") is not None, f"{method.upper()} {path}"


def test_the_asyncapi_document_parses_with_no_error_and_no_warning() -> None:
    answer = lint("asyncapi", ROOT / "docs" / "asyncapi.json")
    assert answer["parsed"] is True
    # Severity 0 is an error, 1 a warning (2 information, 3 a hint: not problems).
    assert [d for d in answer["diagnostics"] if d["severity"] <= 1] == []
