"""Triage's own settings (environment names as written: TRIAGE_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime import ServiceContext


class TriageSettings(BaseSettings):
    """What triage can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The area's threshold policy file (TRIAGE_POLICY_PATH); default: the Demoshire example.
    triage_policy_path: Path | None = None


def settings_of(ctx: ServiceContext) -> TriageSettings:
    """Triage's settings in its running context."""
    return ctx.config_of(TriageSettings)
