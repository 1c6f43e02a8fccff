"""`main`: parse, open the saved login, run the command, turn failures into one line and a status.

Only expected failures are handled here: `UserServiceError` (the server, or the channel, said
no) and `CliError` (found locally). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Final

from userservice_client.cli.context import Command, Context, Output
from userservice_client.cli.login_state import LoginState, open_login_state
from userservice_client.cli.messages import (
    PROGRAM,
    describe_error,
    error_document,
    local_error_document,
)
from userservice_client.cli.options import DEFAULT_ADDRESS, Options
from userservice_client.cli.outcomes import CliError, ExitCode, exit_code_for
from userservice_client.cli.parser import build_parser
from userservice_client.errors import UserServiceError
from userservice_client.sync import UserServiceClient

INTERRUPTED: Final = 130  # what a shell reports for a process ended by SIGINT


def _run(command: Command, args: argparse.Namespace, options: Options, login: LoginState) -> int:
    client = UserServiceClient(
        login.address, credentials=login.session, tls=options.tls, timeout=options.timeout
    )
    try:
        return command.run(Context(args, client, Output(options.json), login))
    finally:
        login.adopt(client.credentials)  # after a refresh or a login: written back on exit
        client.close()


def _print_error(lines: Sequence[str]) -> None:
    head, *rest = lines
    print("\n".join([f"{PROGRAM}: {head}", *rest]), file=sys.stderr)


def _print_json_error(document: dict[str, object]) -> None:
    print(json.dumps(document), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `userservice-client` with `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)
    command: Command = args.command
    as_json = bool(args.json)
    address, timeout = args.address or DEFAULT_ADDRESS, float(args.timeout)
    try:
        options = Options.from_args(args)
        with open_login_state(options, command.access) as login:
            address = login.address
            return _run(command, args, options, login)
    except UserServiceError as error:
        if as_json:
            _print_json_error(error_document(error))
        else:
            _print_error(describe_error(error, address=address, timeout=timeout))
        return int(exit_code_for(error))
    except CliError as error:
        if as_json:
            _print_json_error(local_error_document(error))
        else:
            _print_error([error.message])
        return int(error.exit_code)
    except KeyboardInterrupt:
        print(f"\n{PROGRAM}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more, and keep the interpreter's final
        # flush of stdout from failing again (the recipe of the `signal` module's docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.REFUSED)


__all__ = ["INTERRUPTED", "main"]
