"""The tracing block of `python -m bench --only tracing`: warm GetUser on the same database and
keys through two userservice processes, one untraced (the default) and one with tracing on,
exporting OTLP/HTTP to a local sink (a stand-in collector that accepts and drops), in interleaved
rounds against the empty-RPC ceiling. Every call is sampled unless `--trace-ratio` says less."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from bench.environment import Process, free_port, userservice


class _Sink(BaseHTTPRequestHandler):
    posts: ClassVar[list[int]]  # set on the subclass each sink makes

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts[0] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP endpoint that accepts every export and drops it; yields (url, [posts])."""
    posts = [0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Sink", (_Sink,), {"posts": posts}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def traced_userservice(
    workdir: Path, env: dict[str, str], *, ratio: float
) -> Iterator[tuple[Process, list[int]]]:
    """A second userservice on the same database and keys, with tracing on."""
    traced_dir = workdir / "traced"
    traced_dir.mkdir(exist_ok=True)
    with otlp_sink() as (endpoint, posts):
        otel = {
            "USERSERVICE_KEYS_DIR": str(workdir / "keys"),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "userservice-bench",
        }
        if ratio < 1.0:
            otel |= {
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(ratio),
            }
        with userservice(traced_dir, {**env, **otel}, metrics_port=free_port()) as process:
            yield process, posts
