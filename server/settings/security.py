"""Settings of passwords and their hashing, sign-up, and the limits on logins, sign-ups, email
changes and one-time codes."""

from __future__ import annotations

from pydantic import Field

from server.settings.base import BaseServiceSettings


class SecuritySettings(BaseServiceSettings):
    signup_enabled: bool = Field(True, description="Anyone may CreateUser; else admins only.")
    require_verified_email: bool = Field(
        False,
        description="Login refuses a user whose email is not verified "
        "(FAILED_PRECONDITION EMAIL_NOT_VERIFIED, only after a correct password).",
    )
    password_min_length: int = Field(12, ge=8, le=128, description="Minimum password length.")
    argon2_memory_kib: int = Field(19456, ge=19456, description="argon2id memory (KiB).")
    argon2_time_cost: int = Field(2, ge=2, description="argon2id iterations.")
    argon2_parallelism: int = Field(1, ge=1, description="argon2id lanes.")
    hashing_threads: int = Field(
        0,
        ge=0,
        description="Threads hashing passwords; 0 means one per CPU this process may run on "
        "(set it to the container's CPU limit when that is lower).",
    )
    hashing_queue_per_thread: int = Field(
        8,
        ge=0,
        description="Calls that may wait for a hashing thread, per thread (8: about a quarter "
        "second of waiting at 30 ms a hash); past them, or when a call's deadline would pass in "
        "the queue, Login, CreateUser, ChangePassword and an email change answer "
        "RESOURCE_EXHAUSTED `PASSWORD_HASHING_BUSY` with RetryInfo at once.",
    )
    login_failures_per_account_and_ip: int = Field(
        10,
        ge=1,
        description="Wrong passwords for one account from one client IP (its /64 for IPv6) per "
        "window before RESOURCE_EXHAUSTED.",
    )
    login_failures_per_account: int = Field(
        100,
        ge=1,
        description="Wrong passwords for one account from all IPs per window (NIST 800-63B's "
        "ceiling), so that a third party cannot cheaply lock the owner out.",
    )
    login_failures_per_ip: int = Field(
        100, ge=1, description="Failed logins per client IP per window before RESOURCE_EXHAUSTED."
    )
    login_failure_window_seconds: int = Field(
        900, ge=1, description="Window of the failed-login counters."
    )
    service_token_failures_per_client: int = Field(
        10, ge=1, description="Failed IssueServiceToken calls per client id per login window."
    )
    signups_per_ip: int = Field(
        20,
        ge=1,
        description="CreateUser calls per client IP (its /64 for IPv6) per window; "
        "administrators and users:write services are exempt.",
    )
    signup_window_seconds: int = Field(3600, ge=1, description="Window of the sign-up counter.")
    email_changes_per_user: int = Field(
        5, ge=1, description="Email changes a user may attempt on their own account per window."
    )
    email_change_window_seconds: int = Field(
        3600, ge=1, description="Window of the per-user email-change counter."
    )
    one_time_code_ttl_seconds: int = Field(
        900,
        ge=1,
        le=7 * 24 * 3600,
        description="Lifetime of an email-verification or password-reset code.",
    )
    code_requests_window_seconds: int = Field(
        3600, ge=1, description="Window of the verification and password-reset request counters."
    )
    verification_requests_per_user: int = Field(
        5, ge=1, description="RequestEmailVerification calls per user per window."
    )
    password_resets_per_email: int = Field(
        3, ge=1, description="RequestPasswordReset calls per address per window."
    )
    password_resets_per_ip: int = Field(
        20, ge=1, description="RequestPasswordReset calls per client IP per window."
    )
    password_reset_answer_seconds: float = Field(
        0.1,
        ge=0,
        le=5,
        description="RequestPasswordReset answers no sooner than this after its lookup began, so "
        "an address with an account and one without take the same time.",
    )
