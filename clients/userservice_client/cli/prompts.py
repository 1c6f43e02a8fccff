"""Passwords and confirmations: from the environment, a pipe, or the terminal; never a flag.

A password on the command line would be kept in the shell's history and shown by `ps`. So a
password comes from an environment variable when it is set, else from the next line of stdin
when stdin is not a terminal (`printf '%s\n' "$PW" | userservice-client login ...`), else from
a prompt that does not echo.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Final

from userservice_client.cli.outcomes import usage_error

PASSWORD_ENV: Final = "USERSERVICE_PASSWORD"  # noqa: S105 - the variable's name, not a secret
NEW_PASSWORD_ENV: Final = "USERSERVICE_NEW_PASSWORD"  # noqa: S105 - likewise


def interactive() -> bool:
    """True when stdin is a terminal, so a person can be asked."""
    return sys.stdin is not None and sys.stdin.isatty()


def read_password(prompt: str, *, env: str = PASSWORD_ENV, confirm: bool = False) -> str:
    """A password from $`env`, the next stdin line, or a prompt (twice when `confirm`).

    The stdin line is used as is, without its line ending: no other character is stripped,
    since spaces may be part of a password.
    """
    from_env = os.environ.get(env)
    if from_env:
        return from_env
    if interactive():
        try:
            password = getpass.getpass(prompt)
            if confirm and getpass.getpass("Again: ") != password:
                raise usage_error("the two passwords differ", reason="PASSWORD_MISMATCH")
        except EOFError:  # Ctrl-D at the prompt
            if sys.stderr.isatty():
                print(file=sys.stderr)  # end the prompt's line
            raise usage_error("no password given", reason="PASSWORD_MISSING") from None
        return password
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise usage_error(f"no password: pipe it on stdin or set {env}", reason="PASSWORD_MISSING")
    return line.removesuffix("\n").removesuffix("\r")


def confirm(question: str) -> bool:
    """Asks a yes/no question on the terminal; only `y` or `yes` is yes."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


__all__ = ["NEW_PASSWORD_ENV", "PASSWORD_ENV", "confirm", "interactive", "read_password"]
