"""The brute-force limits (ARCHITECTURE.md, "Where each rule lives"), built from settings."""

from __future__ import annotations

from dataclasses import dataclass

from server.cache.rate_limit import Limit, RateLimiter
from server.config import Settings
from server.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limits:
    login_account: Limit
    login_ip: Limit
    signup_ip: Limit
    service_client: Limit

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
        )


def rate_limited(retry_after: float) -> RateLimited:
    return RateLimited(
        f"too many attempts; retry in {max(1, round(retry_after))} s",
        retry_after_seconds=max(retry_after, 1.0),
    )


__all__ = ["Limit", "Limits", "RateLimiter", "rate_limited"]
