"""The console as a client of the council's identity provider (OpenID Connect).

Authorization code flow with PKCE (S256), through Authlib's httpx client: the
provider's endpoints come from its discovery document, the authorization URL carries a
fresh state, nonce and code challenge, and the code is exchanged for tokens at the
token endpoint (with the client secret, or none for a public client). The ID token is
then checked here: its signature against the provider's published keys (joserfc), its
issuer, its audience, the nonce of this sign-in, and its issued-at and expiry against
the console's own clock, within CONSOLE_OIDC_LEEWAY_SECONDS.

Discovery and keys are read afresh at each sign-in: a person signs in a few times a
day, and a provider that rotates its keys is followed at once, with no cache to age.
Nothing here writes to a log: a token or a claim is personal data.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

# authlib.deprecate sets Authlib's warnings to "always" when loaded: load it first, so
# the filter below comes before that one.
import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401
import httpx

# Authlib 1.9 warns, on import, that it would rather have the httpx2 package (not
# released for it yet); it works with httpx. The warning would otherwise be printed by
# every `signpost` command, all of which load the console.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
    )
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from services.console.settings import ConsoleSettings, https_or_loopback

# Signatures by the provider's published public keys only: never "none", and never an
# HMAC keyed with the client secret (which a public client does not have).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
TIMEOUT_SECONDS = 10.0


class SignInFailed(Exception):
    """The provider's answer signs nobody in. The message says why in words fit for the
    person's page (no token, no claim, nothing personal)."""


class ProviderUnavailable(Exception):
    """The identity provider could not be reached, or answered with an error of its own."""


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and what the callback must be checked against."""

    url: str
    state: str
    code_verifier: str
    nonce: str


@dataclass(frozen=True)
class Endpoints:
    """What the console uses of the provider's discovery document."""

    issuer: str
    authorization: str
    token: str
    jwks: str


class IdentityProvider:
    """The provider named by CONSOLE_OIDC_ISSUER, as this console's client."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self._settings = settings
        self.issuer = settings.console_oidc_issuer

    def _client(self) -> AsyncOAuth2Client:
        secret = self._settings.console_oidc_client_secret.get_secret_value()
        return AsyncOAuth2Client(
            client_id=self._settings.console_oidc_client_id,
            client_secret=secret or None,
            scope=self._settings.console_oidc_scopes,
            redirect_uri=self._settings.oidc_callback_url(),
            code_challenge_method="S256",
            timeout=TIMEOUT_SECONDS,
        )

    async def _json(self, client: AsyncOAuth2Client, url: str) -> dict[str, Any]:
        try:
            response = await client.request("GET", url, withhold_token=True)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"{url} could not be read") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{url} is not a JSON object")
        return data

    async def _endpoints(self, client: AsyncOAuth2Client) -> Endpoints:
        document = await self._json(
            client, self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        try:
            endpoints = Endpoints(
                issuer=str(document["issuer"]),
                authorization=str(document["authorization_endpoint"]),
                token=str(document["token_endpoint"]),
                jwks=str(document["jwks_uri"]),
            )
        except KeyError as exc:
            raise ProviderUnavailable(f"the discovery document has no {exc.args[0]}") from exc
        # OpenID Connect Discovery 1.0, section 4.3: the document is the issuer's own.
        if endpoints.issuer != self.issuer:
            raise ProviderUnavailable("the discovery document names another issuer")
        if not all(
            https_or_loopback(url)
            for url in (endpoints.authorization, endpoints.token, endpoints.jwks)
        ):
            raise ProviderUnavailable("the provider's endpoints are not https")
        return endpoints

    async def authorization(self) -> Authorization:
        """A new authorization request: its URL at the provider, with a fresh state,
        nonce and PKCE code challenge (S256) whose verifier stays with the console."""
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        code_verifier = secrets.token_urlsafe(64)
        async with self._client() as client:
            endpoints = await self._endpoints(client)
            url, _ = client.create_authorization_url(
                endpoints.authorization, state=state, code_verifier=code_verifier, nonce=nonce
            )
        return Authorization(url=url, state=state, code_verifier=code_verifier, nonce=nonce)

    async def claims(
        self, *, code: str, code_verifier: str, nonce: str, now: datetime
    ) -> dict[str, Any]:
        """The claims of the ID token the provider gives for this code, once checked:
        signed by the provider's key, from this issuer, for this client, with this
        sign-in's nonce, issued and unexpired at `now` (within the leeway)."""
        async with self._client() as client:
            endpoints = await self._endpoints(client)
            try:
                token = await client.fetch_token(
                    endpoints.token,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except OAuthError as exc:
                # invalid_grant and its kind: a code used, expired or not this client's.
                raise SignInFailed("The identity provider did not accept the sign-in.") from exc
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailable("the token endpoint did not answer") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise SignInFailed("The identity provider sent no ID token.")
            keys = await self._json(client, endpoints.jwks)
        return self._verified(id_token, keys=keys, nonce=nonce, now=now)

    def _verified(
        self, id_token: str, *, keys: dict[str, Any], nonce: str, now: datetime
    ) -> dict[str, Any]:
        """The claims of `id_token` if it passes every check (OpenID Connect Core 1.0,
        section 3.1.3.7); SignInFailed otherwise."""
        client_id = self._settings.console_oidc_client_id
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=self._settings.console_oidc_leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            decoded = jwt.decode(
                id_token,
                KeySet.import_key_set(cast(KeySetSerialization, keys)),
                algorithms=ALGORITHMS,
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInFailed("The identity provider's ID token did not pass its checks.") from exc
        claims = decoded.claims
        audience = claims["aud"]
        # Several audiences: the token must say it was issued to this client.
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise SignInFailed("The identity provider's ID token was issued to another client.")
        return claims
