"""Access tokens (RFC 9068 profile, RFC 8725 practices) and opaque refresh tokens.

Signing: header `typ: at+jwt` and `kid`; claims iss, aud, sub, exp, iat, nbf, jti, plus sid and
role for a user, or scope for a service account. Verification: a size limit; `typ`, `alg` and
`kid` checked before any cryptography; the algorithm pinned to the configured family; `kid`
looked up only in the local key set (`jku`, `x5u` and embedded `jwk` headers are never used);
every claim required and of its JSON type (NumericDate a number, not a string or a boolean),
so a validly signed token with malformed claims is TOKEN_INVALID like any other bad token.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.types import Options

from server.errors import Reason, Unauthenticated
from server.security.keys import CLOCK_LEEWAY, KeySet

MAX_TOKEN_BYTES: Final = 4096
TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
_REQUIRED_CLAIMS: Final = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]


def token_invalid(why: str = "the access token is not valid") -> Unauthenticated:
    """A presented access token (or its `authorization` header) that cannot be believed."""
    return Unauthenticated(why, reason=Reason.TOKEN_INVALID)


def token_missing() -> Unauthenticated:
    """A call that needs an access token came without one."""
    return Unauthenticated("this call needs an access token", reason=Reason.TOKEN_MISSING)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    subject: str
    token_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    session_id: str | None = None  # user tokens
    role: str | None = None  # user tokens
    scopes: tuple[str, ...] = ()  # service tokens

    @property
    def is_service(self) -> bool:
        return self.session_id is None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


class AccessTokenCodec:
    def __init__(self, keys: KeySet, *, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = [keys.algorithm.value]
        # Access tokens signed, by kind: "user" or "service" (exported as a metric).
        self.issued: collections.Counter[str] = collections.Counter()

    @property
    def keys(self) -> KeySet:
        return self._keys

    def issue(
        self,
        subject: str,
        *,
        now: dt.datetime,
        ttl: dt.timedelta,
        session_id: str | None = None,
        role: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> IssuedToken:
        expires_at = now + ttl
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = session_id
            claims["role"] = role
        else:
            claims["scope"] = " ".join(scopes)
        signer = self._keys.signer_at(now)
        token = jwt.encode(
            claims,
            signer.private_key,
            algorithm=signer.algorithm.value,
            headers={"kid": signer.kid, "typ": TOKEN_TYPE},
        )
        self.issued["user" if session_id is not None else "service"] += 1
        return IssuedToken(token, dt.datetime.fromtimestamp(claims["exp"], dt.UTC))

    def verify(self, token: str) -> AccessClaims:
        """The token's claims, or Unauthenticated with reason TOKEN_INVALID or TOKEN_EXPIRED."""
        if len(token) > MAX_TOKEN_BYTES:
            raise token_invalid("the access token is too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise token_invalid() from None
        typ, alg, kid = header.get("typ"), header.get("alg"), header.get("kid")
        if not isinstance(typ, str) or typ.lower() not in {TOKEN_TYPE, f"application/{TOKEN_TYPE}"}:
            raise token_invalid("not an access token")
        if alg not in self._algorithms or not isinstance(kid, str):
            raise token_invalid()
        key = self._keys.verification_key(kid)
        if key is None:
            raise token_invalid("the access token was signed by an unknown key")
        try:
            # PyJWT checks the signature only. Its claim checks coerce with int(), so a signed
            # `"exp": "1700000000"` or `"nbf": true` passed them, and a huge `exp` then overflowed
            # datetime: INTERNAL instead of TOKEN_INVALID. _claims checks each claim's type first.
            payload = jwt.decode(token, key, algorithms=self._algorithms, options=_SIGNATURE_ONLY)
        except jwt.PyJWTError:
            raise token_invalid() from None
        return _claims(payload, issuer=self._issuer, audience=self._audience, now=time.time())


_SIGNATURE_ONLY: Final[Options] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}
# NumericDate (RFC 7519 §2) bounded to what a datetime can hold: 1970 to the end of year 9999.
_LATEST_TIMESTAMP: Final = 253_402_300_799


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    # bool is an int to Python, not a number to JSON: true is no date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise token_invalid()
    if not 0 <= value <= _LATEST_TIMESTAMP:  # False for NaN too
        raise token_invalid()
    return float(value)


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise token_invalid()
    return value


def _claims(claims: dict[str, Any], *, issuer: str, audience: str, now: float) -> AccessClaims:
    """Every claim required and of its type, then iss and aud, then the time window."""
    if any(name not in claims for name in _REQUIRED_CLAIMS):
        raise token_invalid()
    subject, token_id, token_issuer = (_text(claims, n) for n in ("sub", "jti", "iss"))
    issued, not_before, expires = (_numeric_date(claims, n) for n in ("iat", "nbf", "exp"))
    audiences = claims["aud"]
    if isinstance(audiences, str):
        audiences = [audiences]
    if token_issuer != issuer or not isinstance(audiences, list) or audience not in audiences:
        raise token_invalid()
    # The leeway covers replicas whose clocks run a little ahead of this one's at issue time. It is
    # never applied to `exp`: the issuer honours its own tokens exactly until they expire (the
    # leeway is for other services' clocks, in the JWKS retention and the SDK's verifier).
    leeway = CLOCK_LEEWAY.total_seconds()
    if issued > now + leeway or not_before > now + leeway:
        raise token_invalid("the access token is not valid yet")
    if expires <= now:
        raise Unauthenticated("the access token has expired", reason=Reason.TOKEN_EXPIRED)
    issued_at = dt.datetime.fromtimestamp(issued, dt.UTC)
    expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
    session_id, role, scope = claims.get("sid"), claims.get("role"), claims.get("scope")
    if isinstance(session_id, str) and isinstance(role, str) and scope is None:
        return AccessClaims(
            subject, token_id, issued_at, expires_at, session_id=session_id, role=role
        )
    if isinstance(scope, str) and session_id is None and role is None:
        return AccessClaims(subject, token_id, issued_at, expires_at, scopes=tuple(scope.split()))
    raise token_invalid()


def new_refresh_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> bytes:
    # A fast hash is right here: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def seal_successor(presented: str, successor: str) -> bytes:
    """The successor of a rotated refresh token, readable only with the token it replaced.

    Stored with the rotated token so that, within the reuse grace period, presenting it again
    answers with the same successor instead of starting a second chain. The key derives from the
    presented token, which the database never holds (it keeps a SHA-256 under no prefix), so the
    table alone reveals no live token.
    """
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_successor_key(presented)).encrypt(nonce, successor.encode(), None)


def open_successor(presented: str, sealed: bytes) -> str | None:
    """The successor sealed under `presented`; None when it does not open."""
    try:
        plain = AESGCM(_successor_key(presented)).decrypt(sealed[:12], sealed[12:], None)
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


def _successor_key(presented: str) -> bytes:
    return hashlib.sha256(
        b"userservice refresh successor\x00" + presented.encode("utf-8", "surrogatepass")
    ).digest()
