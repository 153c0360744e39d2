"""Person tokens: how a service knows which signed-in person the console calls it for.

The console mints one token per call (`PersonTokenSigner.mint`): a JWT signed with
Ed25519 (`EdDSA`), claims `iss` "signpost-console", `aud` "signpost", `sub` the
person's id, `name`, `org`, `roles`, `iat`, `exp` (60 seconds later by default) and a
random `jti`; its header names the signing key (`kid`). Each service verifies it
(`PersonTokenVerifier`) with the console's public key alone and gets the person's
`Principal` (`shared.people.principal_of`). Why a short-lived token is acceptable where
systems use revocable keys: see `shared.auth`.

Time is the app's one clock (`shared.clock`), never PyJWT's wall clock: `iat` and `exp`
are checked here against `clock.now()`, with a few seconds' leeway for the clocks of
two processes; a token living longer than five minutes is refused whatever it says.

Keys (`person_token_keys`): distributed mode reads PERSON_TOKEN_PRIVATE_KEY (only the
console process has it) and PERSON_TOKEN_PUBLIC_KEYS (one or more public keys: list the
new one beside the old during a rotation); a key that does not parse stops the process
at start with a message that names the setting, never the key. Embedded mode, given
neither, makes a key pair once in the data folder (`person-token.key`, 0600) and both
signs and verifies with it.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from shared.auth import PersonTokenRefused, Principal
from shared.clock import Clock
from shared.people import Person, principal_of
from shared.settings import Settings, private_file

ISSUER = "signpost-console"
AUDIENCE = "signpost"
ALGORITHM = "EdDSA"
DEFAULT_TTL_SECONDS = 60
# The longest life a token may claim: the console mints per call, so minutes are plenty.
MAX_TTL_SECONDS = 300
# How far apart the console's clock and a service's may be.
LEEWAY_SECONDS = 5
# Embedded mode's key pair, in the data folder.
EMBEDDED_KEY_FILE = "person-token.key"

_CLAIMS = ("iss", "aud", "sub", "name", "org", "roles", "iat", "exp", "jti")
_PUBLIC_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class PersonTokenKeyError(ValueError):
    """A person-token key setting that cannot be used (the message never holds the key)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key (the token header's `kid`)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _private_key(pem: bytes, setting: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise PersonTokenKeyError(
            f"{setting} is not an unencrypted Ed25519 private key in PEM "
            "(make one with: openssl genpkey -algorithm ed25519)"
        )
    return key


def _public_key(pem: bytes, setting: str, position: int) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise PersonTokenKeyError(
            f"key {position} of {setting} is not an Ed25519 public key in PEM "
            "(openssl pkey -in private.pem -pubout)"
        )
    return key


class PersonTokenSigner:
    """Mints person tokens with the console's private key (the console alone has one)."""

    def __init__(
        self, private_key_pem: bytes, *, clock: Clock, ttl_seconds: int = DEFAULT_TTL_SECONDS
    ) -> None:
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"a person token lives 1 to {MAX_TTL_SECONDS} seconds")
        self._key = _private_key(private_key_pem, "PERSON_TOKEN_PRIVATE_KEY")
        self._kid = key_id(self._key.public_key())
        self.clock = clock
        self.ttl_seconds = ttl_seconds

    @property
    def public_key_pem(self) -> bytes:
        """The public half, as PERSON_TOKEN_PUBLIC_KEYS takes it."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(self, person: Person) -> str:
        """A token for one call as `person`, valid `ttl_seconds` from the clock's now."""
        issued = int(self.clock.now().timestamp())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": person.id,
            "name": person.name,
            "org": person.organisation,
            "roles": list(person.roles),
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})


