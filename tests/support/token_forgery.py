"""An attacker's view of access tokens, for the token-attack tests: a forger that mints tokens
for a victim's session with PyJWT (by default exactly as the server would), and the refusal
those tokens must meet as the bearer of GetUser("me")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server.config import Settings
from tests.support.flows import get_me, rpc_failure
from tests.support.rich_errors import RichError

ACCESS_TOKEN_TYPE = "at+jwt"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_private_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


@dataclass(frozen=True, slots=True)
class Forger:
    """Mints access tokens for one victim's session, by default exactly as the server would."""

    settings: Settings
    kid: str  # the server's signing key
    server_key: ed25519.Ed25519PrivateKey
    user_id: str
    session_id: str
    issued_token: str  # what the server itself issued at login

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims for the victim's session; a change to None removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": self.user_id,
            "sid": self.session_id,
            "role": "user",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: ed25519.Ed25519PrivateKey | None = None,
        **headers: Any,
    ) -> str:
        """EdDSA with the server's key and kid unless told otherwise; a None header is left out."""
        header = {"kid": self.kid, "typ": ACCESS_TOKEN_TYPE, **headers}
        # PyJWT itself leaves out a falsy `typ`.
        header = {
            name: value for name, value in header.items() if value is not None or name == "typ"
        }
        claims = self.claims() if claims is None else claims
        return jwt.encode(claims, key or self.server_key, algorithm="EdDSA", headers=header)

    def hs256(self, secret: bytes) -> str:
        """HMAC with the server's public key as the secret: the classic algorithm confusion.

        By hand, because PyJWT (rightly) refuses a PEM key as an HMAC secret.
        """
        header = {"alg": "HS256", "kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        signing_input = (
            f"{b64(json.dumps(header).encode())}.{b64(json.dumps(self.claims()).encode())}"
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"

    def public_bytes(self, encoding: serialization.Encoding) -> bytes:
        public_format = (
            serialization.PublicFormat.Raw
            if encoding is serialization.Encoding.Raw
            else serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return self.server_key.public_key().public_bytes(encoding, public_format)


async def refused(channel: grpc.aio.Channel, token: str) -> RichError:
    error = await rpc_failure(get_me(channel, token))
    assert error.code is grpc.StatusCode.UNAUTHENTICATED, error
    return error
