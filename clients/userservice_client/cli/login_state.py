"""The saved login during one run: loaded under the lock, given to the client, written back.

A command declares how it uses the login (`Access`). The client calls with a `LoginSession`
built from the saved pair, so an access token that has expired is exchanged for a new pair
without the user noticing; since that rotation kills the saved refresh token, the new pair is
written back when the run ends, whether the command succeeded or not.

Tokens are only ever sent to the address they were issued by: with an address given (flag or
environment) that is not the saved one, a command that needs the login stops with
NOT_LOGGED_IN instead of presenting them elsewhere.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from userservice_client.cli import token_file
from userservice_client.cli.messages import NOT_LOGGED_IN, PROGRAM
from userservice_client.cli.options import DEFAULT_ADDRESS, Options
from userservice_client.cli.outcomes import CliError, not_logged_in
from userservice_client.cli.token_file import SavedLogin
from userservice_client.credentials import Credentials, LoginSession


class Access(enum.Enum):
    """How a command uses the saved login."""

    PUBLIC = "public"
    """Calls need no credentials (`keys`); only the saved address is used."""
    LOGIN = "login"
    """Creates the login (`login`): the lock is held and the new pair saved."""
    OPTIONAL = "optional"
    """Calls as the saved user when there is one for this address (`users create`)."""
    REQUIRED = "required"
    """Calls as the saved user; NOT_LOGGED_IN without one."""


@dataclass(slots=True)
class LoginState:
    """The login of one run: where it is saved, the address called, the live session."""

    path: Path
    address: str
    saved: SavedLogin | None
    session: LoginSession | None
    forgotten: bool = False

    def adopt(self, credentials: Credentials | None) -> None:
        """Keeps the client's session after the run (`login()` replaces it with a new one)."""
        if isinstance(credentials, LoginSession) and not self.forgotten:
            self.session = credentials

    def forget(self) -> None:
        """Deletes the saved login: its session is over (logout, revoked, user deleted)."""
        token_file.delete(self.path)
        self.forgotten = True
        self.session = None

    def write_back(self) -> None:
        """Saves the session's pair when it differs from the saved one (a login, a refresh)."""
        if self.forgotten or self.session is None:
            return
        current = SavedLogin(self.address, self.session.tokens)
        if current != self.saved:
            token_file.save(self.path, current)
            self.saved = current


def _load(path: Path, access: Access) -> SavedLogin | None:
    try:
        return token_file.load(path)
    except CliError:
        if access in (Access.PUBLIC, Access.LOGIN):
            return None  # an unreadable file does not matter here, and login replaces it
        raise


def _session(options: Options, saved: SavedLogin | None, access: Access) -> LoginSession | None:
    if access in (Access.PUBLIC, Access.LOGIN):
        return None
    if saved is None:
        if access is Access.REQUIRED:
            raise not_logged_in(NOT_LOGGED_IN)
        return None
    if options.address is not None and options.address != saved.address:
        if access is Access.REQUIRED:
            raise not_logged_in(
                f"the saved login is for {saved.address}, not {options.address}; "
                f"run `{PROGRAM} --address {options.address} login`",
                reason="OTHER_ADDRESS",
            )
        return None
    return LoginSession(saved.tokens)


@contextlib.contextmanager
def open_login_state(options: Options, access: Access) -> Iterator[LoginState]:
    """The login state for one command; the lock is held, and the pair saved, around it."""
    path = options.token_file
    with contextlib.ExitStack() as stack:
        if access is Access.LOGIN:
            token_file.ensure_directory(path)
            stack.enter_context(token_file.locked(path))
        elif access is not Access.PUBLIC and path.exists():
            stack.enter_context(token_file.locked(path))
        saved = _load(path, access)
        session = _session(options, saved, access)
        fallback = saved.address if saved is not None else DEFAULT_ADDRESS
        state = LoginState(path, options.address or fallback, saved, session)
        try:
            yield state
        finally:
            state.write_back()


__all__ = ["Access", "LoginState", "open_login_state"]
