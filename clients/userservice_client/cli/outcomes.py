"""How a run of `userservice-client` ends: its exit status, and the failures found locally.

Each status names a kind of outcome a script can act on (log in again, wait, give up), not the
individual error reason; the reasons stay available in the `--json` error document.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

import grpc

from userservice_client.errors import UserServiceError


class ExitCode(enum.IntEnum):
    """The exit statuses of `userservice-client` (the table in the package docstring)."""

    OK = 0
    REFUSED = 1
    """The server refused the call for any reason not below, or a local step failed."""
    USAGE = 2
    """The command line (or a password that was needed) was wrong or missing."""
    NOT_LOGGED_IN = 3
    """UNAUTHENTICATED: no saved login, the session ended, or a wrong email or password."""
    PERMISSION_DENIED = 4
    NOT_FOUND = 5
    RATE_LIMITED = 6
    UNAVAILABLE = 7
    """The server could not be reached, or did not answer within the deadline."""


EXIT_CODES: Final[Mapping[grpc.StatusCode, ExitCode]] = {
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.NOT_LOGGED_IN,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ExitCode.RATE_LIMITED,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ExitCode.UNAVAILABLE,
}


def exit_code_for(error: UserServiceError) -> ExitCode:
    """The exit status for a failed call: by its status code, REFUSED for any other code."""
    return EXIT_CODES.get(error.code, ExitCode.REFUSED)


class CliError(Exception):
    """A failure found without asking the server (no saved login, no password, bad files).

    Attributes:
        exit_code: the status to exit with.
        reason: a stable UPPER_SNAKE name, like the server's reasons (NOT_LOGGED_IN, ...).
        message: one line for people.
        code: the gRPC status code name a script would have seen for the same problem.
    """

    def __init__(self, exit_code: ExitCode, reason: str, message: str, *, code: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason
        self.message = message
        self.code = code


def not_logged_in(message: str, *, reason: str = "NOT_LOGGED_IN") -> CliError:
    """A command needs a saved login that is not there (or not for this server)."""
    return CliError(ExitCode.NOT_LOGGED_IN, reason, message, code="UNAUTHENTICATED")


def usage_error(message: str, *, reason: str = "USAGE") -> CliError:
    """The command cannot run as given."""
    return CliError(ExitCode.USAGE, reason, message, code="INVALID_ARGUMENT")


def local_failure(message: str, *, reason: str = "LOCAL_FAILURE") -> CliError:
    """Something on this machine failed (the token file could not be written, ...)."""
    return CliError(ExitCode.REFUSED, reason, message, code="FAILED_PRECONDITION")


__all__ = [
    "EXIT_CODES",
    "CliError",
    "ExitCode",
    "exit_code_for",
    "local_failure",
    "not_logged_in",
    "usage_error",
]
