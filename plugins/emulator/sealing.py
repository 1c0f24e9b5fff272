"""Sealing of model thinking into opaque `encrypted_content` tokens.

The emulator is stateless: the client (Codex, the SDK) keeps the conversation and sends our reasoning
items back on the next turn. To give the model its own thinking back without trusting the client with
it, the thinking travels as an authenticated-encrypted token only this gateway can open.

Token layout: ``"lg1." + urlsafe_b64(nonce[12] || AES-256-GCM(flag[1] || payload))`` (no padding), where the
flag says whether the payload is zlib-compressed. The AEAD associated data is the version tag and, for
the gateway's requests, the id of the user the thinking was sealed for (``for_user``): a token cannot be
replayed under another version's rules, nor by another user (it opens to None, like a foreign token).
Tokens sealed before the user's id was bound open for nobody: such a turn goes on without its thinking.
"""

from __future__ import annotations

import base64
import binascii
import os
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "lg1."
_ASSOCIATED_DATA = b"llmgate/emulator/thinking/lg1"
_HKDF_INFO = b"llmgate emulator thinking sealing v1"
_NONCE_BYTES = 12
_FLAG_RAW = b"\x00"
_FLAG_ZLIB = b"\x01"
# Below this size compression rarely pays for its header.
_COMPRESS_FROM = 256
# Refuse absurd inputs before decoding them (a sealed token is never anywhere near this).
_MAX_TOKEN_CHARS = 64 * 1024 * 1024


class ThinkingSealer:
    """Seals thinking text into a token and opens it again; tampered or foreign tokens open to None."""

    __slots__ = ("_aead", "_associated_data")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)) or not secret:
            raise ValueError("ThinkingSealer needs a non-empty secret (bytes)")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(bytes(secret))
        self._aead = AESGCM(key)
        self._associated_data = _ASSOCIATED_DATA

    def for_user(self, user_id: int) -> ThinkingSealer:
        """A sealer (same key) whose tokens open only for ``user_id``; cheap, made per request."""
        bound = object.__new__(ThinkingSealer)
        bound._aead = self._aead
        bound._associated_data = _ASSOCIATED_DATA + b"/user/" + str(user_id).encode()
        return bound

    def seal(self, thinking: str) -> str:
        raw = thinking.encode("utf-8")
        payload = _FLAG_RAW + raw
        if len(raw) >= _COMPRESS_FROM:
            packed = zlib.compress(raw, 6)
            if len(packed) < len(raw):
                payload = _FLAG_ZLIB + packed
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, payload, self._associated_data)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def unseal(self, token: str) -> str | None:
        """The thinking inside ``token``, or None when it is not a valid token of this gateway's secret."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        body = token[len(TOKEN_PREFIX) :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(sealed) <= _NONCE_BYTES:
                return None
            payload = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], self._associated_data)
            flag, data = payload[:1], payload[1:]
            if flag == _FLAG_ZLIB:
                data = zlib.decompress(data)
            elif flag != _FLAG_RAW:
                return None
            return data.decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error, zlib.error, UnicodeDecodeError):
            # ValueError also covers non-ASCII characters in the base64 text.
            return None
