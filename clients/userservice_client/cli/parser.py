"""The command line of `userservice-client` (argparse).

The global options are accepted before the command and after it (`users get me --json`): each
subcommand repeats them with `default=SUPPRESS`, so a value given there overrides the top-level
one and an absent one leaves it alone.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from userservice_client.cli import account_commands, event_commands, user_commands
from userservice_client.cli.context import Command, Run
from userservice_client.cli.login_state import Access
from userservice_client.cli.options import ADDRESS_ENV, DEFAULT_ADDRESS, DEFAULT_TIMEOUT_SECONDS
from userservice_client.cli.prompts import NEW_PASSWORD_ENV, PASSWORD_ENV
from userservice_client.cli.token_file import TOKEN_FILE_ENV

EPILOG = f"""\
passwords come from ${PASSWORD_ENV} (and ${NEW_PASSWORD_ENV}), else one line each
from stdin, else a prompt; never from a flag.

exit status: 0 success; 1 the server refused; 2 usage error; 3 not logged in or session
ended; 4 permission denied; 5 not found; 6 rate limited; 7 unavailable or timed out.
"""


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def page_size(text: str) -> int:
    """An argparse type: a page size, 0 meaning the server's default."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """The options every command takes; below the top level they default to SUPPRESS."""

    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--address",
        default=default(None),
        help=f"host:port of userservice (default: ${ADDRESS_ENV}, else the saved login's "
        f"address, else {DEFAULT_ADDRESS})",
    )
    group.add_argument("--tls", action="store_true", default=default(False), help="use TLS")
    group.add_argument("--ca-file", default=default(None), help="TLS: CA bundle (PEM)")
    group.add_argument("--cert-file", default=default(None), help="mutual TLS: client cert")
    group.add_argument("--key-file", default=default(None), help="mutual TLS: client key")
    group.add_argument(
        "--server-name", default=default(None), help="TLS: name the certificate must carry"
    )
    group.add_argument(
        "--timeout",
        type=positive_seconds,
        default=default(DEFAULT_TIMEOUT_SECONDS),
        help=f"deadline of each call in seconds (default: {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for scripts"
    )
    group.add_argument(
        "--token-file",
        type=Path,
        default=default(None),
        help=f"the saved login (default: ${TOKEN_FILE_ENV}, else ~/.config/userservice/token.json)",
    )


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Run,
    access: Access,
    help_text: str,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    add_global_options(parser, top_level=False)
    parser.set_defaults(command=Command(run, access))
    return parser


def _add_users(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="create, read, change and delete users")
    sub = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    create = _command(sub, "create", user_commands.create, Access.OPTIONAL, "create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--display-name")
    create.add_argument("--admin", action="store_true", help="an administrator (admins only)")
    get = _command(sub, "get", user_commands.get, Access.REQUIRED, "show one user")
    get.add_argument("id", nargs="?", default="me", metavar="ID|me")
    listing = _command(sub, "list", user_commands.list_users, Access.REQUIRED, "list users")
    listing.add_argument("--filter", help="e.g. 'email:\"ann*\" AND state=STATE_ACTIVE'")
    listing.add_argument("--page-size", type=page_size, default=0)
    listing.add_argument("--page-token", help="the page after the one that named this token")
    listing.add_argument("--all", action="store_true", help="every page")
    update = _command(sub, "update", user_commands.update, Access.REQUIRED, "change a user")
    update.add_argument("id", metavar="ID|me")
    update.add_argument("--display-name")
    update.add_argument("--email", help="with id me, asks for your current password")
    update.add_argument("--role", choices=sorted(user_commands.ROLES))
    update.add_argument("--state", choices=sorted(user_commands.STATES))
    update.add_argument("--etag", help="fail if the user changed since it had this etag")
    delete = _command(sub, "delete", user_commands.delete, Access.REQUIRED, "delete a user")
    delete.add_argument("id", metavar="ID|me")
    delete.add_argument("--etag", help="fail if the user changed since it had this etag")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _command(
        sub,
        "change-password",
        user_commands.change_password,
        Access.REQUIRED,
        "change your password (current, then new)",
    )


def _add_sessions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = commands.add_parser("sessions", help="list and revoke sessions")
    sub = sessions.add_subparsers(dest="sessions_command", required=True, metavar="COMMAND")
    listing = _command(
        sub, "list", account_commands.list_sessions, Access.REQUIRED, "a user's live sessions"
    )
    listing.add_argument("user", nargs="?", default="me", metavar="USER|me")
    revoke = _command(
        sub, "revoke", account_commands.revoke_session, Access.REQUIRED, "end one session"
    )
    revoke.add_argument("session_id", metavar="SESSION_ID")
    revoke_all = _command(
        sub,
        "revoke-all",
        account_commands.revoke_all_sessions,
        Access.REQUIRED,
        "end every session of a user",
    )
    revoke_all.add_argument("user", nargs="?", default="me", metavar="USER|me")


def _version() -> str:
    """The installed distribution's version (clients/pyproject.toml)."""
    try:
        return metadata.version("userservice-client")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _add_events(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = commands.add_parser("events", help="follow and query the event log (admins)")
    sub = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    watch = _command(
        sub,
        "watch",
        event_commands.watch,
        Access.REQUIRED,
        "follow the event log (Ctrl-C stops); holds the saved login's lock while it runs, so "
        "give a long watch a --token-file of its own",
    )
    watch.add_argument(
        "--after", help="a cursor: start after that event (default: the oldest; `now`: new only)"
    )
    watch.add_argument(
        "--type", action="append", metavar="TYPE", help="only this type (repeatable)"
    )
    watch.add_argument("--count", type=page_size, default=0, help="stop after this many")
    listing = _command(
        sub, "list", event_commands.list_events, Access.REQUIRED, "query the event log"
    )
    listing.add_argument("--filter", help='e.g. \'type = "login.failed" AND target = "<id>"\'')
    listing.add_argument("--page-size", type=page_size, default=0)
    listing.add_argument("--page-token", help="the page after the one that named this token")
    listing.add_argument("--all", action="store_true", help="every page")


def build_parser() -> argparse.ArgumentParser:
    """The parser; a parsed command line has `command`, a `Command`."""
    parser = argparse.ArgumentParser(
        prog="userservice-client",
        description="Use userservice from the command line: log in, manage users and sessions, "
        "follow events.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_global_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    login = _command(
        commands, "login", account_commands.login, Access.LOGIN, "log in and save the tokens"
    )
    login.add_argument("--email", required=True)
    _command(
        commands,
        "logout",
        account_commands.logout,
        Access.REQUIRED,
        "end the saved session and delete the token file",
    )
    _command(commands, "whoami", account_commands.whoami, Access.REQUIRED, "show yourself")
    _add_users(commands)
    _add_sessions(commands)
    _add_events(commands)
    _command(commands, "keys", account_commands.keys, Access.PUBLIC, "the token signing keys")
    return parser


__all__ = ["add_global_options", "build_parser", "page_size", "positive_seconds"]
