"""The userservice process the CLI client tests share (one per module): tests/support/cli_client.py
holds how the client is run and the people who run it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cli_client import Service, start


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from start(tmp_path_factory, login_failures_per_account="3")
