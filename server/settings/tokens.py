"""Settings of signing keys, access and refresh tokens, service tokens and page tokens."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from server.settings.base import BaseServiceSettings, Seconds, in_production

# Values that have appeared in examples and templates; never accepted as a production secret.
_PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "your-secret-key", "development"}
)


class SigningAlgorithm(enum.StrEnum):
    EDDSA = "EdDSA"
    RS256 = "RS256"
    ES256 = "ES256"


class TokenSettings(BaseServiceSettings):
    keys_dir: Path = Field(
        Path("var/keys"),
        validate_default=True,
        description="Directory of PEM signing keys (<kid>.pem); the newest active one signs.",
    )
    jwt_algorithm: SigningAlgorithm = Field(
        SigningAlgorithm.EDDSA, description="Signing algorithm family: EdDSA, RS256 or ES256."
    )
    jwt_issuer: str = Field("userservice", min_length=1, description="`iss` of access tokens.")
    jwt_audience: str = Field("userservice", min_length=1, description="`aud` of access tokens.")
    jwt_key_activation_seconds: int = Field(
        600,
        ge=0,
        description="How long a new signing key is published before it signs (from its creation "
        "time); the JWKS's Cache-Control max-age is half of it. 0: a new key signs at once.",
    )
    access_token_ttl_seconds: int = Field(900, ge=30, description="Access-token lifetime.")
    refresh_token_ttl_seconds: int = Field(
        30 * 24 * 3600, ge=60, description="Refresh-token (session) lifetime."
    )
    refresh_reuse_grace_seconds: int = Field(
        0, ge=0, description="Window in which the previous refresh token still works; 0 = off."
    )
    page_token_secret: SecretStr | None = Field(
        None,
        validate_default=True,
        description="HMAC key for page tokens (≥ 32 chars); required in production "
        "(development derives one from the database URL).",
    )
    verified_token_cache_size: int = Field(
        20_000, ge=0, description="Verified access tokens kept per process (until their exp)."
    )
    revocation_poll_seconds: Seconds = Field(
        1.0,
        description="How often each process reads recent revocations from the database; a "
        "revocation Redis cannot take is acknowledged after this plus 0.5 s. Same on every "
        "replica.",
    )
    service_token_ttl_seconds: int = Field(
        600, ge=30, description="Service-account access-token lifetime (at most the access TTL)."
    )
    service_secret_grace_seconds: int = Field(
        3600, ge=0, description="How long a rotated client secret is still accepted."
    )

    @field_validator("page_token_secret")
    @classmethod
    def _production_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if not in_production(info):
            return value
        if value is None:
            raise ValueError("USERSERVICE_PAGE_TOKEN_SECRET: required in production")
        secret = value.get_secret_value()
        if secret.strip().lower() in _PLACEHOLDER_SECRETS or len(secret) < 32:
            raise ValueError(
                "USERSERVICE_PAGE_TOKEN_SECRET: a placeholder or shorter than 32 characters"
            )
        return value

    @field_validator("keys_dir")
    @classmethod
    def _production_keys(cls, value: Path, info: ValidationInfo) -> Path:
        if in_production(info) and not any(value.glob("*.pem")):
            raise ValueError(
                f"USERSERVICE_KEYS_DIR: no signing key (*.pem) in {value}; "
                "create one with `userservice keys generate`"
            )
        return value
