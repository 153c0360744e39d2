"""Local accounts' passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106), a
constant-time answer whether or not the account exists, and generated passwords."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# The fewest characters a chosen password may have (NCSC: length over complexity).
MIN_LENGTH = 12
# Words a generated password is made of would be friendlier; 20 URL-safe characters
# (120 bits) is simply strong, and the demo prints it once.
GENERATED_BYTES = 15


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _decoy() -> str:
    # Verified against when the email is unknown, so an unknown account takes as long
    # to refuse as a wrong password.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash stored for a local account (ValueError if too short)."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from; with no stored hash (an
    unknown or identity-provider account) the same work is done and the answer is no."""
    try:
        return _hasher().verify(stored or _decoy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generated_password() -> str:
    """A new random password (for `signpost users create` without one, and the demo)."""
    return secrets.token_urlsafe(GENERATED_BYTES)
