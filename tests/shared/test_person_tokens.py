"""Person tokens: the console signs one per call, a service verifies it against the app's
clock and the console's public keys, and anything else is refused without echoing it."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from shared.auth import ClientKind, Principal, requires
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.people import Person
from shared.person_tokens import (
    EMBEDDED_KEY_FILE,
    MAX_TTL_SECONDS,
    PersonTokenKeyError,
    PersonTokenSigner,
    PersonTokenVerifier,
    key_id,
    person_token_keys,
)
from shared.problems import install_problem_handlers
from shared.runtime import build_app
from shared.settings import Settings, embedded_settings

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SAM = Person(
    id="per_sam", name="Sam Hale", organisation="demoshire-hub", roles=("hub_practitioner",)
)


def pair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as PEM: (private, public)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    return pair()


def forged(private_pem: bytes, **claims: Any) -> str:
    """A token signed with `private_pem` (and naming its key) with these claims changed."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    issued = int(NOW.timestamp())
    body: dict[str, Any] = {
        "iss": "signpost-console",
        "aud": "signpost",
        "sub": "per_sam",
        "name": "Sam Hale",
        "org": "demoshire-hub",
        "roles": ["hub_practitioner"],
        "iat": issued,
        "exp": issued + 60,
        "jti": "j1",
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": key_id(key.public_key())})


def test_a_minted_token_verifies_as_the_person_on_the_apps_clock(
    clock: Clock, keys: tuple[bytes, bytes]
) -> None:
    private, public = keys
    token = PersonTokenSigner(private, clock=clock).mint(SAM)
    principal = PersonTokenVerifier([public], clock=clock).verify(token)
    assert principal == Principal(
        key_id="person:per_sam",
        client_id="per_sam",
        name="Sam Hale",
        kind=ClientKind.HUB,
        organisation="demoshire-hub",
        scopes=frozenset(
            {
                "referrals:read",
                "referrals:write",
                "triage:override",
                "encompass:read",
                "subscriptions:read",
            }
        ),
        person_id="per_sam",
        person_name="Sam Hale",
        roles=frozenset({"hub_practitioner"}),
    )


def test_a_token_carries_the_claims_the_services_read_and_lives_a_minute(
    clock: Clock, keys: tuple[bytes, bytes]
) -> None:
    token = PersonTokenSigner(keys[0], clock=clock).mint(SAM)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {k: v for k, v in claims.items() if k != "jti"} == {
        "iss": "signpost-console",
        "aud": "signpost",
        "sub": "per_sam",
        "name": "Sam Hale",
        "org": "demoshire-hub",
        "roles": ["hub_practitioner"],
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
    }
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    again = PersonTokenSigner(keys[0], clock=clock).mint(SAM)
    assert jwt.decode(again, options={"verify_signature": False})["jti"] != claims["jti"]


def test_a_token_is_refused_once_expired_on_the_apps_clock(
    clock: Clock, keys: tuple[bytes, bytes]
) -> None:
    private, public = keys
    token = PersonTokenSigner(private, clock=clock).mint(SAM)
    verifier = PersonTokenVerifier([public], clock=clock)
    clock.advance(seconds=62)  # past its minute, within the leeway for two clocks
    assert verifier.verify(token) is not None
    clock.advance(seconds=5)
    assert verifier.verify(token) is None


def test_a_token_from_the_future_is_not_valid_yet(keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    token = PersonTokenSigner(private, clock=Clock(NOW + timedelta(seconds=30))).mint(SAM)
    assert PersonTokenVerifier([public], clock=Clock(NOW)).verify(token) is None


def test_the_wall_clock_plays_no_part(keys: tuple[bytes, bytes]) -> None:
    # Minted and verified years from today's date: only the app's clock counts.
    far = Clock(datetime(2031, 6, 1, tzinfo=UTC))
    private, public = keys
    assert PersonTokenVerifier([public], clock=far).verify(
        PersonTokenSigner(private, clock=far).mint(SAM)
    )


def test_a_tampered_token_is_refused(clock: Clock, keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    header, payload, signature = PersonTokenSigner(private, clock=clock).mint(SAM).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["org"] = "demoshire-families"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert (
        PersonTokenVerifier([public], clock=clock).verify(f"{header}.{changed}.{signature}") is None
    )


def test_a_token_signed_with_another_key_is_refused(
    clock: Clock, keys: tuple[bytes, bytes]
) -> None:
    _, public = keys
    other, _ = pair()
    token = PersonTokenSigner(other, clock=clock).mint(SAM)
    assert PersonTokenVerifier([public], clock=clock).verify(token) is None


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "not-the-console"},
        {"roles": ["superuser"]},
        {"roles": ["partnership_analyst", "agency_worker"]},  # kinds that do not combine
        {"roles": "hub_practitioner"},
        {"sub": "x" * 36},
        {"jti": None},
        {"exp": int(NOW.timestamp()) + MAX_TTL_SECONDS + 1},  # a life beyond five minutes
        {"exp": str(int(NOW.timestamp()) + 60)},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_correctly_signed_token_with_claims_the_services_do_not_accept_is_refused(
    clock: Clock, keys: tuple[bytes, bytes], claims: dict[str, Any]
) -> None:
    private, public = keys
    verifier = PersonTokenVerifier([public], clock=clock)
    assert verifier.verify(forged(private)) is not None  # the same, unchanged, is accepted
    assert verifier.verify(forged(private, **claims)) is None


@pytest.mark.parametrize("token", ["", "a.b.c", "not a token", "eyJhbGciOiJub25lIn0.e30."])
def test_a_malformed_token_is_refused(clock: Clock, keys: tuple[bytes, bytes], token: str) -> None:
    assert PersonTokenVerifier([keys[1]], clock=clock).verify(token) is None


def test_during_a_rotation_tokens_of_the_old_and_the_new_key_both_verify(clock: Clock) -> None:
    (old_private, old_public), (new_private, new_public) = pair(), pair()
    old = PersonTokenSigner(old_private, clock=clock).mint(SAM)
    new = PersonTokenSigner(new_private, clock=clock).mint(SAM)
    both = PersonTokenVerifier([old_public, new_public], clock=clock)
    assert both.verify(old) is not None and both.verify(new) is not None
    after = PersonTokenVerifier([new_public], clock=clock)
    assert after.verify(old) is None and after.verify(new) is not None


def test_a_signer_mints_for_five_minutes_at_most(clock: Clock, keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="300"):
        PersonTokenSigner(keys[0], clock=clock, ttl_seconds=MAX_TTL_SECONDS + 1)


# ---------------------------------------------------------------- keys from settings


def distributed(**values: Any) -> Settings:
    return Settings(mode="distributed", **values)


def test_distributed_settings_read_the_private_key_and_several_public_keys(clock: Clock) -> None:
    (private, public), (_, older) = pair(), pair()
    # As an environment file may carry them: on one line, the line breaks written \n.
    one_line = (public + older).decode().replace("\n", "\\n")
    signer, verifier = person_token_keys(
        distributed(person_token_private_key=private.decode(), person_token_public_keys=one_line),
        clock=clock,
    )
    assert signer is not None and verifier is not None
    assert verifier.verify(signer.mint(SAM)) is not None


def test_a_service_given_only_public_keys_verifies_but_cannot_sign(clock: Clock) -> None:
    private, public = pair()
    signer, verifier = person_token_keys(
        distributed(person_token_public_keys=public.decode()), clock=clock
    )
    assert signer is None and verifier is not None
    assert verifier.verify(PersonTokenSigner(private, clock=clock).mint(SAM)) is not None


def test_a_distributed_service_without_keys_has_no_verifier(clock: Clock) -> None:
    assert person_token_keys(distributed(), clock=clock) == (None, None)


async def test_a_distributed_service_without_public_keys_refuses_a_person_token_saying_why(
    clock: Clock,
) -> None:
    _, verifier = person_token_keys(distributed(), clock=clock)
    app = FastAPI()
    app.state.person_tokens = verifier
    install_problem_handlers(app)

    @app.get("/v1/thing")
    async def thing(principal: Annotated[Principal, requires()]) -> dict[str, str]:
        return {"who": principal.client_id}

    token = PersonTokenSigner(pair()[0], clock=clock).mint(SAM)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/v1/thing", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert "PERSON_TOKEN_PUBLIC_KEYS" in answer.json()["detail"]
    assert token not in answer.text


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (
            "person_token_private_key",
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJpdHM=\n-----END PRIVATE KEY-----",
        ),
        (
            "person_token_public_keys",
            "-----BEGIN PUBLIC KEY-----\nc2VjcmV0LWJpdHM=\n-----END PUBLIC KEY-----",
        ),
        ("person_token_public_keys", "c2VjcmV0LWJpdHM="),
    ],
)
def test_a_key_that_does_not_parse_stops_the_service_at_start_naming_the_setting_not_the_key(
    tmp_path: Path, clock: Clock, setting: str, value: str
) -> None:
    settings = distributed(**{setting: value})
    with pytest.raises(PersonTokenKeyError) as refused:
        build_app(
            title="t",
            definitions=[],
            settings=settings,
            bus=EmbeddedBus(tmp_path / "events.db"),
            clock=clock,
        )
    assert setting.upper() in str(refused.value)
    assert "c2VjcmV0LWJpdHM" not in str(refused.value)


