"""Secrets: API key generation and hashing, password hashing, encryption of stored secrets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

API_KEY_PREFIX = "sk-"
DISPLAY_PREFIX_LENGTH = 12  # "sk-" + 9 characters: enough to tell keys apart, useless to an attacker

_password_hasher = PasswordHasher()
T = TypeVar("T")


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    """API keys carry 256 random bits, so a fast hash is as safe as a slow one and keeps auth cheap."""
    # surrogateescape: a header with bytes that are not UTF-8 (Sanic keeps them as surrogates)
    # hashes to something no stored key has, instead of failing the request with a 500.
    return hashlib.sha256(secret.encode(errors="surrogateescape")).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# argon2 takes ~0.1 s of CPU and 64 MiB per hash and releases the GIL while it works, so hashing
# in threads does not stall the event loop that serves the API. The pool is small on purpose: one
# core is left to the event loop (on 2 cores, 16 registrations at once moved /healthz's p95 to
# ~50 ms with one thread, ~90 ms with two), and it bounds the memory a burst can take (the
# throttles in dashboard.throttle bound how many get this far); further work waits in its queue.
PASSWORD_THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


@cache
def _password_pool() -> ThreadPoolExecutor:
    # Made on first use, so each worker process starts its own threads after the fork.
    return ThreadPoolExecutor(max_workers=PASSWORD_THREADS, thread_name_prefix="password-hash")


async def in_password_pool(work: Callable[..., T], *args: Any) -> T:
    """Run ``work(*args)`` in the password threads and wait for it."""
    return await asyncio.get_running_loop().run_in_executor(_password_pool(), work, *args)


async def hash_password_off_loop(password: str) -> str:
    return await in_password_pool(hash_password, password)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    return await in_password_pool(verify_password, password_hash, password)


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, so one server secret never serves two ciphers."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"llmgate", info=purpose).derive(secret)


class SecretBox:
    """Encrypts secrets plugins keep at rest (upstream API keys) with a key derived from the server secret."""

    def __init__(self, secret: bytes) -> None:
        # The purpose label is fixed for good: another would leave every stored secret undecryptable.
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, b"ollama-keys")))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another secret or altered."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            return None


def mask_secret(secret: str) -> str:
    """What screens show of a stored secret: its last four characters."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"
