"""Transport security: server certificate and key, optional client CA (mutual TLS).

The files are re-read when they change: gRPC asks for the configuration at each new handshake,
so a rotated certificate serves new connections at once while open ones keep theirs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import structlog


class CertificateFiles:
    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None) -> None:
        self._paths = (cert_file, key_file, client_ca_file)
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self._log = structlog.get_logger("userservice.tls")

    def _stamps(self) -> tuple[float, ...]:
        return tuple(p.stat().st_mtime_ns if p else 0 for p in self._paths)

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        cert_file, key_file, ca_file = self._paths
        return grpc.ssl_server_certificate_configuration(
            [(key_file.read_bytes(), cert_file.read_bytes())],
            root_certificates=ca_file.read_bytes() if ca_file else None,
        )

    def changed_configuration(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC (from its own threads) before each handshake; None means unchanged."""
        with self._lock:
            try:
                stamp = self._stamps()
                if stamp == self._stamp:
                    return None
                configuration = self.configuration()
            except (OSError, ValueError) as exc:
                # Mid-rotation (one file written, not the other) or unreadable: keep the old one.
                self._log.warning(
                    "certificate reload failed; keeping the current one", error=str(exc)
                )
                return None
            self._stamp = stamp
        self._log.info("certificate files changed; new connections use them")
        return configuration


def server_credentials(
    cert_file: Path | None, key_file: Path | None, client_ca_file: Path | None
) -> grpc.ServerCredentials | None:
    if cert_file is None or key_file is None:
        return None
    files = CertificateFiles(cert_file, key_file, client_ca_file)
    return grpc.dynamic_ssl_server_credentials(
        files.configuration(),
        files.changed_configuration,  # type: ignore[arg-type]  # None = unchanged, per grpc docs
        require_client_authentication=client_ca_file is not None,
    )


def channel_credentials(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """Client side (`userservice health`, tests): trust `ca_file`, optionally present a cert."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )
