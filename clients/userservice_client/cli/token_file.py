"""The saved login: one JSON file holding a token pair and the address it belongs to.

The file holds a refresh token, which is as good as the password for the session's lifetime, so
it is created with mode 0600 (its directory 0700 when this module creates it) and replaced
atomically: it is written to a private temporary file in the same directory, flushed, and renamed
over the old one, so a crash or a full disk never leaves half a token pair behind.

Runs that may rotate the refresh token hold an exclusive lock on `<file>.lock` (POSIX `flock`):
two runs refreshing the same token at once would look like refresh-token reuse to the server,
which answers by revoking the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from google.protobuf import json_format

from userservice.v1 import auth_pb2
from userservice_client.cli.messages import LOGIN_HINT
from userservice_client.cli.outcomes import local_failure, not_logged_in

TOKEN_FILE_ENV: Final = "USERSERVICE_TOKEN_FILE"  # noqa: S105 - a variable name, not a secret
FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700


@dataclass(frozen=True, slots=True)
class SavedLogin:
    """A login as saved: the server's address and the session's current token pair."""

    address: str
    tokens: auth_pb2.TokenPair


def default_token_file() -> Path:
    """$USERSERVICE_TOKEN_FILE, else ~/.config/userservice/token.json."""
    configured = os.environ.get(TOKEN_FILE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "userservice" / "token.json"


def encode(login: SavedLogin) -> str:
    """The file's JSON: `address` plus the TokenPair's fields under their proto names."""
    tokens = json_format.MessageToDict(login.tokens, preserving_proto_field_name=True)
    return json.dumps({"address": login.address, **tokens}, indent=2) + "\n"


def decode(text: str) -> SavedLogin:
    """The login in a token file's text; ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("address"), str):
        raise ValueError("not a saved login")
    address = data.pop("address")
    try:
        tokens = json_format.ParseDict(data, auth_pb2.TokenPair(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None
    if not (address and tokens.access_token and tokens.refresh_token):
        raise ValueError("the saved login lacks its address or a token")
    return SavedLogin(address, tokens)


def load(path: Path) -> SavedLogin | None:
    """The saved login, None when there is no file; NOT_LOGGED_IN when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise not_logged_in(
            f"cannot read {path}: {exc.strerror}", reason="TOKEN_FILE_INVALID"
        ) from None
    try:
        return decode(text)
    except ValueError:
        raise not_logged_in(
            f"{path} does not hold a saved login; {LOGIN_HINT}", reason="TOKEN_FILE_INVALID"
        ) from None


def ensure_directory(path: Path) -> None:
    """Creates the token file's directory (and missing parents) with mode 0700."""
    directory = path.parent
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        directory.chmod(DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise local_failure(f"cannot create {directory}: {exc.strerror}") from None


def save(path: Path, login: SavedLogin) -> None:
    """Writes the login to `path` atomically, readable by its owner only."""
    ensure_directory(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        descriptor = os.open(
            temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_EXCL, FILE_MODE
        )
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(encode(login))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise local_failure(f"cannot save the login to {path}: {exc.strerror}") from None


def delete(path: Path) -> None:
    """Removes the token file (nothing to do when it is already gone)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise local_failure(f"cannot delete {path}: {exc.strerror}") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds the exclusive lock of the token file at `path` (its directory must exist)."""
    if sys.platform == "win32":  # no flock; concurrent runs are the user's to avoid
        yield
        return
    import fcntl

    lock_path = path.with_name(path.name + ".lock")
    try:
        descriptor = os.open(lock_path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    except OSError as exc:
        raise local_failure(f"cannot lock {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


__all__ = [
    "TOKEN_FILE_ENV",
    "SavedLogin",
    "decode",
    "default_token_file",
    "delete",
    "encode",
    "ensure_directory",
    "load",
    "locked",
    "save",
]
