"""The settings every theme builds on: where they are read from, the environment, and the test
of production that its validators use."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import Field, ValidationInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


Seconds = Annotated[float, Field(gt=0)]


def in_production(info: ValidationInfo) -> bool:
    """In a field validator: whether these are production's settings. `environment` is a field of
    the base class every theme shares, so it is validated first and is in `info.data`."""
    return info.data.get("environment") is Environment.PRODUCTION


class BaseServiceSettings(BaseSettings):
    """The root of every themed settings class (server/settings/), which `Settings` combines."""

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

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION
