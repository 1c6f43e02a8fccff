"""Running one operator's command (create-admin, service-accounts …) against the services, with
no server: the one start-up path of every such command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from server.app import offline_services
from server.config import Settings
from server.errors import DomainError
from server.observability.logging import configure_logging
from server.startup_failures import report, require_existing_database
from server.wiring import Services

Action = Callable[[Services], Awaitable[None]]


def run_offline(settings: Settings, action: Action) -> int:
    """0 once `action` has run; 1, naming the reason on stderr, when it raised a domain error;
    1 or 2 with one line when the database cannot be used (see server/startup_failures.py)."""
    configure_logging(level="WARNING", json_logs=settings.json_logs)

    async def run() -> int:
        try:
            require_existing_database(settings)
            async with offline_services(settings) as services:
                await action(services)
        except DomainError as exc:
            if (status := report(exc, settings)) is not None:  # the database is down
                return status
            print(f"userservice: {exc.message} ({exc.reason})", file=sys.stderr)
            return 1
        except Exception as exc:  # an operator's problem is one line; a bug keeps its trace
            if (status := report(exc, settings)) is None:
                raise
            return status
        return 0

    return asyncio.run(run())
