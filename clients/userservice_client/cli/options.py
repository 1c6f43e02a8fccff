"""The global options of `userservice-client`: where the server is, how to reach it, how to print.

The address comes from `--address`, else $USERSERVICE_ADDRESS, else the saved login's address,
else 127.0.0.1:50051; only the first two count as "given" (see `login_state`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from userservice_client.channel import TlsOptions
from userservice_client.cli.outcomes import usage_error
from userservice_client.cli.token_file import default_token_file

ADDRESS_ENV: Final = "USERSERVICE_ADDRESS"
DEFAULT_ADDRESS: Final = "127.0.0.1:50051"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class Options:
    """The global options of one run, checked.

    Attributes:
        address: the address given by flag or environment; None lets the saved login decide.
        tls: TLS settings; None for a plaintext channel.
        timeout: the deadline of each call, in seconds.
        json: print JSON for scripts instead of tables.
        token_file: where the login is saved.
    """

    address: str | None
    tls: TlsOptions | None
    timeout: float
    json: bool
    token_file: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        """The options of a parsed command line; USAGE when the TLS files do not fit."""
        address: str | None = args.address or os.environ.get(ADDRESS_ENV) or None
        token_file: Path = args.token_file or default_token_file()
        return cls(
            address=address,
            tls=tls_options(args),
            timeout=float(args.timeout),
            json=bool(args.json),
            token_file=token_file.expanduser(),
        )


def tls_options(args: argparse.Namespace) -> TlsOptions | None:
    """TLS when --tls, --ca-file, --cert-file or --key-file is given; its files must be readable."""
    wanted = bool(args.tls or args.ca_file or args.cert_file or args.key_file)
    if not wanted:
        if args.server_name:
            raise usage_error("--server-name needs TLS: add --tls or --ca-file")
        return None
    try:
        tls = TlsOptions(
            ca_file=args.ca_file,
            cert_file=args.cert_file,
            key_file=args.key_file,
            server_name_override=args.server_name,
        )
    except ValueError:
        raise usage_error("--cert-file and --key-file go together (mutual TLS)") from None
    try:
        tls.channel_credentials()  # read the files now, to name one that is missing
    except OSError as exc:
        raise usage_error(f"cannot read {exc.filename}: {exc.strerror}") from None
    return tls


__all__ = ["ADDRESS_ENV", "DEFAULT_ADDRESS", "DEFAULT_TIMEOUT_SECONDS", "Options", "tls_options"]
