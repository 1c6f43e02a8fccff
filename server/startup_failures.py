"""Start-up failures an operator fixes, told in one line that names the setting or the fix.

`serve`, `migrate` and the operators' commands pass what stopped them through `explain`: a known
cause (the database unreachable or missing, credentials refused, a port taken, an SQLite file that
cannot be opened) becomes one line; anything else is a bug and keeps its traceback. The masked
addresses here are also what the start-up log shows (never a password).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from server.config import Settings
from server.errors import Unavailable
from server.observability.spans import TracingConfigurationError
from server.transport import PortUnavailable

DATABASE_SETTING = "USERSERVICE_DATABASE_URL"
# PostgreSQL's SQLSTATEs: invalid_catalog_name; invalid_password, invalid_authorization_spec.
_NO_SUCH_DATABASE = "3D000"
_CREDENTIALS_REFUSED = ("28P01", "28000")


class CannotStart(RuntimeError):
    """A start-up failure whose message (one line) says what to change."""


def sqlite_path(settings: Settings) -> Path | None:
    """The absolute path of the SQLite database file, or None (PostgreSQL, or in memory)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def describe_database(settings: Settings) -> str:
    """`SQLite at /abs/path` or the PostgreSQL URL with its password masked."""
    path = sqlite_path(settings)
    if path is not None:
        return f"SQLite at {path}"
    return make_url(settings.database_url).render_as_string(hide_password=True)


def describe_redis(settings: Settings) -> str:
    """`memory:// (in-process)` or the Redis URL with its password masked."""
    if settings.uses_memory_redis:
        return "memory:// (in this process only)"
    parts = urlsplit(settings.redis_url)
    if parts.password is None:
        return settings.redis_url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it and what SQLAlchemy wrapped, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        wrapped = orig if isinstance(orig, BaseException) else None
        pending.extend((wrapped, current.__cause__, current.__context__))


def _database_problem(cause: BaseException, settings: Settings) -> str | None:
    url = make_url(settings.database_url)
    where = describe_database(settings)
    code = getattr(cause, "sqlstate", None)
    if code == _NO_SUCH_DATABASE:
        host, port, user = url.host or "localhost", url.port or 5432, url.username or "postgres"
        return (
            f"{DATABASE_SETTING}: database {url.database!r} does not exist on {host}:{port}; "
            f"create it (createdb -h {host} -p {port} -U {user} {url.database}) or fix the URL"
        )
    if code in _CREDENTIALS_REFUSED:
        return f"{DATABASE_SETTING}: {where} refused the credentials: {cause}"
    if isinstance(cause, sqlite3.OperationalError):
        return f"{DATABASE_SETTING}: cannot open {where}: {cause}"
    return None


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a known start-up failure; None for anything else (a bug: keep the trace)."""
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, CannotStart | PortUnavailable | TracingConfigurationError):
            return str(cause)
        if (problem := _database_problem(cause, settings)) is not None:
            return problem
    if isinstance(exc, Unavailable):  # the database did not answer
        reason = next((c for c in causes[1:] if isinstance(c, OSError | TimeoutError)), None)
        detail = f": {reason}" if reason is not None and str(reason) else ""
        return (
            f"{DATABASE_SETTING}: cannot reach {describe_database(settings)}{detail}; "
            "is the database running, and is this its address?"
        )
    return None


def report(exc: BaseException, settings: Settings) -> int | None:
    """For a command: prints the one line and returns the exit status (1 when the database is
    down, 2 for a setting to fix); None for anything else, which the caller re-raises."""
    problem = explain(exc, settings)
    if problem is None:
        return None
    print(f"userservice: {problem}", file=sys.stderr)
    return 1 if isinstance(exc, Unavailable) else 2


def require_existing_database(settings: Settings) -> None:
    """Operators' commands never create an SQLite database: a relative path is read from the
    working directory, and one made there would be a database the server never sees."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        raise CannotStart(
            f"{DATABASE_SETTING}: no database at {path} (relative paths start from the working "
            f"directory, {Path.cwd()}); run this where the server runs, set {DATABASE_SETTING}, "
            "or create the database with `userservice migrate`"
        )
