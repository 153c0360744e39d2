"""Local passwords: argon2id, a minimum length, and no shortcut for unknown accounts."""

from __future__ import annotations

import pytest

from services.console.passwords import (
    MIN_LENGTH,
    generated_password,
    hash_password,
    verify_password,
)


def test_a_password_is_stored_as_an_argon2id_hash_that_verifies_only_itself() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")


def test_a_short_password_is_refused() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_LENGTH}"):
        hash_password("short")


def test_an_account_without_a_password_never_verifies() -> None:
    assert not verify_password(None, "anything at all")
    assert not verify_password("not a hash", "anything at all")


def test_generated_passwords_are_long_and_different() -> None:
    first, second = generated_password(), generated_password()
    assert first != second and len(first) >= 20
    assert verify_password(hash_password(first), first)
