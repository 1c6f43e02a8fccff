"""Settings: every knob of the service, from `USERSERVICE_*` environment variables or `.env`.

One `Settings` class, validated at start, combined from one class per theme (server/settings/),
each with its fields and their validators. Production mode refuses the embedded defaults (SQLite,
the in-process store, generated keys, built-in secrets) and names the setting that is wrong.
"""

from __future__ import annotations

from server.settings.base import Environment, Seconds
from server.settings.operations import LogFormat, OperationsSettings
from server.settings.security import SecuritySettings
from server.settings.storage import DEFAULT_DATABASE_URL, MEMORY_REDIS_URL, StorageSettings
from server.settings.tokens import SigningAlgorithm, TokenSettings
from server.settings.transport import DEFAULT_PRODUCTION_DRAIN_SECONDS, TransportSettings

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_PRODUCTION_DRAIN_SECONDS",
    "MEMORY_REDIS_URL",
    "Environment",
    "LogFormat",
    "Seconds",
    "Settings",
    "SigningAlgorithm",
]


# pydantic orders the fields from the last base to the first: storage's come first in the table.
class Settings(
    OperationsSettings, TransportSettings, SecuritySettings, TokenSettings, StorageSettings
):
    """userservice configuration. Field docs are the README's configuration table."""
