"""What the method mixins of the blocking `UserServiceClient` (see `sync.py`) build on."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from userservice_client.client import AsyncUserServiceClient

T = TypeVar("T")


class SyncCalls:
    """Mixed into `UserServiceClient`, which provides `_client`, `_closed` and `_run`."""

    _client: AsyncUserServiceClient
    _closed: bool

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError
