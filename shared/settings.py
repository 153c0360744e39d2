"""Process configuration, read from the environment (and a `.env` file when present).

One `Settings` for every service: a service reads the fields it needs. Embedded mode
fills in SQLite paths under the data folder; distributed mode takes URLs from the
environment (`DATABASE_URL`, `KEYS_DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`, ...).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "please-change", "dev"}


class Settings(BaseSettings):
    """Everything a Signpost process can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mode: Literal["embedded", "distributed"] = "distributed"
    instance: str = Field(default="signpost", description="Names this process in ce_source.")
    data_dir: Path = Path("./var")
    # Start the process clock at this instant and let it run from there (CLOCK_START):
    # for rehearsals and tests that need a known "now" in every process at once.
    # Unset (the default, and always in production): the wall clock.
    clock_start: AwareDatetime | None = None

    database_url: str = ""
    keys_database_url: str = ""
    kafka_bootstrap_servers: str = ""
    topic_partitions: int = Field(default=3, ge=1, le=64)
    # Copies of each topic Signpost creates (TOPIC_REPLICATION_FACTOR): 1 for a single
    # broker (compose, tests); 3 on a production cluster.
    topic_replication_factor: int = Field(default=1, ge=1, le=7)

    # Keyed hash that turns a child's identifying details into the pseudonymous
    # subject key used as the Kafka key. Must be the same in every intake replica.
    pseudonym_secret: str = ""

    directory_path: Path | None = None
    # How often routing's escalation scheduler looks for agencies past their response
    # deadline (ROUTING_ESCALATION_INTERVAL_SECONDS); deadlines themselves are rows.
    routing_escalation_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # Triage's threshold policy file (TRIAGE_POLICY_PATH); default: the Demoshire example.
    triage_policy_path: Path | None = None

    # Embedded mode: consumed records are deleted from the local event log after this
    # long (EMBEDDED_LOG_RETENTION_HOURS); unconsumed and parked (.dlq) ones are kept.
    embedded_log_retention_hours: float = Field(default=24.0, gt=0, le=24 * 365)

    consumer_max_attempts: int = Field(default=5, ge=1, le=50)
    consumer_backoff_seconds: float = Field(default=0.2, ge=0)
    auth_cache_seconds: float = Field(default=5.0, ge=0)

    # Intake's front door, per API key and per process: a token bucket refilled at
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

    webhook_timeout_seconds: float = Field(default=15.0, ge=1, le=30)
    # Private and loopback webhook targets are refused unless allowed here (tests, demo).
    webhook_allow_private: bool = False
    # After a secret rotation the previous secret keeps signing (beside the new one)
    # this long, so a partner can switch over without missing a delivery.
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 7)
    # A partner's Retry-After is honoured up to this long (a longer ask is cut to it).
    webhook_retry_after_max_seconds: int = Field(default=3600, ge=1, le=24 * 3600)
    # Notify's information-sharing policy file (NOTIFY_SHARING_POLICY_PATH); default:
    # the Demoshire example shipped with notify.
    notify_sharing_policy_path: Path | None = None
    # The area's school calendar for Operation Encompass deadlines
    # (NOTIFY_SCHOOL_CALENDAR_PATH); default: the Demoshire example shipped with notify.
    notify_school_calendar_path: Path | None = None
    # How often notify looks for Encompass notices past their deadline.
    notify_encompass_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The child's details in a notice are removed this long after its recipient had
    # it (NOTIFY_ENCOMPASS_RETENTION_DAYS); who was told, when, and reads are kept.
    notify_encompass_retention_days: float = Field(default=30.0, gt=0, le=3650)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.mode == "distributed" and self.pseudonym_secret.strip().lower() in _PLACEHOLDERS:
            raise ValueError(
                "PSEUDONYM_SECRET must be set to a real secret in distributed mode "
                "(the same value for every intake replica)"
            )
        return self

    def service_database_url(self, service: str) -> str:
        """The database URL the named service owns."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (service + '.db')}"

    def key_registry_url(self) -> str:
        """The one key registry every service reads (see README, 'API keys')."""
        if self.keys_database_url:
            return self.keys_database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'keys.db'}"


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for the single-process default: everything lives under `data_dir`.

    The pseudonym secret is generated once and kept in the data folder, so subject
    keys stay stable across restarts.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "pseudonym.secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    values: dict[str, object] = {
        "mode": "embedded",
        "data_dir": data_dir,
        "pseudonym_secret": secret_file.read_text().strip(),
        "database_url": "",
        "keys_database_url": "",
        "kafka_bootstrap_servers": "",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
