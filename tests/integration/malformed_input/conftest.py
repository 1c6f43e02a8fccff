"""Bad input of any kind is the caller's error: INVALID_ARGUMENT naming the field (UNAUTHENTICATED
where the input is a credential), never INTERNAL or UNKNOWN.

The tests in this folder call a real server on each backend: the known kinds of bad input, RPC by
RPC (test_malformed_user_requests.py, test_malformed_auth_requests.py); bytes that do not parse at
all (test_unparsable_requests.py); and whatever hypothesis generates, structured and raw
(test_fuzzed_requests.py). Their shared fixtures are here.
"""

from __future__ import annotations

from pathlib import Path

import grpc.aio
import pytest

from server.app import Application
from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import Caller, signed_in_admin, signed_in_user
from tests.support.servers import settings_for_test


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # Fuzzing signs up and fails logins far more often than a person would; the brute-force
    # limits have tests of their own and would only turn answers here into RESOURCE_EXHAUSTED.
    return settings_for_test(
        backend,
        tmp_path,
        signups_per_ip=1_000_000,
        login_failures_per_ip=1_000_000,
        login_failures_per_account=1_000_000,
        login_failures_per_account_and_ip=1_000_000,
    )


@pytest.fixture
async def caller(channel: grpc.aio.Channel) -> Caller:
    return await signed_in_user(channel, "caller")


@pytest.fixture
async def admin(app: Application, channel: grpc.aio.Channel) -> Caller:
    return await signed_in_admin(app, channel)
