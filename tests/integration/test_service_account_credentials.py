"""Service-account credentials: wrong secrets, throttling, and secret rotation (issue #8).

Each test that touches state runs on both backends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import grpc
import grpc.aio

from server.app import Application
from server.repositories.models import ServiceAccountRow
from tests.support.backends import Backend
from tests.support.flows import rpc_failure, signed_in_admin
from tests.support.servers import serving, settings_for_test
from tests.support.service_accounts import (
    SA,
    accounts,
    answer,
    assert_reason,
    create_account,
    issue,
)


async def test_a_wrong_secret_and_an_unknown_client_id_answer_identically(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"])
    wrong = await rpc_failure(issue(channel, made.service_account.client_id, "not-the-secret"))
    unknown = await rpc_failure(issue(channel, "svc_nobody", made.client_secret))
    assert_reason(wrong, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert answer(wrong) == answer(unknown)


async def test_only_failures_of_issue_service_token_are_throttled_per_client_id(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, service_token_failures_per_client=3)
    async with serving(settings) as (app, channel):
        admin = await signed_in_admin(app, channel)
        made = await create_account(channel, admin, ["users:read"])
        client_id = made.service_account.client_id
        for _ in range(3):
            failed = await rpc_failure(issue(channel, client_id, "wrong"))
            assert failed.error_info.reason == "INVALID_CREDENTIALS"
        limited = await rpc_failure(issue(channel, client_id, "wrong"))
        assert_reason(limited, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        # The right secret cannot be guessed: nobody can lock a service out by failing for it.
        assert (await issue(channel, client_id, made.client_secret)).access_token
        # An unknown client id is counted and throttled the same way.
        for _ in range(3):
            await rpc_failure(issue(channel, "svc_unknown", "wrong"))
        unknown = await rpc_failure(issue(channel, "svc_unknown", "wrong"))
        assert_reason(unknown, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")


async def test_failures_of_issue_service_token_share_the_per_ip_login_limit(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, login_failures_per_ip=4)
    async with serving(settings) as (app, channel):
        admin = await signed_in_admin(app, channel)
        made = await create_account(channel, admin, ["users:read"])
        for n in range(4):
            await rpc_failure(issue(channel, f"svc_guess_{n}", "wrong"))
        client_id = made.service_account.client_id
        limited = await rpc_failure(issue(channel, client_id, "wrong"))
        assert_reason(limited, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert (await issue(channel, client_id, made.client_secret)).access_token


async def test_after_rotation_both_secrets_work_during_the_grace_period_then_only_the_new(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"])
    account = made.service_account
    before = dt.datetime.now(dt.UTC)
    rotated = await accounts(channel).RotateServiceAccountSecret(
        SA.RotateServiceAccountSecretRequest(id=account.id), metadata=admin.metadata
    )
    assert rotated.client_secret != made.client_secret
    grace_ends = rotated.previous_secret_expire_time.ToDatetime(dt.UTC)
    assert grace_ends - before >= dt.timedelta(seconds=3599)
    for secret in (made.client_secret, rotated.client_secret):
        assert (await issue(channel, account.client_id, secret)).access_token

    # The grace period ends (moved into the past rather than waited for).
    async with app.services.db.transaction() as session:
        row = await session.get(ServiceAccountRow, uuid.UUID(account.id))
        assert row is not None
        row.previous_secret_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    old = await rpc_failure(issue(channel, account.client_id, made.client_secret))
    assert_reason(old, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert (await issue(channel, account.client_id, rotated.client_secret)).access_token
