"""The SDK's account-recovery methods (issue 16, item 6): reset and verification through the
async and the sync client, with typed errors; codes read as the notification service would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.app import Application
from tests.support.flows import PASSWORD, unique_email
from tests.support.sdk import admin_client, embedded_app, sdk_client, signed_up, target
from userservice_client import (
    FailedPreconditionError,
    InvalidArgumentError,
    PermissionDeniedError,
    UserServiceClient,
)

NEW_PASSWORD = "a different, longer passphrase"


async def last_code(app: Application, kind: str) -> str:
    async with app.services.units.read() as uow:
        found = await uow.events.after(0, types=frozenset({kind}), limit=10_000)
    return found[-1].secret["code"]


async def test_a_password_reset_through_the_sdk(app: Application) -> None:
    async with sdk_client(app) as client, admin_client(app) as admin:
        email = await signed_up(client, "ada")
        me = await client.get_user("me")
        await client.request_password_reset(email)
        code = await last_code(app, "password.reset_requested")
        await client.reset_password(code, NEW_PASSWORD)
        with pytest.raises(InvalidArgumentError) as reused:
            await client.reset_password(code, NEW_PASSWORD)
        assert reused.value.reason == "CODE_INVALID"
        await client.login(email, NEW_PASSWORD)

        with pytest.raises(PermissionDeniedError):
            await client.request_password_reset(user_id=me.id)
        await admin.request_password_reset(user_id=me.id)
        await client.reset_password(await last_code(app, "password.reset_requested"), PASSWORD)
        await client.login(email, PASSWORD)


async def test_verification_and_its_login_rule_through_the_sdk(tmp_path: Path) -> None:
    async with (
        embedded_app(tmp_path, require_verified_email=True) as app,
        sdk_client(app) as client,
        admin_client(app) as admin,
    ):
        email = unique_email("ada")
        made = await client.create_user(email, PASSWORD, "Ada")
        with pytest.raises(FailedPreconditionError) as refused:
            await client.login(email, PASSWORD)
        assert refused.value.reason == "EMAIL_NOT_VERIFIED"
        await admin.request_email_verification(made.id)
        with pytest.raises(InvalidArgumentError):
            await client.verify_email("not-a-code")
        await client.verify_email(await last_code(app, "email.verification_requested"))
        await client.login(email, PASSWORD)


async def test_the_sync_client_resets_a_password(app: Application) -> None:
    async with sdk_client(app) as client:
        email = await signed_up(client, "ada")
    loop = asyncio.get_running_loop()

    def reset_in_a_thread() -> None:
        with UserServiceClient(target(app)) as sync:
            sync.request_password_reset(email)
            reading = last_code(app, "password.reset_requested")
            code = asyncio.run_coroutine_threadsafe(reading, loop).result()
            sync.reset_password(code, NEW_PASSWORD)
            sync.login(email, NEW_PASSWORD)

    await asyncio.to_thread(reset_in_a_thread)
