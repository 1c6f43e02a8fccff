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
from server.wiring import Services

Action = Callable[[Services], Awaitable[None]]


def run_offline(settings: Settings, action: Action) -> int:
    """0 once `action` has run; 1, naming the reason on stderr, when it raised a domain error."""
    configure_logging(level="WARNING", json_logs=settings.json_logs)

    async def run() -> int:
        try:
            async with offline_services(settings) as services:
                await action(services)
        except DomainError as exc:
            print(f"userservice: {exc.message} ({exc.reason})", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(run())
