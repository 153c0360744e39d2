"""Triage's own settings (environment names as written: TRIAGE_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime import ServiceContext


class TriageSettings(BaseSettings):
    """What triage can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The area's threshold policy file (TRIAGE_POLICY_PATH); default: the Demoshire example.
    triage_policy_path: Path | None = None
    # How often each replica reads the approved policy versions again
    # (TRIAGE_POLICY_REFRESH_SECONDS). At most 30: an approval must leave 60 seconds
    # before its version takes effect, so that every replica has it by then.
    triage_policy_refresh_seconds: float = Field(default=15.0, gt=0, le=30)


def settings_of(ctx: ServiceContext) -> TriageSettings:
    """Triage's settings in its running context."""
    return ctx.config_of(TriageSettings)
