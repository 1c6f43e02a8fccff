"""`userservice service-accounts create|list|rotate|disable|delete`: operators' commands.

They run as `create-admin` does, through server/cli_offline.py (no server, no token needed). A
client secret is printed exactly once, by create and rotate; nothing stores it in clear.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence

from server.cli_offline import run_offline
from server.config import Settings
from server.domain import IssuedSecret, ServiceAccount, ServiceAccountChanges, ServiceAccountState
from server.wiring import Services

Command = Callable[[Services, argparse.Namespace], Awaitable[None]]


HEADERS = ("ID", "CLIENT ID", "STATE", "SCOPES", "NAME")


def _row(account: ServiceAccount) -> tuple[str, ...]:
    scopes = ",".join(account.scopes) or "-"
    return (str(account.id), account.client_id, account.state.value, scopes, account.display_name)


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, under a header (like `userservice-client`'s)."""
    table = [HEADERS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def _describe(account: ServiceAccount) -> str:
    return _table([_row(account)])


def _print_secret(issued: IssuedSecret) -> None:
    print(f"id:            {issued.account.id}")
    print(f"client_id:     {issued.account.client_id}")
    print(f"client_secret: {issued.client_secret}")
    if issued.previous_secret_expires_at is not None:
        print(f"previous secret valid until {issued.previous_secret_expires_at.isoformat()}")
    print("the secret is shown only this once; store it now", file=sys.stderr)


async def _create(services: Services, args: argparse.Namespace) -> None:
    scopes = [s for s in args.scopes.split(",") if s] if args.scopes else []
    _print_secret(
        await services.service_accounts.create_service_account(
            display_name=args.display_name, scopes=scopes
        )
    )


async def _list(services: Services, args: argparse.Namespace) -> None:
    token, rows = "", list[tuple[str, ...]]()
    while True:
        accounts, token = await services.service_accounts.list_service_accounts(size=0, token=token)
        rows.extend(_row(account) for account in accounts)
        if not token:
            break
    print(_table(rows))


async def _rotate(services: Services, args: argparse.Namespace) -> None:
    _print_secret(await services.service_accounts.rotate_service_account_secret(args.id))


async def _disable(services: Services, args: argparse.Namespace) -> None:
    changes = ServiceAccountChanges(state=ServiceAccountState.DISABLED)
    print(
        _describe(await services.service_accounts.update_service_account(args.id, changes, etag=""))
    )


async def _delete(services: Services, args: argparse.Namespace) -> None:
    await services.service_accounts.delete_service_account(args.id, etag="")
    print(f"deleted service account {args.id}")


def run_command(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    return run_offline(settings, lambda services: command(services, args))


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    load_settings: Callable[[], Settings],
) -> None:
    group = commands.add_parser("service-accounts", help="manage service accounts")
    sub = group.add_subparsers(dest="service_accounts_command", required=True)

    def register(name: str, help_text: str, command: Command) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(run=lambda args: run_command(load_settings(), command, args))
        return parser

    create = register("create", "create an account; prints its client secret once", _create)
    create.add_argument("--display-name", required=True)
    create.add_argument(
        "--scopes", default="", help="comma-separated: users:read,users:write,sessions:revoke,..."
    )
    register("list", "list every account", _list)
    register(
        "rotate", "issue a new secret (printed once); the old one has a grace period", _rotate
    ).add_argument("id")
    register(
        "disable", "disable an account; its tokens are refused at once", _disable
    ).add_argument("id")
    register("delete", "delete an account; its tokens are refused at once", _delete).add_argument(
        "id"
    )
