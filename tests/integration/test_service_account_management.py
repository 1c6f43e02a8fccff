"""Service accounts: an administrator manages them; nobody else may (issue #8).

Each test that touches state runs on both backends.
"""

from __future__ import annotations

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2

from server.app import Application
from tests.support.flows import rpc_failure, signed_in_admin, signed_in_user
from tests.support.service_accounts import SA, accounts, assert_reason, create_account


async def test_an_admin_creates_reads_lists_updates_and_deletes_service_accounts(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"], name="Reporting")
    account = made.service_account
    assert account.client_id.startswith("svc_")
    assert len(made.client_secret) >= 43  # 256 bits, URL-safe
    assert list(account.scopes) == ["users:read"]
    assert account.state == SA.ServiceAccount.STATE_ACTIVE
    stub = accounts(channel)
    got = await stub.GetServiceAccount(
        SA.GetServiceAccountRequest(id=account.id), metadata=admin.metadata
    )
    assert got == account

    for name in ("Two", "Three"):
        await create_account(channel, admin, [], name=name)
    first = await stub.ListServiceAccounts(
        SA.ListServiceAccountsRequest(page_size=2), metadata=admin.metadata
    )
    assert len(first.service_accounts) == 2
    assert first.next_page_token
    rest = await stub.ListServiceAccounts(
        SA.ListServiceAccountsRequest(page_size=2, page_token=first.next_page_token),
        metadata=admin.metadata,
    )
    ids = [a.id for a in [*first.service_accounts, *rest.service_accounts]]
    assert len(ids) == len(set(ids)) == 3
    assert not rest.next_page_token

    updated = await stub.UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(
                id=account.id,
                display_name="Reports",
                scopes=["users:read", "tokens:validate"],
                etag=account.etag,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "scopes"]),
        ),
        metadata=admin.metadata,
    )
    assert updated.display_name == "Reports"
    assert list(updated.scopes) == ["tokens:validate", "users:read"]
    stale = await rpc_failure(
        stub.DeleteServiceAccount(
            SA.DeleteServiceAccountRequest(id=account.id, etag=account.etag),
            metadata=admin.metadata,
        )
    )
    assert stale.code is grpc.StatusCode.ABORTED
    await stub.DeleteServiceAccount(
        SA.DeleteServiceAccountRequest(id=account.id, etag=updated.etag), metadata=admin.metadata
    )
    gone = await rpc_failure(
        stub.GetServiceAccount(SA.GetServiceAccountRequest(id=account.id), metadata=admin.metadata)
    )
    assert_reason(gone, grpc.StatusCode.NOT_FOUND, "SERVICE_ACCOUNT_NOT_FOUND")


async def test_an_unknown_scope_is_invalid(app: Application, channel: grpc.aio.Channel) -> None:
    admin = await signed_in_admin(app, channel)
    error = await rpc_failure(create_account(channel, admin, ["users:read", "root"]))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_user_cannot_manage_service_accounts(
    app: Application, channel: grpc.aio.Channel
) -> None:
    user = await signed_in_user(channel)
    error = await rpc_failure(create_account(channel, user, ["users:read"]))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
