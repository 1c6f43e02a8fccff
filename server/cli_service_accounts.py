"""`userservice service-accounts create|list|rotate|disable|delete`: operators' commands.

They build the services as `create-admin` does (no server, no token needed). A client secret is
printed exactly once, by create and rotate; nothing stores it in clear.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from server.app import Services, built_services
from server.cache.client import create_redis
from server.config import Settings
from server.domain import IssuedSecret, ServiceAccount, ServiceAccountChanges, ServiceAccountState
from server.errors import DomainError
from server.observability.logging import configure_logging
from server.repositories import migrations
from server.repositories.database import create_engine

Command = Callable[[Services, argparse.Namespace], Awaitable[None]]


def _describe(account: ServiceAccount) -> str:
    scopes = ",".join(account.scopes) or "-"
    fields = (str(account.id), account.client_id, account.state.value, scopes, account.display_name)
    return "  ".join(fields)


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
    token = ""
    while True:
        accounts, token = await services.service_accounts.list_service_accounts(size=0, token=token)
        for account in accounts:
            print(_describe(account))
        if not token:
            return


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
    configure_logging(level="WARNING", json_logs=settings.json_logs)

    async def run() -> int:
        engine = create_engine(settings)
        redis = create_redis(settings)
        try:
            if settings.should_migrate_on_start:
                await migrations.upgrade_to_head(engine)
            async with built_services(settings, engine, redis) as services:
                await command(services, args)
        except DomainError as exc:
            print(f"userservice: {exc.message} ({exc.reason})", file=sys.stderr)
            return 1
        finally:
            await redis.aclose()
            await engine.dispose()
        return 0

    return asyncio.run(run())


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
