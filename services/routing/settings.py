"""Routing's own settings (environment names as written: ROUTING_*, DIRECTORY_PATH)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime import ServiceContext


class RoutingSettings(BaseSettings):
    """What routing can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The agency directory file loaded at start (DIRECTORY_PATH); default: the demo.
    directory_path: Path | None = None
    # How often the escalation scheduler looks for agencies past their response
    # deadline (ROUTING_ESCALATION_INTERVAL_SECONDS); deadlines themselves are rows.
    routing_escalation_interval_seconds: float = Field(default=15.0, gt=0, le=3600)


def settings_of(ctx: ServiceContext) -> RoutingSettings:
    """Routing's settings in its running context."""
    return ctx.config_of(RoutingSettings)
