"""userservice.v1.ServiceAccountService."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from userservice.v1 import service_account_pb2 as sa_pb2
from userservice.v1 import service_account_pb2_grpc as sa_pb2_grpc

Context = Any


class ServiceAccountServicer(sa_pb2_grpc.ServiceAccountServiceServicer):
    async def CreateServiceAccount(
        self, request: sa_pb2.CreateServiceAccountRequest, context: Context
    ) -> sa_pb2.CreateServiceAccountResponse:
        raise NotImplementedError

    async def GetServiceAccount(
        self, request: sa_pb2.GetServiceAccountRequest, context: Context
    ) -> sa_pb2.ServiceAccount:
        raise NotImplementedError

    async def ListServiceAccounts(
        self, request: sa_pb2.ListServiceAccountsRequest, context: Context
    ) -> sa_pb2.ListServiceAccountsResponse:
        raise NotImplementedError

    async def UpdateServiceAccount(
        self, request: sa_pb2.UpdateServiceAccountRequest, context: Context
    ) -> sa_pb2.ServiceAccount:
        raise NotImplementedError

    async def RotateServiceAccountSecret(
        self, request: sa_pb2.RotateServiceAccountSecretRequest, context: Context
    ) -> sa_pb2.RotateServiceAccountSecretResponse:
        raise NotImplementedError

    async def DeleteServiceAccount(
        self, request: sa_pb2.DeleteServiceAccountRequest, context: Context
    ) -> empty_pb2.Empty:
        raise NotImplementedError