class PersonTokenVerifier:
    """Verifies person tokens with any of the console's public keys (several during a
    rotation), against the app's clock."""

    def __init__(self, public_keys_pem: Sequence[bytes], *, clock: Clock) -> None:
        keys = [
            _public_key(pem, "PERSON_TOKEN_PUBLIC_KEYS", position)
            for position, pem in enumerate(public_keys_pem, start=1)
        ]
        if not keys:
            raise PersonTokenKeyError("no public key to verify person tokens with")
        self._keys = {key_id(key): key for key in keys}
        self.clock = clock

    def verify(self, token: str) -> Principal | None:
        """The person's principal, or None for a token that is malformed, badly signed,
        expired, not yet valid, for another issuer or audience, or names an unknown role."""
        try:
            return self.principal(token)
        except PersonTokenRefused:
            return None

    def principal(self, token: str) -> Principal:
        """The person's principal; PersonTokenRefused says why not (never with the token)."""
        claims = self._claims(token)
        now = self.clock.now().timestamp()
        issued, expires = claims["iat"], claims["exp"]
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in (issued, expires)):
            raise PersonTokenRefused("its iat and exp are not whole seconds.")
        if issued > now + LEEWAY_SECONDS:
            raise PersonTokenRefused("it is not valid yet (issued in the future).")
        if now >= expires + LEEWAY_SECONDS:
            raise PersonTokenRefused("it has expired; the console mints a new one per call.")
        if not 0 < expires - issued <= MAX_TTL_SECONDS:
            raise PersonTokenRefused(f"it claims a life beyond {MAX_TTL_SECONDS} seconds.")
        roles = claims["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise PersonTokenRefused("its roles are not a list of role names.")
        try:
            person = Person(
                id=claims["sub"],
                name=claims["name"],
                organisation=claims["org"],
                roles=tuple(roles),
            )
        except ValueError as exc:
            raise PersonTokenRefused(f"it names no person the services act for ({exc}).") from None
        return principal_of(person)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise PersonTokenRefused("it is not a well-formed signed token.") from None
        key = self._keys.get(str(header.get("kid")))
        if header.get("alg") != ALGORITHM or key is None:
            raise PersonTokenRefused("it is not signed by a console key this service trusts.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Time is the app's clock, checked by `principal`, not the wall's.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": list(_CLAIMS),
                },
            )
        except jwt.InvalidAudienceError:
            raise PersonTokenRefused("it is meant for another audience.") from None
        except jwt.InvalidIssuerError:
            raise PersonTokenRefused("it is not issued by the console.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise PersonTokenRefused(f"it lacks the {exc.claim!r} claim.") from None
        except jwt.InvalidSignatureError:
            raise PersonTokenRefused("its signature does not verify.") from None
        except jwt.PyJWTError:
            raise PersonTokenRefused("it is not a well-formed signed token.") from None
        return claims


def _pem_text(value: str) -> str:
    # An environment file may carry a PEM on one line, its line breaks written `\n`.
    return value.replace("\\n", "\n").strip()


def public_keys_of(text: str) -> list[bytes]:
    """The PEM public keys in PERSON_TOKEN_PUBLIC_KEYS (concatenated, in any spacing)."""
    text = _pem_text(text)
    found = _PUBLIC_PEM.findall(text)
    if text and (not found or _PUBLIC_PEM.sub("", text).strip()):
        raise PersonTokenKeyError(
            "PERSON_TOKEN_PUBLIC_KEYS holds something other than PEM public keys "
            "(-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----, one after another)"
        )
    return [block.encode() for block in found]


def embedded_private_key(data_dir: Path) -> bytes:
    """Embedded mode's private key: made once in the data folder (0600, written whole or
    not at all) and read from there at every later start."""
    key_file = data_dir / EMBEDDED_KEY_FILE
    # An empty file is a first run cut short before the key was written: nothing was
    # signed with it.
    if key_file.exists() and key_file.read_bytes().strip():
        return private_file(key_file).read_bytes()
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    partial = key_file.with_name(key_file.name + ".partial")
    partial.unlink(missing_ok=True)
    private_file(partial)
    with partial.open("wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, key_file)
    return pem


def person_token_keys(
    settings: Settings, *, clock: Clock
) -> tuple[PersonTokenSigner | None, PersonTokenVerifier | None]:
    """The signer (a process with PERSON_TOKEN_PRIVATE_KEY: the console) and the
    verifier (any process given public keys, or holding the private key) these settings
    give, reading `clock`; embedded mode with neither setting makes its own key pair.
    Raises PersonTokenKeyError, naming the setting, for a key that does not parse."""
    given = settings.person_token_private_key
    private_pem = _pem_text(given.get_secret_value()) if given is not None else ""
    public_pems = public_keys_of(settings.person_token_public_keys)
    if not private_pem and not public_pems and settings.mode == "embedded":
        private_pem = embedded_private_key(settings.data_dir).decode()
    signer = PersonTokenSigner(private_pem.encode(), clock=clock) if private_pem else None
    # The process that signs trusts its own key too (the verifier keeps one of each).
    trusted = public_pems + ([signer.public_key_pem] if signer is not None else [])
    verifier = PersonTokenVerifier(trusted, clock=clock) if trusted else None
    return signer, verifier
