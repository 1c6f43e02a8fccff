"""Service accounts: only failures of a client secret are throttled (the right secret still gets
its token), and oversized or unknown scope lists are refused with a short message."""

from __future__ import annotations

import pytest

from server.domain import ServiceAccountChanges
from server.errors import InvalidArgument
from tests.support.security_rule_actors import CLIENT, SERVICE_FAILURES, refusal
from tests.unit.services_in_memory import InMemoryServices

# -- service accounts -------------------------------------------------------------------------


async def test_a_correct_client_secret_gets_its_token_after_many_failures(
    svc: InMemoryServices,
) -> None:
    issued = await svc.service_accounts.create_service_account(
        display_name="Billing", scopes=["users:read"]
    )
    client_id = issued.account.client_id
    failures = [
        await refusal(svc.service_accounts.issue_service_token(client_id, "wrong", (), CLIENT))
        for _ in range(SERVICE_FAILURES + 5)
    ]
    unknown = [
        await refusal(svc.service_accounts.issue_service_token("svc_nobody", "x", (), CLIENT))
        for _ in range(SERVICE_FAILURES + 1)
    ]

    pair = await svc.service_accounts.issue_service_token(
        client_id, issued.client_secret, (), CLIENT
    )

    expected = ["INVALID_CREDENTIALS"] * SERVICE_FAILURES + ["RATE_LIMITED"] * 5
    assert [f.reason for f in failures] == expected
    assert [f.reason for f in unknown] == expected[: SERVICE_FAILURES + 1]
    assert pair.access_token


@pytest.mark.parametrize("where", ["create", "update", "issue"])
async def test_ten_thousand_scopes_are_refused_with_a_short_message(
    svc: InMemoryServices, where: str
) -> None:
    issued = await svc.service_accounts.create_service_account(
        display_name="Billing", scopes=["users:read"]
    )
    scopes = [f"scope-{n}-{'x' * 50}" for n in range(10_000)]
    calls = {
        "create": lambda: svc.service_accounts.create_service_account(
            display_name="B", scopes=scopes
        ),
        "update": lambda: svc.service_accounts.update_service_account(
            str(issued.account.id), ServiceAccountChanges(scopes=scopes), etag=""
        ),
        "issue": lambda: svc.service_accounts.issue_service_token(
            issued.account.client_id, issued.client_secret, scopes, CLIENT
        ),
    }
    failure = await refusal(calls[where]())
    assert isinstance(failure, InvalidArgument)
    assert len(failure.message) < 200


async def test_unknown_scopes_are_named_a_few_at_most(svc: InMemoryServices) -> None:
    scopes = [f"nope-{n}-{'y' * 100}" for n in range(30)]
    failure = await refusal(
        svc.service_accounts.create_service_account(display_name="B", scopes=scopes)
    )
    assert isinstance(failure, InvalidArgument)
    assert failure.message.count("nope-") == 3
    assert "and 27 more" in failure.message
    assert len(failure.message) < 400
