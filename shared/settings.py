"""Process configuration, read from the environment (and a `.env` file when present).

`Settings` holds what the whole process shares: the mode, databases, the bus, consumer
retries, the clock. Each service's own settings live in `services/<name>/settings.py`
and are read through `Settings.service_settings`. Embedded mode fills in SQLite paths
under the data folder; distributed mode takes URLs from the environment
(`DATABASE_URL`, `KEYS_DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`, ...).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class Settings(BaseSettings):
    """Everything a Signpost process can be configured with."""

    # Extra keyword values (and unknown `.env` entries) are kept for the services'
    # own settings: `embedded_settings(dir, webhook_allow_private=True)`.
    model_config = SettingsConfigDict(env_file=".env", extra="allow")

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

    # Embedded mode: consumed records are deleted from the local event log after this
    # long (EMBEDDED_LOG_RETENTION_HOURS); unconsumed and parked (.dlq) ones are kept.
    embedded_log_retention_hours: float = Field(default=24.0, gt=0, le=24 * 365)

    consumer_max_attempts: int = Field(default=5, ge=1, le=50)
    consumer_backoff_seconds: float = Field(default=0.2, ge=0)
    auth_cache_seconds: float = Field(default=5.0, ge=0)

    def service_settings(self, model: type[S]) -> S:
        """A service's own settings (`services/<name>/settings.py`): read from the
        environment, with what this process was given for it in code (`embedded_settings`
        overrides, a `.env` file) and the process fields it shares (`mode`) on top."""
        given: dict[str, Any] = {
            name: getattr(self, name)
            for name in model.model_fields
            if name in type(self).model_fields
        }
        given.update({k: v for k, v in (self.model_extra or {}).items() if k in model.model_fields})
        return model(**given)

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
