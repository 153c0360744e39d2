"""A partner's own headers on its webhooks (the credentials its endpoint wants: an
`Authorization` header, an API key), kept sealed: encrypted and authenticated with
NOTIFY_SECRETS_KEY (Fernet), opened only to send a delivery, never shown back.

Which headers a partner may set is narrow on purpose: `Authorization` and custom
`X-…` headers. Nothing that steers the connection (hop-by-hop headers, `Host`,
`Content-Length`, the `X-Forwarded-*` family) and nothing Signpost sets itself (the
Standard Webhooks headers, `Content-Type`, `User-Agent`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

MAX_HEADERS = 5
MAX_VALUE_LENGTH = 1024
_NAME = re.compile(r"(?i)authorization|x-[a-z0-9][a-z0-9-]{0,62}")
# Visible ASCII and the space: what every HTTP stack carries unchanged.
_VALUE = re.compile(r"[\x20-\x7e]+")
_REFUSED_PREFIXES = ("x-forwarded-", "x-real-ip", "x-http-method", "x-original-")


class SealError(ValueError):
    """Sealed headers that cannot be opened (another key, or tampered with)."""


def header_problem(name: str, value: str) -> str | None:
    """Why a partner may not set this header, or None."""
    lowered = name.lower()
    if not _NAME.fullmatch(name) or lowered.startswith(_REFUSED_PREFIXES):
        return "only Authorization and custom X-… headers may be set"
    if not value or len(value) > MAX_VALUE_LENGTH:
        return f"a header value holds 1 to {MAX_VALUE_LENGTH} characters"
    if not _VALUE.fullmatch(value) or value != value.strip():
        return "a header value is visible ASCII, without surrounding spaces"
    return None


def new_key() -> str:
    """A fresh key for NOTIFY_SECRETS_KEY."""
    return Fernet.generate_key().decode()


class HeaderSeal:
    """Seals with the first key; opens with any of them (so a key can be rotated:
    put the new one first and keep the old one after it until every subscription's
    headers were sealed again)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no key to seal headers with")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                # Never the key itself in the message: it is a secret.
                raise ValueError(
                    f"key {position} of NOTIFY_SECRETS_KEY is not a Fernet key (32 bytes, "
                    "url-safe base64: Fernet.generate_key())"
                ) from None
        self._fernet = MultiFernet(fernets)

    def seal(self, headers: Mapping[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(dict(headers)).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            opened: dict[str, str] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise SealError("the headers were sealed with another key") from exc
        return opened
