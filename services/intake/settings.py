"""Intake's own settings (environment names as written: INTAKE_*, PSEUDONYM_SECRET)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime import ServiceContext

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "please-change", "dev"}


class IntakeSettings(BaseSettings):
    """What intake can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The process's mode (MODE): a real pseudonym secret is required outside embedded mode.
    mode: Literal["embedded", "distributed"] = "distributed"
    # Keyed hash that turns a child's identifying details into the pseudonymous
    # subject key used as the Kafka key. Must be the same in every intake replica.
    pseudonym_secret: str = ""
    # The front door, per API key and per process: a token bucket refilled at
    # `intake_rate_per_minute` holding at most `intake_burst` requests (0 disables it).
    intake_rate_per_minute: float = Field(default=600, ge=0)
    intake_burst: int = Field(default=120, ge=1)
    # Bodies over these sizes are refused (413) before they are parsed.
    intake_max_report_bytes: int = Field(default=256 * 1024, ge=1024)
    intake_max_batch_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    intake_max_batch_rows: int = Field(default=500, ge=1, le=10000)
    # What each kind of partner may read of a report addressed to it
    # (INTAKE_REPORT_ACCESS_POLICY_PATH); default: the Demoshire example.
    intake_report_access_policy_path: Path | None = None
    # The answer given to an Idempotency-Key is replayed for this long
    # (INTAKE_IDEMPOTENCY_RETENTION_HOURS), then forgotten: a retry after that is a new
    # request, which the resubmission rules still recognise as the same report.
    intake_idempotency_retention_hours: int = Field(default=168, ge=1, le=8760)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> IntakeSettings:
        if self.mode == "distributed" and self.pseudonym_secret.strip().lower() in _PLACEHOLDERS:
            raise ValueError(
                "PSEUDONYM_SECRET must be set to a real secret in distributed mode "
                "(the same value for every intake replica)"
            )
        return self


def settings_of(ctx: ServiceContext) -> IntakeSettings:
    """Intake's settings in its running context."""
    return ctx.config_of(IntakeSettings)
