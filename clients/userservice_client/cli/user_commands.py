"""The `users` commands: create, get, list, update, delete, change-password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from userservice.v1 import user_pb2
from userservice_client.cli.context import Context, as_dict
from userservice_client.cli.outcomes import CliError, ExitCode, usage_error
from userservice_client.cli.prompts import NEW_PASSWORD_ENV, confirm, interactive, read_password
from userservice_client.cli.tables import (
    USER_HEADERS,
    render_fields,
    render_table,
    user_fields,
    user_row,
)
from userservice_client.client import Role, State

ROLES: Final[Mapping[str, Role]] = {
    "user": user_pb2.User.ROLE_USER,
    "admin": user_pb2.User.ROLE_ADMIN,
}
STATES: Final[Mapping[str, State]] = {
    "active": user_pb2.User.STATE_ACTIVE,
    "disabled": user_pb2.User.STATE_DISABLED,
}
LIST_ALL_PAGE_SIZE: Final = 200


def _show_user(ctx: Context, user: user_pb2.User, headline: str = "") -> None:
    fields = render_fields(user_fields(user))
    ctx.out.show(as_dict(user), f"{headline}\n{fields}" if headline else fields)


def create(ctx: Context) -> int:
    """Signs up a user, or (as an admin, with --admin) creates an administrator."""
    email: str = ctx.args.email
    display_name: str = ctx.args.display_name or ""
    password = read_password(f"Password for {email}: ", confirm=True)
    role = user_pb2.User.ROLE_ADMIN if ctx.args.admin else None
    user = ctx.client.create_user(email, password, display_name, role=role)
    _show_user(ctx, user, f"created user {user.email}")
    return 0


def get(ctx: Context) -> int:
    """One user by id, or "me"."""
    _show_user(ctx, ctx.client.get_user(ctx.args.id))
    return 0


def list_users(ctx: Context) -> int:
    """One page of users (admin), or every page with --all."""
    filter_: str = ctx.args.filter or ""
    page_size: int = ctx.args.page_size or 0
    if ctx.args.all:
        users = list(ctx.client.iter_users(filter_, page_size or LIST_ALL_PAGE_SIZE))
        next_page_token = ""
    else:
        page = ctx.client.list_users(page_size, ctx.args.page_token or "", filter_)
        users, next_page_token = list(page.users), page.next_page_token
    response = user_pb2.ListUsersResponse(users=users, next_page_token=next_page_token)
    ctx.out.show(as_dict(response), render_table(USER_HEADERS, [user_row(u) for u in users]))
    if next_page_token:
        ctx.out.note(f"more users: add --page-token {next_page_token}, or use --all")
    return 0


def update(ctx: Context) -> int:
    """Changes the given fields of a user; role and state are for admins."""
    args = ctx.args
    if all(v is None for v in (args.display_name, args.email, args.role, args.state)):
        raise usage_error("nothing to update: give --display-name, --email, --role or --state")
    # Changing one's own email needs the current password (read like every other password).
    own_email = args.email is not None and args.id == "me"
    current = read_password("Current password: ") if own_email else ""
    user = ctx.client.update_user(
        args.id,
        display_name=args.display_name,
        email=args.email,
        role=None if args.role is None else ROLES[args.role],
        state=None if args.state is None else STATES[args.state],
        etag=args.etag or "",
        current_password=current,
    )
    _show_user(ctx, user, f"updated user {user.email}")
    return 0


def delete(ctx: Context) -> int:
    """Deletes a user (asking first on a terminal, unless --yes); "me" also logs out."""
    user_id: str = ctx.args.id
    if not ctx.args.yes:
        if not interactive():  # nobody to ask: a script must say so
            raise usage_error(
                "not deleted: pass --yes to delete without a terminal to confirm on",
                reason="NOT_CONFIRMED",
            )
        whom = "your own account" if user_id == "me" else f"user {user_id}"
        if not confirm(f"Delete {whom}? Every session of it ends too."):
            raise CliError(ExitCode.REFUSED, "NOT_CONFIRMED", "not deleted", code="CANCELLED")
    ctx.client.delete_user(user_id, ctx.args.etag or "")
    if user_id == "me":
        ctx.login.forget()
    ctx.out.show({"deleted": user_id}, f"deleted user {user_id}")
    return 0


def change_password(ctx: Context) -> int:
    """Changes the caller's password; every other session of the caller ends."""
    current = read_password("Current password: ")
    new = read_password("New password: ", env=NEW_PASSWORD_ENV, confirm=True)
    ctx.client.change_password(current, new)
    ctx.out.show({"changed": True}, "password changed; your other sessions have ended")
    return 0


__all__ = ["ROLES", "STATES", "change_password", "create", "delete", "get", "list_users", "update"]
