"""Reading the google.rpc details a failed call carries, as a client would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import grpc.aio
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DETAILS_KEY = "grpc-status-details-bin"
_Detail = TypeVar("_Detail")


@dataclass(frozen=True, slots=True)
class RichError:
    code: grpc.StatusCode
    message: str
    status: status_pb2.Status

    def detail(self, kind: type[_Detail]) -> _Detail | None:
        """The first detail of type `kind`, or None."""
        for packed in self.status.details:
            message: Any = kind()
            if packed.Unpack(message):
                return message  # type: ignore[no-any-return]
        return None

    @property
    def error_info(self) -> error_details_pb2.ErrorInfo:
        info = self.detail(error_details_pb2.ErrorInfo)
        assert info is not None, f"no ErrorInfo in {self.status}"
        return info


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    """The status of a failed call; fails the test when it carries no google.rpc.Status.

    `rpc_status.from_call` also checks that the code and message inside the details agree
    with the call's own status.
    """
    status = rpc_status.from_call(error)
    assert status is not None, f"{error.code().name} without {DETAILS_KEY}: {error.details()!r}"
    return RichError(error.code(), error.details() or "", status)
