"""What the security-rule tests (tests/unit/security_rules/) share: small brute-force limits, the
clients they call from, and ways to act as a new user, a signed-in user, an administrator or a
service account on the in-memory services."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from server.cache.rate_limit import Limit
from server.domain import ClientInfo, Principal, User
from server.errors import DomainError
from server.services.limits import Limits
from tests.unit.services_in_memory import InMemoryServices

PASSWORD = "correct horse battery staple"
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")
GUESSES_PER_ACCOUNT_AND_IP = 4
EMAIL_CHANGES = 3
SIGNUPS = 2
SERVICE_FAILURES = 3


def small_limits() -> Limits:
    return Limits(
        login_account=Limit("login_account", 100, 900),
        login_ip=Limit("login_ip", 1000, 900),
        signup_ip=Limit("signup_ip", SIGNUPS, 3600),
        service_client=Limit("service_client", SERVICE_FAILURES, 900),
        login_account_ip=Limit("login_account_ip", GUESSES_PER_ACCOUNT_AND_IP, 900),
        email_change=Limit("email_change", EMAIL_CHANGES, 3600),
    )


async def refusal(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value


async def create(
    svc: InMemoryServices,
    email: str,
    *,
    password: str = PASSWORD,
    request_id: str = "",
    principal: Principal | None = None,
    client: ClientInfo = CLIENT,
) -> User:
    return await svc.users.create_user(
        email=email,
        password=password,
        display_name="Ada",
        role=None,
        request_id=request_id,
        principal=principal,
        client=client,
    )


async def signed_in(svc: InMemoryServices, email: str) -> Principal:
    pair = await svc.auth.login(email, PASSWORD, CLIENT)
    return await svc.auth.authenticate(pair.access_token)


async def admin(svc: InMemoryServices, email: str = "root@example.com") -> Principal:
    await svc.users.bootstrap_admin(email=email, password=PASSWORD, display_name="Root")
    return await signed_in(svc, email)


async def service(svc: InMemoryServices, *scopes: str) -> Principal:
    issued = await svc.service_accounts.create_service_account(
        display_name="Robot", scopes=list(scopes)
    )
    pair = await svc.service_accounts.issue_service_token(
        issued.account.client_id, issued.client_secret, (), CLIENT
    )
    return await svc.auth.authenticate(pair.access_token)
