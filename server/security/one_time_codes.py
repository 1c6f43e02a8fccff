"""One-time codes (email verification, password reset): 128 random bits, stored only as an HMAC.

The code goes to the user through the event stream's secret part (notifications:read only);
the database keeps HMAC-SHA256(key, code) under a key derived from the server secret, so the
table alone (a backup, a replica) gives no usable code, and a lookup is one indexed equality:
a 128-bit code needs no slow hash — nobody can guess one, and the HMAC only hides it at rest.
"""

from __future__ import annotations

import hmac
import secrets

# 16 bytes, URL-safe base64 without padding: 22 characters a user can paste.
CODE_BYTES = 16
MAX_CODE_LENGTH = 64


def code_key(server_secret: bytes) -> bytes:
    """The HMAC key, derived so that it never equals a key of another use."""
    return hmac.new(server_secret, b"userservice one-time codes v1", "sha256").digest()


class CodeMinter:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def new(self) -> tuple[str, bytes]:
        """A fresh code and the hash to store."""
        code = secrets.token_urlsafe(CODE_BYTES)
        return code, self.digest(code)

    def digest(self, code: str) -> bytes:
        return hmac.new(self._key, code.encode("utf-8", "surrogatepass"), "sha256").digest()
