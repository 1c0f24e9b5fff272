"""ThinkingSealer: authenticated, versioned, never raising on bad input."""

from __future__ import annotations

import base64

import pytest

from plugins.emulator.sealing import TOKEN_PREFIX, ThinkingSealer

SEALER = ThinkingSealer(b"sealing-test-secret")


@pytest.mark.parametrize("text", ["", "short", "ünïcödé ✓ thinking", "long thinking. " * 2000])
def test_round_trip(text: str) -> None:
    token = SEALER.seal(text)
    assert token.startswith(TOKEN_PREFIX)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert SEALER.unseal(token) == text


def test_random_nonce_and_compression() -> None:
    text = "repeat " * 1000
    a, b = SEALER.seal(text), SEALER.seal(text)
    assert a != b
    assert len(a) < len(text)  # compressed before sealing


def test_other_secret_cannot_open() -> None:
    assert ThinkingSealer(b"other").unseal(SEALER.seal("x")) is None


def test_tampering_is_detected() -> None:
    token = SEALER.seal("do not touch")
    raw = bytearray(base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :] + "=" * (-len(token) % 4)))
    for position in (0, 12, len(raw) - 1):
        forged = bytearray(raw)
        forged[position] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        assert SEALER.unseal(TOKEN_PREFIX + text) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "lg1.",
        "lg1.AAAA",
        "lg1.@@@@",
        "lg1.ä",
        "lg2." + "A" * 40,
        "STUB-ENCRYPTED-f9b2",
        None,
        42,
        b"lg1.AAAA",
    ],
)
def test_malformed_or_foreign_input_is_none(token: object) -> None:
    assert SEALER.unseal(token) is None  # type: ignore[arg-type]


def test_secret_is_required() -> None:
    with pytest.raises(ValueError):
        ThinkingSealer(b"")


def test_a_token_sealed_for_one_user_opens_only_for_that_user() -> None:
    alice, bob = SEALER.for_user(1), SEALER.for_user(2)
    token = alice.seal("alice's thinking")
    assert alice.unseal(token) == "alice's thinking"
    assert SEALER.for_user(1).unseal(token) == "alice's thinking"  # a new request of the same user
    assert bob.unseal(token) is None
    assert SEALER.unseal(token) is None  # nor without a user
    assert SEALER.for_user(11).unseal(alice.seal("x")) is None  # ids are not prefixes of each other
