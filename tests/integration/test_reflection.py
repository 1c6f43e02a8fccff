"""Server reflection (v1alpha) lets tools such as grpcurl list and describe every service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from server.app import Application

EXPECTED_SERVICES = {
    "userservice.v1.UserService",
    "userservice.v1.AuthService",
    "userservice.v1.ServiceAccountService",
    "grpc.health.v1.Health",
}


@contextmanager
def reflection_client(port: int) -> Iterator[ProtoReflectionDescriptorDatabase]:
    """What grpcurl does: a blocking channel and the reflection descriptor database over it."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield ProtoReflectionDescriptorDatabase(channel)


def list_services(port: int) -> set[str]:
    with reflection_client(port) as database:
        return set(database.get_services())


def describe(port: int, symbol: str) -> tuple[FileDescriptorProto, dict[str, tuple[str, str]]]:
    with reflection_client(port) as database:
        file = database.FindFileContainingSymbol(symbol)
        service = DescriptorPool(database).FindServiceByName(symbol)
        methods = {
            method.name: (method.input_type.full_name, method.output_type.full_name)
            for method in service.methods
        }
        return file, methods


async def test_reflection_lists_the_application_services_and_health(app: Application) -> None:
    services = await asyncio.to_thread(list_services, app.port)

    assert services >= EXPECTED_SERVICES


async def test_reflection_describes_user_service_with_its_methods(app: Application) -> None:
    file, methods = await asyncio.to_thread(describe, app.port, "userservice.v1.UserService")

    assert file.package == "userservice.v1"
    assert "UserService" in [service.name for service in file.service]
    assert methods["GetUser"] == ("userservice.v1.GetUserRequest", "userservice.v1.User")
    assert set(methods) >= {"CreateUser", "GetUser", "ListUsers", "UpdateUser", "DeleteUser"}
