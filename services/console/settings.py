"""The console's own settings (environment names as written: CONSOLE_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
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
    # Queue emails: people who opt in are told when something lands in their queue or
    # nears its deadline (no child's data: only that something waits, its RAG, its
    # deadline and a console link). Off while CONSOLE_SMTP_HOST is empty.
    console_smtp_host: str = ""
    console_smtp_port: int = Field(default=25, ge=1, le=65535)
    console_smtp_username: str = ""
    console_smtp_password: SecretStr = SecretStr("")
    # STARTTLS after connecting (port 587), or TLS from the start (port 465).
    console_smtp_starttls: bool = False
    console_smtp_tls: bool = False
    console_mail_from: str = "Signpost <signpost@localhost>"
    # Where people open the console, for the links in emails.
    console_public_url: str = "http://127.0.0.1:8000"
    # How often the queues of people who asked for email are looked at, and how many
    # working hours before a deadline it counts as near.
    console_alert_interval_seconds: float = Field(default=60, gt=0)
    console_alert_near_hours: float = Field(default=2, gt=0)


def settings_of(ctx: ServiceContext) -> ConsoleSettings:
    """The console's settings in its running context."""
    return ctx.config_of(ConsoleSettings)
