"""The brute-force limits, built from settings, and the counters each kind of attempt reserves.

Password guesses at an account are counted twice: per (account, client IP) with a tight limit,
and per account across all IPs with a much larger one (NIST 800-63B allows up to 100). A third
party guessing from one address exhausts only its own (account, IP) budget, so it cannot lock
the owner out cheaply; a distributed guesser still meets the per-account ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.cache.rate_limit import Limit, RateLimiter, ip_subject
from server.config import Settings
from server.errors import RateLimited

Check = tuple[Limit, str]


@dataclass(frozen=True, slots=True)
class Limits:
    login_account: Limit
    login_ip: Limit
    signup_ip: Limit
    service_client: Limit
    login_account_ip: Limit
    email_change: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        window = settings.login_failure_window_seconds
        return cls(
            login_account=Limit("login_account", settings.login_failures_per_account, window),
            login_ip=Limit("login_ip", settings.login_failures_per_ip, window),
            signup_ip=Limit("signup_ip", settings.signups_per_ip, settings.signup_window_seconds),
            service_client=Limit(
                "service_client", settings.service_token_failures_per_client, window
            ),
            login_account_ip=Limit(
                "login_account_ip", settings.login_failures_per_account_and_ip, window
            ),
            email_change=Limit(
                "email_change",
                settings.email_changes_per_user,
                settings.email_change_window_seconds,
            ),
        )

    def password_guess(self, account: str, ip: str) -> list[Check]:
        """The counters one password check for `account` (a subject digest) from `ip` reserves:
        tight per (account, client IP), loose per account. Reset both on a success."""
        return [
            (self.login_account_ip, f"{account}@{ip_subject(ip)}"),
            (self.login_account, account),
        ]


def rate_limited(retry_after: float) -> RateLimited:
    return RateLimited(
        f"too many attempts; retry in {max(1, round(retry_after))} s",
        retry_after_seconds=max(retry_after, 1.0),
    )


__all__ = ["Check", "Limit", "Limits", "RateLimiter", "rate_limited"]
