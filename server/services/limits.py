"""The brute-force limits, built from settings (ARCHITECTURE.md, "Throttles")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.cache.rate_limit import Limit, RateLimiter, ip_subject, subject_digest
from server.config import Settings
from server.errors import RateLimited

Check = tuple[Limit, str]


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The counters one password attempt reserves a slot on, and which a success frees."""

    checks: Sequence[Check]
    # Reset on success: the owner's own address and the account's total.
    account: Sequence[Check]
    # Given back on success, so a shared address (a NAT) is not throttled by its users' logins.
    address: Check


@dataclass(frozen=True, slots=True)
class Limits:
    login_account: Limit  # one account from one address
    login_account_all: Limit  # one account from every address together
    login_ip: Limit
    signup_ip: Limit
    service_client: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        window = settings.login_failure_window_seconds
        return cls(
            login_account=Limit("login_account", settings.login_failures_per_account, window),
            login_account_all=Limit(
                "login_account_all", settings.login_failures_per_account_all_addresses, window
            ),
            login_ip=Limit("login_ip", settings.login_failures_per_ip, window),
            signup_ip=Limit("signup_ip", settings.signups_per_ip, settings.signup_window_seconds),
            service_client=Limit(
                "service_client", settings.service_token_failures_per_client, window
            ),
        )

    def login_attempt(self, account_key: str, ip: str) -> LoginAttempt:
        """Failures count per (account, address) with the tight limit, per account with a much
        larger one (a third party cannot cheaply lock the owner out), and per address."""
        account, address = subject_digest(account_key), ip_subject(ip)
        mine = (self.login_account, subject_digest(f"{account_key}\x00{address}"))
        everywhere = (self.login_account_all, account)
        from_address = (self.login_ip, address)
        return LoginAttempt((mine, everywhere, from_address), (mine, everywhere), from_address)

    @staticmethod
    async def succeeded(limiter: RateLimiter, attempt: LoginAttempt) -> None:
        for limit, subject in attempt.account:
            await limiter.reset(limit, subject)
        await limiter.release(*attempt.address)


def rate_limited(retry_after: float) -> RateLimited:
    return RateLimited(
        f"too many attempts; retry in {max(1, round(retry_after))} s",
        retry_after_seconds=max(retry_after, 1.0),
    )


__all__ = ["Limit", "Limits", "RateLimiter", "rate_limited"]
