"""Notify's own settings (environment names as written: NOTIFY_*, WEBHOOK_*), and the
area's data files they name (the sharing policy, the school calendar), read once per
process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.school_days import SchoolCalendar, load_calendar
from services.notify.sharing import SharingPolicy, load_policy
from shared.runtime import ServiceContext

T = TypeVar("T")


class NotifySettings(BaseSettings):
    """What notify can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    webhook_timeout_seconds: float = Field(default=15.0, ge=1, le=30)
    # Private and loopback webhook targets are refused unless allowed here (tests, demo).
    webhook_allow_private: bool = False
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


def _once(ctx: ServiceContext, key: str, load: Callable[[], T]) -> T:
    if key not in ctx.state:
        ctx.state[key] = load()
    loaded: T = ctx.state[key]
    return loaded
