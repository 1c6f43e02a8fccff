"""Calls a test makes to manage service accounts and to obtain their tokens (issue #8).

A service calls as a consumer would: it obtains a token from IssueServiceToken and sends it as a
bearer token.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2

from tests.support.flows import Caller, auth
from tests.support.rich_errors import RichError
from userservice.v1 import auth_pb2, service_account_pb2, service_account_pb2_grpc, user_pb2

SA = service_account_pb2


def accounts(channel: grpc.aio.Channel) -> service_account_pb2_grpc.ServiceAccountServiceAsyncStub:
    return service_account_pb2_grpc.ServiceAccountServiceStub(channel)


async def create_account(
    channel: grpc.aio.Channel, admin: Caller, scopes: Sequence[str], name: str = "Billing"
) -> SA.CreateServiceAccountResponse:
    return await accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name=name, scopes=list(scopes)),
        metadata=admin.metadata,
    )


async def issue(
    channel: grpc.aio.Channel, client_id: str, secret: str, scopes: Sequence[str] = ()
) -> auth_pb2.TokenPair:
    return await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=client_id, client_secret=secret, scopes=list(scopes)
        )
    )


async def service_token(
    channel: grpc.aio.Channel, admin: Caller, scopes: Sequence[str]
) -> tuple[SA.CreateServiceAccountResponse, str]:
    made = await create_account(channel, admin, scopes)
    pair = await issue(channel, made.service_account.client_id, made.client_secret)
    return made, pair.access_token


def assert_reason(error: RichError, code: grpc.StatusCode, reason: str) -> None:
    assert (error.code, error.error_info.reason) == (code, reason), error


def answer(error: RichError) -> tuple[object, ...]:
    """Everything a failure tells the caller, but the request id (which every call has)."""
    info = error.error_info
    metadata = {k: v for k, v in info.metadata.items() if k != "request_id"}
    return (
        error.code,
        error.message,
        info.reason,
        info.domain,
        metadata,
        len(error.status.details),
    )


def rename(user_id: str, name: str) -> user_pb2.UpdateUserRequest:
    return user_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user_id, display_name=name),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )


async def set_state(
    channel: grpc.aio.Channel, admin: Caller, account_id: str, state: int
) -> SA.ServiceAccount:
    return await accounts(channel).UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(id=account_id, state=state),  # type: ignore[arg-type]
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )
