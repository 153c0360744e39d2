"""The console's own settings (environment names as written: CONSOLE_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime import ServiceContext


class ConsoleSettings(BaseSettings):
    """What the console can be configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # A session ends after CONSOLE_IDLE_MINUTES without a request, and at the latest
    # CONSOLE_SESSION_HOURS after sign-in (a working day).
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    console_session_hours: int = Field(default=10, ge=1, le=24 * 7)
    # Sign-in attempts per email address and per client address (CONSOLE_SIGNIN_PER_MINUTE,
    # bursts of CONSOLE_SIGNIN_BURST): guesses at a password are slowed, not just counted.
    console_signin_per_minute: float = Field(default=5, gt=0)
    console_signin_burst: int = Field(default=5, ge=1)
    # Cookies are `Secure` (CONSOLE_SECURE_COOKIES): browsers keep them over https, and
    # over plain http only on the loopback address, which they treat as secure.
    console_secure_cookies: bool = True
    # Distributed mode: where the console reaches each service's API (its own process
    # calls them over HTTP with the signed-in person's token). Embedded mode calls the
    # services in the same process.
    console_intake_url: str = ""
    console_triage_url: str = ""
    console_routing_url: str = ""
    console_notify_url: str = ""


def settings_of(ctx: ServiceContext) -> ConsoleSettings:
    """The console's settings in its running context."""
    return ctx.config_of(ConsoleSettings)
