"""The userservice.v1 contract as the generated descriptors describe it, for tests that walk it."""

from __future__ import annotations

import importlib
import pkgutil

from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor, MethodDescriptor

import userservice.v1


def proto_files() -> list[FileDescriptor]:
    """Every generated userservice.v1 module, so that a proto added later is covered too."""
    modules = (
        importlib.import_module(f"userservice.v1.{info.name}")
        for info in pkgutil.iter_modules(userservice.v1.__path__)
        if info.name.endswith("_pb2")
    )
    return [module.DESCRIPTOR for module in modules]


def methods() -> list[MethodDescriptor]:
    return [
        method
        for file in proto_files()
        for service in file.services_by_name.values()
        for method in service.methods
    ]


def behavior(field: FieldDescriptor) -> set[int]:
    """The field's (google.api.field_behavior) values."""
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])
