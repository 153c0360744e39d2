"""Routing's use cases driven by hand on one replica's context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.runtime import ServiceContext
from tests.services.routing.conftest import replica


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ServiceContext]:
    """Routing's context on a fresh SQLite database seeded with the demo directory."""
    context = await replica(f"sqlite:///{tmp_path / 'routing.db'}", tmp_path / "routing")
    try:
        yield context
    finally:
        await context.db.dispose()
