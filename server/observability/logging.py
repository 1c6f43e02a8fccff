"""structlog configuration, applied once before the server starts.

grpcio 1.75.1+ can deadlock when another thread reconfigures `logging` while calls run
(grpc#43421), so this runs once, in the composition root, and never again.
"""

from __future__ import annotations

import logging
import sys

import structlog

from server.observability.log_output import stderr_logger_factory


def configure_logging(*, level: str, json_logs: bool) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if json_logs:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=stderr_logger_factory,
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard logging module (alembic, asyncio, grpc) go to stderr too.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
