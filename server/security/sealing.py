"""The secret part of an event (a one-time code), sealed at rest.

The event log keeps what only `notifications:read` may read sealed with AES-GCM under a key
derived from the server secret (the page-token secret, as the idempotency fingerprints are), so
the table alone — a backup, a read replica, an operator's query — reveals no code. A new server
secret makes older sealed parts unreadable; they are short-lived codes, and such an event is
then delivered without them.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


def event_secret_key(server_secret: bytes) -> bytes:
    """The sealing key, derived so that it never equals a key of another use."""
    return hmac.new(server_secret, b"userservice event secrets v1", "sha256").digest()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, values: Mapping[str, str]) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain = json.dumps(dict(values), separators=(",", ":")).encode()
        return nonce + self._aead.encrypt(nonce, plain, None)

    def open(self, sealed: bytes) -> dict[str, str]:
        """The sealed values; empty when they no longer open (the server secret changed)."""
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], None)
        except (InvalidTag, ValueError):
            return {}
        values = json.loads(plain)
        return {str(k): str(v) for k, v in values.items()}
