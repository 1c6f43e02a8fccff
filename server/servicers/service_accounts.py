"""userservice.v1.ServiceAccountService (administrators only, per the policy table)."""

from __future__ import annotations

from google.protobuf import empty_pb2

from server.domain import ServiceAccount, ServiceAccountChanges, ServiceAccountState
from server.errors import InvalidArgument
from server.rpc.call_context import ServicerContext
from server.servicers.convert import mask_paths, timestamp
from server.services.service_accounts import ServiceAccountService
from userservice.v1 import service_account_pb2 as sa_pb2
from userservice.v1 import service_account_pb2_grpc as sa_pb2_grpc

_EMPTY = empty_pb2.Empty()
UPDATABLE_PATHS = frozenset({"display_name", "scopes", "state"})
_STATE_TO_PROTO = {
    ServiceAccountState.ACTIVE: sa_pb2.ServiceAccount.STATE_ACTIVE,
    ServiceAccountState.DISABLED: sa_pb2.ServiceAccount.STATE_DISABLED,
}
_STATE_FROM_PROTO = {v: k for k, v in _STATE_TO_PROTO.items()}


def account_to_proto(account: ServiceAccount) -> sa_pb2.ServiceAccount:
    return sa_pb2.ServiceAccount(
        id=str(account.id),
        client_id=account.client_id,
        display_name=account.display_name,
        scopes=list(account.scopes),
        state=_STATE_TO_PROTO[account.state],
        create_time=timestamp(account.created_at),
        update_time=timestamp(account.updated_at),
        etag=account.etag,
    )


def account_changes(request: sa_pb2.UpdateServiceAccountRequest) -> ServiceAccountChanges:
    paths = mask_paths(request.update_mask, UPDATABLE_PATHS)
    account = request.service_account
    state = None
    if "state" in paths:
        state = _STATE_FROM_PROTO.get(account.state)
        if state is None:
            raise InvalidArgument.for_field(
                "service_account.state", "must be STATE_ACTIVE or STATE_DISABLED"
            )
    return ServiceAccountChanges(
        display_name=account.display_name if "display_name" in paths else None,
        scopes=tuple(account.scopes) if "scopes" in paths else None,
        state=state,
    )


class ServiceAccountServicer(sa_pb2_grpc.ServiceAccountServiceServicer):
    def __init__(self, accounts: ServiceAccountService) -> None:
        self._accounts = accounts

    async def CreateServiceAccount(
        self, request: sa_pb2.CreateServiceAccountRequest, context: ServicerContext
    ) -> sa_pb2.CreateServiceAccountResponse:
        made = await self._accounts.create_service_account(
            display_name=request.display_name, scopes=list(request.scopes)
        )
        return sa_pb2.CreateServiceAccountResponse(
            service_account=account_to_proto(made.account), client_secret=made.client_secret
        )

    async def GetServiceAccount(
        self, request: sa_pb2.GetServiceAccountRequest, context: ServicerContext
    ) -> sa_pb2.ServiceAccount:
        return account_to_proto(await self._accounts.get_service_account(request.id))

    async def ListServiceAccounts(
        self, request: sa_pb2.ListServiceAccountsRequest, context: ServicerContext
    ) -> sa_pb2.ListServiceAccountsResponse:
        accounts, token = await self._accounts.list_service_accounts(
            size=request.page_size, token=request.page_token
        )
        return sa_pb2.ListServiceAccountsResponse(
            service_accounts=[account_to_proto(a) for a in accounts], next_page_token=token
        )

    async def UpdateServiceAccount(
        self, request: sa_pb2.UpdateServiceAccountRequest, context: ServicerContext
    ) -> sa_pb2.ServiceAccount:
        account = await self._accounts.update_service_account(
            request.service_account.id,
            account_changes(request),
            etag=request.service_account.etag,
        )
        return account_to_proto(account)

    async def RotateServiceAccountSecret(
        self, request: sa_pb2.RotateServiceAccountSecretRequest, context: ServicerContext
    ) -> sa_pb2.RotateServiceAccountSecretResponse:
        rotated = await self._accounts.rotate_service_account_secret(request.id)
        return sa_pb2.RotateServiceAccountSecretResponse(
            service_account=account_to_proto(rotated.account),
            client_secret=rotated.client_secret,
            previous_secret_expire_time=timestamp(rotated.previous_secret_expires_at),
        )

    async def DeleteServiceAccount(
        self, request: sa_pb2.DeleteServiceAccountRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        await self._accounts.delete_service_account(request.id, etag=request.etag)
        return _EMPTY
