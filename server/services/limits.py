"""The brute-force limits, built from settings, and the counters each kind of attempt reserves.

Password guesses at an account are counted twice: per (account, client IP) with a tight limit,
and per account across all IPs with a much larger one (NIST 800-63B allows up to 100). A third
party guessing from one address exhausts only its own (account, IP) budget, so it cannot lock
the owner out cheaply; a distributed guesser still meets the per-account ceiling.
(ARCHITECTURE.md, "Where each rule lives".)
"""

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
    login_account: Limit  # one account from every address together (the loose ceiling)
    login_ip: Limit
    signup_ip: Limit
    service_client: Limit
    login_account_ip: Limit  # one account from one address (the tight limit)
    email_change: Limit
    verification_user: Limit
    reset_email: Limit
    reset_ip: Limit

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
            verification_user=Limit(
                "verification_user",
                settings.verification_requests_per_user,
                settings.code_requests_window_seconds,
            ),
            reset_email=Limit(
                "reset_email",
                settings.password_resets_per_email,
                settings.code_requests_window_seconds,
            ),
            reset_ip=Limit(
                "reset_ip", settings.password_resets_per_ip, settings.code_requests_window_seconds
            ),
        )

    def password_guess(self, account: str, ip: str) -> list[Check]:
        """The counters one password check for `account` (a subject digest) from `ip` reserves:
        tight per (account, client IP), loose per account. Reset both on a success."""
        return [
            (self.login_account_ip, f"{account}@{ip_subject(ip)}"),
            (self.login_account, account),
        ]

    def login_attempt(self, account_key: str, ip: str) -> LoginAttempt:
        """A login's counters: the password guess's two, and the client address's own."""
        guess = self.password_guess(subject_digest(account_key), ip)
        from_address = (self.login_ip, ip_subject(ip))
        return LoginAttempt((*guess, from_address), guess, from_address)

    @staticmethod
    async def refund(limiter: RateLimiter, attempt: LoginAttempt) -> None:
        """Gives back every slot an attempt reserved and never used (nothing was verified)."""
        for limit, subject in attempt.checks:
            await limiter.release(limit, subject)

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


__all__ = ["Check", "Limit", "Limits", "RateLimiter", "rate_limited"]
