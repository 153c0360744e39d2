"""The console's own settings (environment names as written: CONSOLE_*)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.people import ROLES, kind_of
from shared.runtime import ServiceContext


class ConsoleSettings(BaseSettings):
    """What the console can be configured with."""

    # An error names the setting and what is wrong with it, never the values given (a
    # secret among them would be printed where the console failed to start).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

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
    # Local accounts (an email address and a password kept by the console) may sign in.
    # With the council's identity provider in use, false makes it the only way in.
    console_local_accounts: bool = True
    # Sign-in through the council's identity provider (OpenID Connect, authorization
    # code with PKCE): off while CONSOLE_OIDC_ISSUER is empty. The issuer is https (or
    # plain http on the loopback address, for a provider on this machine), exactly as
    # the provider's discovery document names it. A public client (PKCE and no secret)
    # leaves CONSOLE_OIDC_CLIENT_SECRET empty.
    console_oidc_issuer: str = ""
    console_oidc_client_id: str = ""
    console_oidc_client_secret: SecretStr = SecretStr("")
    console_oidc_scopes: str = "openid email profile"
    # The callback registered at the provider; empty: CONSOLE_PUBLIC_URL's
    # /console/oidc/callback.
    console_oidc_redirect_url: str = ""
    # Roles come from the ID token's CONSOLE_OIDC_ROLES_CLAIM (a list of groups), through
    # CONSOLE_OIDC_ROLE_MAP, a JSON object of group -> list of Signpost roles, e.g.
    # {"signpost-hub": ["hub_practitioner"]}; read again at every sign-in, so a group
    # taken away at the provider takes its role away. A person of no mapped group is
    # refused.
    console_oidc_roles_claim: str = "groups"
    console_oidc_role_map: dict[str, list[str]] = Field(default_factory=dict)
    # A person's organisation is the ID token's CONSOLE_OIDC_ORGANISATION_CLAIM, or
    # CONSOLE_OIDC_ORGANISATION for everyone from this provider when the token has none.
    console_oidc_organisation_claim: str = "signpost_organisation"
    console_oidc_organisation: str = ""
    # How far the provider's clock may be from the console's when an ID token's
    # issued-at and expiry are checked.
    console_oidc_leeway_seconds: int = Field(default=60, ge=0, le=600)

    @model_validator(mode="after")
    def _oidc_is_usable(self) -> ConsoleSettings:
        """Refuse to start with an identity provider the console could not use safely,
        or a role map naming a role Signpost does not have (a typo would otherwise
        surface only as people refused at sign-in)."""
        for group, roles in self.console_oidc_role_map.items():
            unknown = sorted(set(roles) - set(ROLES))
            if unknown:
                raise ValueError(
                    f"CONSOLE_OIDC_ROLE_MAP gives group {group!r} unknown role(s) "
                    f"{', '.join(unknown)}; roles are {', '.join(ROLES)}"
                )
            try:
                kind_of(roles)
            except ValueError as exc:
                raise ValueError(f"CONSOLE_OIDC_ROLE_MAP, group {group!r}: {exc}") from exc
        if not self.console_oidc_issuer:
            return self
        if not https_or_loopback(self.console_oidc_issuer):
            raise ValueError(
                "CONSOLE_OIDC_ISSUER must be an https URL (plain http only on the loopback address)"
            )
        if not self.console_oidc_client_id:
            raise ValueError("CONSOLE_OIDC_CLIENT_ID is needed with CONSOLE_OIDC_ISSUER")
        if "openid" not in self.console_oidc_scopes.split():
            raise ValueError("CONSOLE_OIDC_SCOPES must include openid")
        if not self.console_oidc_role_map:
            raise ValueError("CONSOLE_OIDC_ROLE_MAP maps no group to a role: nobody could sign in")
        return self

    def oidc_callback_url(self) -> str:
        """Where the identity provider sends a person back to."""
        return (
            self.console_oidc_redirect_url
            or self.console_public_url.rstrip("/") + "/console/oidc/callback"
        )


def https_or_loopback(url: str) -> bool:
    """Whether `url` is https, or plain http to this machine's loopback address (where
    nobody between could read or change what passes)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def settings_of(ctx: ServiceContext) -> ConsoleSettings:
    """The console's settings in its running context."""
    return ctx.config_of(ConsoleSettings)
