"""Signing keys: a directory of PEM files named `<kid>.pem`, one pinned algorithm family.

A key is published (in the JWKS, and accepted for verification) as soon as a process loads it,
and signs only once it has been published for the activation delay
(`USERSERVICE_JWT_KEY_ACTIVATION_SECONDS`, counted from its creation time): consumers that
cache the JWKS for less than that (its Cache-Control says half of it) hold a new key before its
first token. Then the newest active key signs, on every replica at the same moment, without a
restart. An older key is retired when its successor starts signing, and stays published until
every token it could have signed has expired; after that it is dropped even if its file remains.
The only key (or, when none is active yet, the oldest) signs at once. `userservice keys
generate` writes keys whose kid starts with their creation time, so file order is age order;
other kids fall back to mtime.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from server.config import SigningAlgorithm

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey
_KID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# Tokens are accepted up to this long after `exp` on clocks that disagree; keys outlive it too.
CLOCK_LEEWAY = dt.timedelta(seconds=30)
_JWK_PUBLIC_MEMBERS = frozenset({"kty", "crv", "x", "y", "n", "e"})


class KeyError_(Exception):
    """The key directory cannot be used; the message names the file or the setting."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: SigningAlgorithm
    private_key: PrivateKey
    created_at: dt.datetime

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        public = self.public_key
        fields: dict[str, Any]
        if isinstance(public, ed25519.Ed25519PublicKey):
            fields = OKPAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, rsa.RSAPublicKey):
            fields = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            fields = ECAlgorithm.to_jwk(public, as_dict=True)
        members = {k: str(v) for k, v in fields.items() if k in _JWK_PUBLIC_MEMBERS}
        return {**members, "kid": self.kid, "alg": self.algorithm.value, "use": "sig"}


@dataclass(frozen=True, slots=True)
class KeySet:
    algorithm: SigningAlgorithm
    keys: tuple[SigningKey, ...]  # oldest first
    activation: dt.timedelta
    # kid → key, as loaded: keys waiting to sign, the signer, retired keys whose tokens may live.
    published: Mapping[str, SigningKey]

    def signer_at(self, now: dt.datetime) -> SigningKey:
        """The newest key published for the activation delay (with no delay: the newest key)."""
        if not self.activation:
            return self.keys[-1]
        active = [key for key in self.keys if key.created_at + self.activation <= now]
        return active[-1] if active else self.keys[0]

    def verification_key(self, kid: str) -> PublicKey | None:
        key = self.published.get(kid)
        return None if key is None else key.public_key

    def jwks(self) -> list[dict[str, str]]:
        return [key.jwk() for key in self.published.values()]


def _algorithm_of(key: object) -> SigningAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningAlgorithm.EDDSA
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return SigningAlgorithm.RS256
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningAlgorithm.ES256
    return None


def _created_at(path: Path) -> dt.datetime:
    try:
        return dt.datetime.strptime(path.stem.split("-", 1)[0], _KID_TIME_FORMAT).replace(
            tzinfo=dt.UTC
        )
    except ValueError:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def read_key(path: Path, algorithm: SigningAlgorithm) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    found = _algorithm_of(private_key)
    if found is not algorithm:
        raise KeyError_(
            f"{path}: a {found.value if found else 'unsupported'} key, but "
            f"USERSERVICE_JWT_ALGORITHM is {algorithm.value}"
        )
    assert isinstance(private_key, PrivateKey)
    return SigningKey(path.stem, algorithm, private_key, _created_at(path))


def load_key_set(
    directory: Path,
    algorithm: SigningAlgorithm,
    *,
    access_token_ttl: dt.timedelta,
    now: dt.datetime,
    activation: dt.timedelta = dt.timedelta(0),
) -> KeySet:
    paths = sorted(directory.glob("*.pem")) if directory.is_dir() else []
    if not paths:
        raise KeyError_(
            f"USERSERVICE_KEYS_DIR: no signing key (*.pem) in {directory}; "
            "create one with `userservice keys generate`"
        )
    keys = sorted((read_key(p, algorithm) for p in paths), key=lambda k: (k.created_at, k.kid))
    newest = keys[-1]
    published = {newest.kid: newest}
    for key, successor in itertools.pairwise(keys):
        # Retired when its successor started signing; its tokens all expired ttl (+leeway) later.
        if now < successor.created_at + activation + access_token_ttl + CLOCK_LEEWAY:
            published[key.kid] = key
    return KeySet(algorithm, tuple(keys), activation, published)


def _new_private_key(algorithm: SigningAlgorithm) -> PrivateKey:
    if algorithm is SigningAlgorithm.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm is SigningAlgorithm.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ec.generate_private_key(ec.SECP256R1())


def generate_key(directory: Path, algorithm: SigningAlgorithm, *, now: dt.datetime) -> Path:
    """Writes a new key (mode 0600), the signer once published for the activation delay."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    kid = f"{now.strftime(_KID_TIME_FORMAT)}-{secrets.token_hex(4)}"
    pem = _new_private_key(algorithm).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return path
