"""UpdateUser, DeleteUser and ChangePassword through the stubs, and what their refusals say:
shared by the integration tests of those calls."""

from __future__ import annotations

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from tests.support.flows import Caller, users
from tests.support.rich_errors import RichError
from userservice.v1 import user_pb2

NEW_PASSWORD = "amber-orchard-compass-93"


async def update(
    channel: grpc.aio.Channel,
    caller: Caller,
    user: user_pb2.User,
    *paths: str,
    current_password: str = "",
) -> user_pb2.User:
    return await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            current_password=current_password,
        ),
        metadata=caller.metadata,
    )


async def get_user(channel: grpc.aio.Channel, caller: Caller, user_id: str) -> user_pb2.User:
    return await users(channel).GetUser(
        user_pb2.GetUserRequest(id=user_id), metadata=caller.metadata
    )


async def delete_user(
    channel: grpc.aio.Channel, caller: Caller, user_id: str, etag: str = ""
) -> None:
    await users(channel).DeleteUser(
        user_pb2.DeleteUserRequest(id=user_id, etag=etag), metadata=caller.metadata
    )


async def change_password(
    channel: grpc.aio.Channel, caller: Caller, current: str, new: str
) -> None:
    await users(channel).ChangePassword(
        user_pb2.ChangePasswordRequest(current_password=current, new_password=new),
        metadata=caller.metadata,
    )


def assert_refused(error: RichError, code: grpc.StatusCode, reason: str) -> None:
    assert (error.code, error.error_info.reason) == (code, reason), error.message


def violated_fields(error: RichError) -> list[str]:
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None, error.message
    return [v.field for v in bad_request.field_violations]
