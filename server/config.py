"""Settings: every knob of the service, from `USERSERVICE_*` environment variables or `.env`.

One `Settings` class, validated at start. Production mode refuses the embedded defaults (SQLite,
the in-process store, generated keys, built-in secrets) and names the setting that is wrong.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY_REDIS_URL = "memory://"
# Long enough for endpoints and client-side balancers to drop a pod that reports NOT_SERVING.
DEFAULT_PRODUCTION_DRAIN_SECONDS = 5.0
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/userservice.db"
# Values that have appeared in examples and templates; never accepted as a production secret.
_PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "your-secret-key", "development"}
)


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(enum.StrEnum):
    AUTO = "auto"  # console in development, JSON in production
    CONSOLE = "console"
    JSON = "json"


class SigningAlgorithm(enum.StrEnum):
    EDDSA = "EdDSA"
    RS256 = "RS256"
    ES256 = "ES256"


Seconds = Annotated[float, Field(gt=0)]


def _in_production(info: ValidationInfo) -> bool:
    return info.data.get("environment") is Environment.PRODUCTION


class Settings(BaseSettings):
    """userservice configuration. Field docs are the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="USERSERVICE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="development (embedded defaults allowed) or production (refuses them).",
    )
    host: str = Field("0.0.0.0", description="Address the gRPC server binds.")  # noqa: S104
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validate_default=True,
        description="SQLAlchemy async URL: postgresql+asyncpg://… or sqlite+aiosqlite:///path.",
    )
    database_pool_size: int = Field(10, ge=1, description="PostgreSQL connections kept open.")
    database_max_overflow: int = Field(10, ge=0, description="Extra connections under load.")
    database_timeout_seconds: Seconds = Field(
        5.0, description="Upper bound for one database call when the RPC has no deadline."
    )
    redis_url: str = Field(
        MEMORY_REDIS_URL,
        validate_default=True,
        description="redis://host:port/db, rediss:// for TLS, or memory:// (in-process store).",
    )
    redis_key_prefix: str = Field(
        "userservice:", description="Prefix of every Redis key and channel this service uses."
    )
    redis_timeout_seconds: Seconds = Field(
        0.5, description="Upper bound for one Redis call; past it the call degrades."
    )
    migrate_on_start: bool | None = Field(
        None,
        description="Apply migrations at start; default: on in development, off in production.",
    )
    metrics_host: str = Field("0.0.0.0", description="Address of the Prometheus listener.")  # noqa: S104
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="HTTP port of /metrics and /.well-known/jwks.json (and discovery); 0 disables "
        "it.",
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="URL at which callers reach the HTTP port (e.g. https://keys.example.com), "
        "for the discovery document's jwks_uri; unset: http://<the request's Host header>.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(LogFormat.AUTO, description="auto, console or json.")
    signup_enabled: bool = Field(True, description="Anyone may CreateUser; else admins only.")
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
    user_cache_size: int = Field(
        10_000, ge=0, description="Users kept in each process's own cache; 0 disables it."
    )
    user_cache_ttl_seconds: float = Field(
        60.0, gt=0, description="How long a process keeps a user it read (changes evict at once)."
    )
    user_cache_redis_ttl_seconds: int = Field(
        300, ge=1, description="How long Redis keeps a cached user and a change's tombstone."
    )
    revocation_poll_seconds: Seconds = Field(
        1.0,
        description="How often each process reads recent revocations from the database; a "
        "revocation Redis cannot take is acknowledged after this plus 0.5 s. Same on every "
        "replica.",
    )
    password_min_length: int = Field(12, ge=8, le=128, description="Minimum password length.")
    argon2_memory_kib: int = Field(19456, ge=19456, description="argon2id memory (KiB).")
    argon2_time_cost: int = Field(2, ge=2, description="argon2id iterations.")
    argon2_parallelism: int = Field(1, ge=1, description="argon2id lanes.")
    hashing_threads: int = Field(
        0,
        ge=0,
        description="Threads hashing passwords; 0 means one per CPU this process may run on "
        "(set it to the container's CPU limit when that is lower).",
    )
    hashing_queue_per_thread: int = Field(
        8,
        ge=0,
        description="Calls that may wait for a hashing thread, per thread (8: about a quarter "
        "second of waiting at 30 ms a hash); past them, or when a call's deadline would pass in "
        "the queue, Login, CreateUser, ChangePassword and an email change answer "
        "RESOURCE_EXHAUSTED `PASSWORD_HASHING_BUSY` with RetryInfo at once.",
    )
    login_failures_per_account_and_ip: int = Field(
        10,
        ge=1,
        description="Wrong passwords for one account from one client IP (its /64 for IPv6) per "
        "window before RESOURCE_EXHAUSTED.",
    )
    login_failures_per_account: int = Field(
        100,
        ge=1,
        description="Wrong passwords for one account from all IPs per window (NIST 800-63B's "
        "ceiling), so that a third party cannot cheaply lock the owner out.",
    )
    login_failures_per_ip: int = Field(
        100, ge=1, description="Failed logins per client IP per window before RESOURCE_EXHAUSTED."
    )
    login_failure_window_seconds: int = Field(
        900, ge=1, description="Window of the failed-login counters."
    )
    service_token_ttl_seconds: int = Field(
        600, ge=30, description="Service-account access-token lifetime (at most the access TTL)."
    )
    service_secret_grace_seconds: int = Field(
        3600, ge=0, description="How long a rotated client secret is still accepted."
    )
    service_token_failures_per_client: int = Field(
        10, ge=1, description="Failed IssueServiceToken calls per client id per login window."
    )
    signups_per_ip: int = Field(
        20,
        ge=1,
        description="CreateUser calls per client IP (its /64 for IPv6) per window; "
        "administrators and users:write services are exempt.",
    )
    signup_window_seconds: int = Field(3600, ge=1, description="Window of the sign-up counter.")
    email_changes_per_user: int = Field(
        5, ge=1, description="Email changes a user may attempt on their own account per window."
    )
    email_change_window_seconds: int = Field(
        3600, ge=1, description="Window of the per-user email-change counter."
    )
    one_time_code_ttl_seconds: int = Field(
        900,
        ge=1,
        le=7 * 24 * 3600,
        description="Lifetime of an email-verification or password-reset code.",
    )
    code_requests_window_seconds: int = Field(
        3600, ge=1, description="Window of the verification and password-reset request counters."
    )
    verification_requests_per_user: int = Field(
        5, ge=1, description="RequestEmailVerification calls per user per window."
    )
    password_resets_per_email: int = Field(
        3, ge=1, description="RequestPasswordReset calls per address per window."
    )
    password_resets_per_ip: int = Field(
        20, ge=1, description="RequestPasswordReset calls per client IP per window."
    )
    password_reset_answer_seconds: float = Field(
        0.1,
        ge=0,
        le=5,
        description="RequestPasswordReset answers no sooner than this after its lookup began, so "
        "an address with an account and one without take the same time.",
    )
    require_verified_email: bool = Field(
        False,
        description="Login refuses a user whose email is not verified "
        "(FAILED_PRECONDITION EMAIL_NOT_VERIFIED, only after a correct password).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peers (IPs or CIDRs) whose x-forwarded-for is believed; JSON list.",
    )
    shutdown_drain_seconds: float | None = Field(
        None,
        ge=0,
        description="On SIGTERM, how long to keep serving while health says NOT_SERVING, so load "
        "balancers stop sending before the port closes; unset: 5 in production, 0 in development.",
    )
    shutdown_grace_seconds: Seconds = Field(
        20.0, description="After the drain, how long in-flight calls may take to finish."
    )
    health_check_interval_seconds: Seconds = Field(
        2.0, description="How often readiness re-checks the database and schema."
    )
    purge_interval_seconds: Seconds = Field(
        3600.0,
        description="How often expired sessions, their refresh tokens and idempotency records "
        "are purged.",
    )
    purge_batch_size: int = Field(
        5000, ge=1, le=1_000_000, description="Most rows one purge statement deletes."
    )
    event_poll_seconds: Seconds = Field(
        1.0,
        description="How often an event watcher re-reads the database when no Redis message "
        "woke it (the fallback that delivers events while Redis is down).",
    )
    event_retention_days: int = Field(
        90,
        ge=1,
        le=36_500,
        description="How long the event log keeps an event; the purge deletes older ones.",
    )
    # Transport limits (server/transport.py), chosen for a service behind a mesh or a balancer.
    max_receive_message_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request message accepted (RESOURCE_EXHAUSTED)."
    )
    max_metadata_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest request metadata (headers) accepted; a call with more is refused.",
    )
    max_concurrent_streams: int = Field(
        100, ge=1, description="HTTP/2 streams (calls) open at once on one connection."
    )
    max_concurrent_rpcs: int = Field(
        2000,
        ge=1,
        description="Slots for unary calls (Health/Check included) that streaming calls never "
        "take; past this plus MAX_STREAMING_CALLS grpc answers RESOURCE_EXHAUSTED.",
    )
    max_streaming_calls: int = Field(
        512,
        ge=1,
        description="Streaming calls (e.g. Health/Watch) open at once; past it, "
        "RESOURCE_EXHAUSTED TOO_MANY_STREAMS.",
    )
    max_streaming_calls_per_peer: int = Field(
        32,
        ge=1,
        description="Streaming calls open at once per client address (x-forwarded-for from "
        "TRUSTED_PROXIES; an IPv6 client by its /64). Behind a mesh sidecar, trust it, or "
        "every client counts as one.",
    )
    streaming_call_lifetime_seconds: Seconds = Field(
        60.0,
        description="A streaming call ends cleanly (OK) after 90-100% of this, so clients "
        "re-open it, maybe on another replica; keep it at most MAX_CONNECTION_AGE_GRACE_SECONDS.",
    )
    max_connection_age_seconds: Seconds = Field(
        300.0,
        description="A connection gets GOAWAY after this (grpc adds ±10% jitter), so clients "
        "reconnect and spread over new replicas.",
    )
    max_connection_age_grace_seconds: Seconds = Field(
        60.0, description="How long calls may finish on a connection past its age before it closes."
    )
    keepalive_time_seconds: Seconds = Field(
        60.0, description="The server pings a connection after this long without activity."
    )
    keepalive_timeout_seconds: Seconds = Field(
        20.0, description="A ping unanswered for this long closes the connection."
    )
    keepalive_min_time_seconds: int = Field(
        10,
        ge=1,
        description="Least interval between client pings tolerated; each faster ping is a strike.",
    )
    keepalive_permit_without_calls: bool = Field(
        True, description="Clients may ping a connection with no call open (the SDK does)."
    )
    keepalive_max_ping_strikes: int = Field(
        2, ge=0, description="Strikes tolerated before GOAWAY too_many_pings; 0 = unlimited."
    )
    tls_cert_file: Path | None = Field(None, description="Server certificate (PEM); enables TLS.")
    tls_key_file: Path | None = Field(None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        None, description="CA bundle for client certificates; when set, mutual TLS is required."
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://", MEMORY_REDIS_URL)):
            raise ValueError("must be redis://, rediss://, unix:// or memory://")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("USERSERVICE_TLS_CERT_FILE and USERSERVICE_TLS_KEY_FILE go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("USERSERVICE_TLS_CLIENT_CA_FILE needs USERSERVICE_TLS_CERT_FILE")
        return self

    # Production refuses the embedded defaults. Each check is a validator of its own field (they
    # run on defaults too: validate_default), so one start reports every refusal at once, along
    # with any other invalid setting. `environment` is declared first, so it is in `info.data`.
    @field_validator("database_url")
    @classmethod
    def _production_database(cls, value: str, info: ValidationInfo) -> str:
        if _in_production(info) and value.startswith("sqlite"):
            raise ValueError(
                "USERSERVICE_DATABASE_URL: SQLite is for development; production needs "
                "postgresql+asyncpg://"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _production_redis(cls, value: str, info: ValidationInfo) -> str:
        if _in_production(info) and value.startswith(MEMORY_REDIS_URL):
            raise ValueError(
                "USERSERVICE_REDIS_URL: memory:// is for development; production needs redis://"
            )
        return value

    @field_validator("page_token_secret")
    @classmethod
    def _production_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if not _in_production(info):
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
        if _in_production(info) and not any(value.glob("*.pem")):
            raise ValueError(
                f"USERSERVICE_KEYS_DIR: no signing key (*.pem) in {value}; "
                "create one with `userservice keys generate`"
            )
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_memory_redis(self) -> bool:
        return self.redis_url.startswith(MEMORY_REDIS_URL)

    @property
    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start is None:
            return not self.is_production
        return self.migrate_on_start

    @property
    def drain_seconds(self) -> float:
        if self.shutdown_drain_seconds is None:
            return DEFAULT_PRODUCTION_DRAIN_SECONDS if self.is_production else 0.0
        return self.shutdown_drain_seconds

    @property
    def json_logs(self) -> bool:
        if self.log_format is LogFormat.AUTO:
            return self.is_production
        return self.log_format is LogFormat.JSON
