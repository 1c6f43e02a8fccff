"""The policy table names exactly the methods the server serves: an RPC added to or renamed in a
proto cannot fall out of it silently (a missing method would be admin-only by default)."""

from __future__ import annotations

from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from server.rpc.policy import ADMIN_ONLY, POLICIES, policy_for
from userservice.v1 import auth_pb2, events_pb2, service_account_pb2, user_pb2

# Every service the server registers, by the generated module that describes it.
SERVED = (
    (user_pb2.DESCRIPTOR, "UserService"),
    (auth_pb2.DESCRIPTOR, "AuthService"),
    (service_account_pb2.DESCRIPTOR, "ServiceAccountService"),
    (events_pb2.DESCRIPTOR, "EventService"),
    (health_pb2.DESCRIPTOR, "Health"),
    (reflection_pb2.DESCRIPTOR, "ServerReflection"),
)


def served_methods() -> set[str]:
    methods = set()
    for file, name in SERVED:
        service = file.services_by_name[name]
        methods.update(f"/{service.full_name}/{method.name}" for method in service.methods)
    return methods


def test_every_userservice_proto_service_is_served() -> None:
    files: tuple[FileDescriptor, ...] = (user_pb2.DESCRIPTOR, auth_pb2.DESCRIPTOR)
    files += (service_account_pb2.DESCRIPTOR, events_pb2.DESCRIPTOR)
    in_protos = {service for file in files for service in file.services_by_name}
    assert in_protos == {name for file, name in SERVED if file in files}


def test_the_policy_table_names_exactly_the_served_methods() -> None:
    served = served_methods()

    assert "/userservice.v1.UserService/CreateUser" in served
    assert "/grpc.health.v1.Health/Check" in served
    assert sorted(served - POLICIES.keys()) == [], "methods without a policy"
    assert sorted(POLICIES.keys() - served) == [], "policies for methods no service defines"


def test_a_method_missing_from_the_table_is_admin_only() -> None:
    assert policy_for("/userservice.v1.UserService/NoSuchMethod") is ADMIN_ONLY
