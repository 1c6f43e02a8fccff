"""The security rules of the user, session and service-account services, on an in-memory unit of
work: throttles reserve before verifying, only failures of a client secret are throttled, only
administrators act on administrators, idempotency fingerprints cover the password.

Every test here gets `svc`: the services of the composition root under small limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.security_rule_actors import small_limits
from tests.unit.services_in_memory import InMemoryServices, services_in_memory


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[InMemoryServices]:
    async with services_in_memory(tmp_path, limits_used=small_limits()) as built:
        yield built
