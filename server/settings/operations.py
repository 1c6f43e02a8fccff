"""Settings of the event log, the purge, logging and the HTTP (metrics and keys) listener."""

from __future__ import annotations

import enum

from pydantic import Field, field_validator

from server.settings.base import BaseServiceSettings, Seconds


class LogFormat(enum.StrEnum):
    AUTO = "auto"  # console in development, JSON in production
    CONSOLE = "console"
    JSON = "json"


class OperationsSettings(BaseServiceSettings):
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
    purge_interval_seconds: Seconds = Field(
        3600.0,
        description="How often expired sessions, their refresh tokens and idempotency records "
        "are purged.",
    )
    purge_batch_size: int = Field(
        5000, ge=1, le=1_000_000, description="Most rows one purge statement deletes."
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(LogFormat.AUTO, description="auto, console or json.")
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

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def json_logs(self) -> bool:
        if self.log_format is LogFormat.AUTO:
            return self.is_production
        return self.log_format is LogFormat.JSON
