"""Notify's own settings (environment names as written: NOTIFY_*, WEBHOOK_*), and the
area's data files they name (the sharing policy, the school calendar), read once per
process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.school_days import SchoolCalendar, load_calendar
from services.notify.sealed_headers import HeaderSeal, new_key
from services.notify.sharing import SharingPolicy, load_policy
from shared.runtime import ServiceContext

T = TypeVar("T")


class NotifySettings(BaseSettings):
    """What notify can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The process's mode (MODE, shared with every service): embedded is for development
    # and the demo, distributed is production.
    mode: Literal["embedded", "distributed"] = "distributed"
    # The data folder (embedded mode keeps its generated secrets key there).
    data_dir: Path = Path("./var")
    webhook_timeout_seconds: float = Field(default=15.0, ge=1, le=30)
    # Private and loopback webhook targets are refused unless allowed here, for every
    # subscription (tests, a local stack). The embedded demo's own sink needs no such
    # allowance: its subscriptions alone may reach this machine.
    webhook_allow_private: bool = False
    # Plain http webhook URLs (WEBHOOK_ALLOW_HTTP): a development setting. Unset, they
    # are allowed in embedded mode and refused in distributed mode (production).
    webhook_allow_http: bool | None = None
    # Seals the headers partners give their subscriptions (NOTIFY_SECRETS_KEY): a Fernet
    # key, or several comma-separated (the first seals, any opens: for rotation). Unset
    # in embedded mode: one is generated in the data folder; unset in distributed mode:
    # subscriptions cannot carry headers.
    notify_secrets_key: SecretStr | None = None
    # After a secret rotation the previous secret keeps signing (beside the new one)
    # this long, so a partner can switch over without missing a delivery.
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 7)
    # A partner's Retry-After is honoured up to this long (a longer ask is cut to it).
    webhook_retry_after_max_seconds: int = Field(default=3600, ge=1, le=24 * 3600)
    # The information-sharing policy file (NOTIFY_SHARING_POLICY_PATH); default: the
    # Demoshire example shipped with notify.
    notify_sharing_policy_path: Path | None = None
    # The area's school calendar for Operation Encompass deadlines
    # (NOTIFY_SCHOOL_CALENDAR_PATH); default: the Demoshire example shipped with notify.
    notify_school_calendar_path: Path | None = None
    # How often notify looks for Encompass notices past their deadline.
    notify_encompass_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The child's details in a notice are removed this long after its recipient had
    # it (NOTIFY_ENCOMPASS_RETENTION_DAYS); who was told, when, and reads are kept.
    notify_encompass_retention_days: float = Field(default=30.0, gt=0, le=3650)

    @property
    def http_allowed(self) -> bool:
        """Whether webhook URLs may be plain http: WEBHOOK_ALLOW_HTTP when it is set,
        else only in embedded mode."""
        if self.webhook_allow_http is not None:
            return self.webhook_allow_http
        return self.mode == "embedded"


def settings_of(ctx: ServiceContext) -> NotifySettings:
    """Notify's settings in its running context."""
    return ctx.config_of(NotifySettings)


def sharing_policy_of(ctx: ServiceContext) -> SharingPolicy:
    """The area's information-sharing policy (NOTIFY_SHARING_POLICY_PATH), read once per
    process and used by fan-out and the API alike."""
    return _once(
        ctx, "sharing_policy", lambda: load_policy(settings_of(ctx).notify_sharing_policy_path)
    )


def school_calendar_of(ctx: ServiceContext) -> SchoolCalendar:
    """The area's school calendar (NOTIFY_SCHOOL_CALENDAR_PATH), read once per process."""
    return _once(
        ctx, "school_calendar", lambda: load_calendar(settings_of(ctx).notify_school_calendar_path)
    )


def header_seal_of(ctx: ServiceContext) -> HeaderSeal | None:
    """What seals and opens subscriptions' headers: NOTIFY_SECRETS_KEY, or in embedded
    mode a key generated once in the data folder; None when there is no key."""
    return _once(ctx, "header_seal", lambda: header_seal(settings_of(ctx)))


def header_seal(settings: NotifySettings) -> HeaderSeal | None:
    """The seal these settings give (see `header_seal_of`); the embedded key file is
    made on first use, readable by its owner alone."""
    given = settings.notify_secrets_key
    if given is not None and given.get_secret_value().strip():
        return HeaderSeal([k.strip() for k in given.get_secret_value().split(",") if k.strip()])
    if settings.mode != "embedded":
        return None
    key_file = settings.data_dir / "notify-secrets.key"
    # An empty file is a first run cut short before the key was written: nothing can
    # have been sealed with it.
    if not key_file.exists() or not key_file.read_text().strip():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole or not at all, readable by its owner alone.
        partial = key_file.with_name(key_file.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key())
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, key_file)
    return HeaderSeal([key_file.read_text().strip()])


def _once(ctx: ServiceContext, key: str, load: Callable[[], T]) -> T:
    if key not in ctx.state:
        ctx.state[key] = load()
    loaded: T = ctx.state[key]
    return loaded
