"""The commands about the caller's login: login, logout, whoami, sessions, keys."""

from __future__ import annotations

from userservice.v1 import auth_pb2
from userservice_client.cli.context import Context, as_dict
from userservice_client.cli.prompts import read_password
from userservice_client.cli.tables import (
    KEY_HEADERS,
    SESSION_HEADERS,
    key_row,
    render_fields,
    render_table,
    session_row,
    user_fields,
)
from userservice_client.errors import UnauthenticatedError

ME = "me"


def login(ctx: Context) -> int:
    """Logs in and saves the token pair (password from env, stdin or a prompt)."""
    email: str = ctx.args.email
    password = read_password(f"Password for {email}: ")
    pair = ctx.client.login(email, password)
    # Saved before anything is printed: "logged in" must mean the next command can use it.
    ctx.login.adopt(ctx.client.credentials)
    ctx.login.write_back()
    tokens = as_dict(pair)
    document = {
        "address": ctx.login.address,
        "email": email,
        "session_id": pair.session_id,
        "access_token_expire_time": tokens.get("access_token_expire_time"),
        "refresh_token_expire_time": tokens.get("refresh_token_expire_time"),
        "token_file": str(ctx.login.path),
    }
    ctx.out.show(
        document, f"logged in to {ctx.login.address} as {email} (session {pair.session_id})"
    )
    return 0


def logout(ctx: Context) -> int:
    """Revokes the saved session and deletes the token file."""
    session = ctx.login.session
    session_id = session.session_id if session is not None else ""
    try:
        ctx.client.logout()
        already_ended = False
    except UnauthenticatedError:
        already_ended = True  # nothing left to revoke; the file is just as useless
    ctx.login.forget()
    text = "logged out" + (" (the session had already ended)" if already_ended else "")
    ctx.out.show({"session_id": session_id, "revoked": not already_ended}, text)
    return 0


def whoami(ctx: Context) -> int:
    """The logged-in user."""
    user = ctx.client.get_user(ME)
    ctx.out.show(as_dict(user), render_fields(user_fields(user)))
    return 0


def list_sessions(ctx: Context) -> int:
    """Every live session of a user (default: the caller), all pages."""
    user_id: str = ctx.args.user
    sessions: list[auth_pb2.Session] = []
    page_token = ""
    while True:
        page = ctx.client.list_sessions(user_id, 0, page_token)
        sessions.extend(page.sessions)
        page_token = page.next_page_token
        if not page_token:
            break
    document = as_dict(auth_pb2.ListSessionsResponse(sessions=sessions))
    ctx.out.show(document, render_table(SESSION_HEADERS, [session_row(s) for s in sessions]))
    return 0


def revoke_session(ctx: Context) -> int:
    """Revokes one session; revoking the saved login's own session logs out."""
    session_id: str = ctx.args.session_id
    ctx.client.revoke_session(session_id)
    own = ctx.login.session is not None and ctx.login.session.session_id == session_id
    if own:
        ctx.login.forget()
    text = f"revoked session {session_id}" + (" (this login's own: logged out)" if own else "")
    ctx.out.show({"revoked": session_id, "logged_out": own}, text)
    return 0


def revoke_all_sessions(ctx: Context) -> int:
    """Revokes every session of a user; for "me", the saved login's too."""
    user_id: str = ctx.args.user
    ctx.client.revoke_all_sessions(user_id)
    own = user_id == ME
    if own:
        ctx.login.forget()
    text = f"revoked every session of {user_id}" + (" (logged out)" if own else "")
    ctx.out.show({"revoked_all_of": user_id, "logged_out": own}, text)
    return 0


def keys(ctx: Context) -> int:
    """The published token verification keys (JWKS)."""
    jwks = ctx.client.get_jwks()
    ctx.out.show(as_dict(jwks), render_table(KEY_HEADERS, [key_row(k) for k in jwks.keys]))
    return 0


__all__ = [
    "keys",
    "list_sessions",
    "login",
    "logout",
    "revoke_all_sessions",
    "revoke_session",
    "whoami",
]
