"""Process configuration, read from the environment (and a `.env` file when present).

`Settings` holds what the whole process shares: the mode, databases, the bus, consumer
retries, the clock, the general rate limit, the person-token keys. Each service's own
settings live in `services/<name>/settings.py` and are read through
`Settings.service_settings`.
Embedded mode fills in SQLite paths under the data folder; distributed mode takes URLs
from the environment (`DATABASE_URL`, `KEYS_DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`, ...).

The data folder holds children's personal data (the services' SQLite files, the event
log with whole reports, the pseudonym secret): it is made readable by this user only
(0700, and a looser existing folder is tightened with a warning), and so is every file
in it (0600: `private_file` creates a file with that mode before SQLite opens it, so
its `-wal`/`-shm` companions, which SQLite gives the database's mode, are 0600 too).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
# What SQLite keeps beside a database file (the write-ahead log, its index, the journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


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
    # The Kafka clients while the broker is away (KAFKA_RETRY_BACKOFF_MS between
    # retries; a failed metadata refresh, and the service's reconnection, back off up
    # to KAFKA_RETRY_BACKOFF_MAX_MS).
    kafka_retry_backoff_ms: int = Field(default=300, ge=10, le=60_000)
    kafka_retry_backoff_max_ms: int = Field(default=2_000, ge=10, le=300_000)
    # Static consumer-group membership (KIP-345): a member killed and restarted within
    # KAFKA_SESSION_TIMEOUT_MS gets its partitions back at once, with no rebalance. Its
    # id is KAFKA_GROUP_INSTANCE_ID (default: INSTANCE and the host name), plus the
    # group: stable across restarts of one replica, different for every replica.
    kafka_static_membership: bool = True
    kafka_group_instance_id: str = Field(default="", max_length=200)
    kafka_session_timeout_ms: int = Field(default=15_000, ge=6_000, le=300_000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=500, le=60_000)
    kafka_rebalance_timeout_ms: int = Field(default=30_000, ge=1_000, le=600_000)
    # A consumer commits its group's position at most this often (a crash redelivers
    # what it handled since, and each handler's inbox makes that a no-op); 0 commits
    # after every batch. A clean stop and a rebalance commit at once.
    kafka_commit_interval_ms: int = Field(default=1_000, ge=0, le=60_000)

    # Embedded mode: consumed records are deleted from the local event log after this
    # long (EMBEDDED_LOG_RETENTION_HOURS); unconsumed and parked (.dlq) ones are kept.
    embedded_log_retention_hours: float = Field(default=24.0, gt=0, le=24 * 365)

    # Every route that needs an API key, per key (RATE_LIMIT_PER_MINUTE, bursts of
    # RATE_LIMIT_BURST; 0 turns it off); intake's report routes keep their own
    # INTAKE_RATE_PER_MINUTE / INTAKE_BURST. Shared by every replica in distributed mode.
    rate_limit_per_minute: float = Field(default=1200, ge=0)
    rate_limit_burst: int = Field(default=300, ge=1)

    # Person tokens (shared.person_tokens): the console signs one for each call it makes
    # as a signed-in person. PERSON_TOKEN_PRIVATE_KEY (Ed25519, PEM) only the console
    # process holds; PERSON_TOKEN_PUBLIC_KEYS (one or more PEM public keys, concatenated:
    # old and new during a rotation) every service that accepts people. Without public
    # keys a distributed service refuses person tokens; embedded mode, given neither,
    # makes a key pair once in the data folder.
    person_token_private_key: SecretStr | None = None
    person_token_public_keys: str = ""

    # A consumer whose fetch came back with fewer records than a batch holds waits this
    # long (CONSUMER_LINGER_MS; 0: never) for more before handling them, as a Kafka
    # producer lingers before sending: under load its batches, and every later hop's,
    # are several times larger, each record costs a fraction of the statements,
    # commits and Kafka requests, and a burst drains sooner; an idle pipeline spends at
    # most this much more per hop (bench/README.md, "Batches").
    consumer_linger_ms: int = Field(default=50, ge=0, le=1_000)
    consumer_max_attempts: int = Field(default=5, ge=1, le=50)
    consumer_backoff_seconds: float = Field(default=0.2, ge=0)
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    # Partnership measures that leave the partnership (exports, `signpost report
    # measures`) show counts from 1 to this minus 1 as "<this" (docs/measures.md).
    measures_suppress_below: int = Field(default=5, ge=1, le=100)

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
    private_folder(data_dir)
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            _tighten(path, FILE_MODE)
    secret_file = data_dir / "pseudonym.secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # os.open's mode is filtered by the umask
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
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


def _tighten(path: Path, mode: int) -> None:
    """Take away every permission `mode` does not grant (a warning names the path)."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        log.warning(
            "tightening permissions",
            extra={"path": str(path), "from": oct(current), "to": oct(current & mode)},
        )
        path.chmod(current & mode)


def private_folder(path: Path) -> Path:
    """`path` as a folder only this user can enter (0700, whatever the umask); an
    existing folder that lets others in is tightened, with a warning."""
    if not path.exists():
        path.mkdir(parents=True, mode=FOLDER_MODE, exist_ok=True)
        path.chmod(FOLDER_MODE)  # mkdir's mode is filtered by the umask
    else:
        _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only this user can read and write (0600, whatever the umask):
    created empty if missing (an empty file is an empty SQLite database), before
    anything else opens it; an existing one and its SQLite companions are tightened.
    A missing parent folder is created private."""
    if not path.parent.exists():
        private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
    else:
        try:
            os.fchmod(fd, FILE_MODE)  # os.open's mode is filtered by the umask
        finally:
            os.close(fd)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion, FILE_MODE)
    return path
