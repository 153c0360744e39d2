"""Property-based tests of intake's OpenAPI: whatever schemathesis sends (valid or not),
intake never answers 5xx and every answer matches what the OpenAPI promises.

Runs against the embedded app in process (schemathesis drives its lifespan), with a
police key, bounded and derandomised so CI runs are repeatable.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from services.apps import embedded_app
from shared.auth import ClientKind, KeyRegistry
from shared.db import Database
from shared.settings import embedded_settings

pytestmark = pytest.mark.app

_DATA = Path(tempfile.mkdtemp(prefix="signpost-schemathesis-"))
_SETTINGS = embedded_settings(_DATA, intake_rate_per_minute=0)


async def _police_key() -> str:
    registry = KeyRegistry(Database(_SETTINGS.key_registry_url()))
    await registry.create_schema()
    _, key = await registry.create(
        name="schemathesis police",
        kind=ClientKind.POLICE,
        organisation="demo-police",
        scopes=["reports:write", "reports:read"],
    )
    await registry.db.dispose()
    return key


POLICE_KEY = asyncio.run(_police_key())
app = embedded_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(tag="intake")

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_intake_never_fails_and_keeps_to_its_openapi(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {POLICE_KEY}"}, checks=CHECKS)
