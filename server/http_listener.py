"""The HTTP listener beside the gRPC port (`USERSERVICE_METRICS_PORT`): Prometheus metrics and
the key set for JWT libraries and proxies that fetch keys over HTTP.

    GET /metrics                            the Prometheus text exposition
    GET /.well-known/jwks.json              the published verification keys (RFC 7517)
    GET /.well-known/openid-configuration   issuer, jwks_uri and the signing algorithm

GET and HEAD only; any other path is 404, any other method 405. It runs in its own threads (one
per request, as prometheus_client's own server does), so a slow scraper or key fetcher never
touches the event loop; what it reads (the key set, the registry) is safe to read from there.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

JWKS_PATH: Final = "/.well-known/jwks.json"
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
METRICS_PATH: Final = "/metrics"
# A Host header we are willing to echo into jwks_uri: a name or address, and a port.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[Mapping[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class KeyPublication:
    """What the well-known documents say, read at each request (the key set may change)."""

    jwks: Callable[[], list[dict[str, str]]]
    issuer: str
    algorithm: str
    max_age_seconds: int
    public_url: str | None  # None: http://<the request's Host>


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _base_url(publication: KeyPublication, environ: Mapping[str, Any]) -> str:
    if publication.public_url is not None:
        return publication.public_url.rstrip("/")
    host = str(environ.get("HTTP_HOST", ""))
    if not _HOST.fullmatch(host):
        host = f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"http://{host}"


def listener_app(registry: CollectorRegistry, publication: KeyPublication) -> WsgiApp:
    metrics_app = make_wsgi_app(registry)
    cache_control = f"public, max-age={publication.max_age_seconds}"

    def document(path: str, environ: Mapping[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
        if path == JWKS_PATH:
            body = _json({"keys": publication.jwks()})
            headers = [("Content-Type", "application/jwk-set+json")]
        else:
            body = _json(
                {
                    "issuer": publication.issuer,
                    "jwks_uri": _base_url(publication, environ) + JWKS_PATH,
                    # What OIDC clients read to pick the algorithm of this issuer's JWTs; the
                    # tokens are access tokens (RFC 9068), none of them an ID token.
                    "id_token_signing_alg_values_supported": [publication.algorithm],
                }
            )
            headers = [("Content-Type", "application/json")]
            if publication.public_url is None:
                headers.append(("Vary", "Host"))
        headers += [("Cache-Control", cache_control), ("Content-Length", str(len(body)))]
        return body, headers

    def app(environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path not in (METRICS_PATH, JWKS_PATH, DISCOVERY_PATH):
            return _plain(start_response, "404 Not Found", b"not found\n")
        if method not in ("GET", "HEAD"):
            return _plain(
                start_response,
                "405 Method Not Allowed",
                b"GET or HEAD\n",
                (("Allow", "GET, HEAD"),),
            )
        if path == METRICS_PATH:
            status, body, headers = _metrics(metrics_app, environ)
        else:
            status = "200 OK"
            body, headers = document(path, environ)
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    return app


def _metrics(
    metrics_app: WsgiApp, environ: Mapping[str, Any]
) -> tuple[str, bytes, list[tuple[str, str]]]:
    """prometheus_client's exposition (it answers GET only), with its length, for GET and HEAD."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.extend((status, headers))

    body = b"".join(metrics_app({**environ, "REQUEST_METHOD": "GET"}, start_response))
    status, headers = answer
    return status, body, [*headers, ("Content-Length", str(len(body)))]


def _plain(
    start_response: StartResponse,
    status: str,
    body: bytes,
    extra: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status, [*headers, *extra])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: scrapes come every few seconds."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass(slots=True)
class HttpListener:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_http_listener(app: WsgiApp, host: str, port: int) -> HttpListener:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("Server", (_ThreadingServer,), {"address_family": family})
    server: WSGIServer = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http-listener", daemon=True)
    thread.start()
    return HttpListener(server, thread)
