"""Settings of the database, Redis and the user cache."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from server.settings.base import BaseServiceSettings, Seconds, in_production

MEMORY_REDIS_URL = "memory://"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/userservice.db"


class StorageSettings(BaseServiceSettings):
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
    user_cache_size: int = Field(
        10_000, ge=0, description="Users kept in each process's own cache; 0 disables it."
    )
    user_cache_ttl_seconds: float = Field(
        60.0, gt=0, description="How long a process keeps a user it read (changes evict at once)."
    )
    user_cache_redis_ttl_seconds: int = Field(
        300, ge=1, description="How long Redis keeps a cached user and a change's tombstone."
    )

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

    # Production refuses the embedded defaults. Each check is a validator of its own field (they
    # run on defaults too: validate_default), so one start reports every refusal at once, along
    # with any other invalid setting. `environment` is declared first, so it is in `info.data`.
    @field_validator("database_url")
    @classmethod
    def _production_database(cls, value: str, info: ValidationInfo) -> str:
        if in_production(info) and value.startswith("sqlite"):
            raise ValueError(
                "USERSERVICE_DATABASE_URL: SQLite is for development; production needs "
                "postgresql+asyncpg://"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _production_redis(cls, value: str, info: ValidationInfo) -> str:
        if in_production(info) and value.startswith(MEMORY_REDIS_URL):
            raise ValueError(
                "USERSERVICE_REDIS_URL: memory:// is for development; production needs redis://"
            )
        return value

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