def test_a_public_key_of_another_algorithm_is_refused(clock: Clock) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(PersonTokenKeyError, match="key 2 of PERSON_TOKEN_PUBLIC_KEYS"):
        person_token_keys(
            distributed(person_token_public_keys=(pair()[1] + other).decode()), clock=clock
        )


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_embedded_mode_makes_its_key_once_private_and_keeps_it_across_restarts(
    tmp_path: Path, clock: Clock
) -> None:
    data = tmp_path / "var"
    signer, verifier = person_token_keys(embedded_settings(data), clock=clock)
    assert signer is not None and verifier is not None
    token = signer.mint(SAM)
    assert verifier.verify(token) is not None
    key_file = data / EMBEDDED_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_bytes()

    _, restarted = person_token_keys(embedded_settings(data), clock=clock)  # a restart
    assert key_file.read_bytes() == first
    assert restarted is not None and restarted.verify(token) is not None
    assert not (data / (EMBEDDED_KEY_FILE + ".partial")).exists()


def test_embedded_mode_given_a_key_pair_uses_it_and_makes_none(
    tmp_path: Path, clock: Clock
) -> None:
    private, public = pair()
    data = tmp_path / "var"
    signer, _ = person_token_keys(
        embedded_settings(data, person_token_private_key=private.decode()), clock=clock
    )
    assert signer is not None and signer.public_key_pem == public
    assert not (data / EMBEDDED_KEY_FILE).exists()
