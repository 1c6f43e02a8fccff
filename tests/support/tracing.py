"""For the tracing tests: an application with the tracing a test chose, the log lines at INFO
(the suite runs at WARNING), and a stand-in OTLP/HTTP collector that records what it is sent."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc.aio
import structlog
from structlog.testing import capture_logs

from server.app import Application, running_application
from server.observability.tracing import Tracing
from tests.support import servers
from tests.support.backends import Backend


@asynccontextmanager
async def serving_traced(
    backend: Backend, tmp_path: Path, tracing: Tracing | None
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    settings = servers.settings_for_test(backend, tmp_path)
    async with (
        running_application(settings, shutdown_grace=1.0, tracing=tracing) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield app, channel


@contextmanager
def info_logs_captured() -> Iterator[list[MutableMapping[str, Any]]]:
    """The log events at INFO and above (the suite's own configuration keeps WARNING)."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**before)


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A stand-in OTLP/HTTP collector: records what is POSTed to it."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
