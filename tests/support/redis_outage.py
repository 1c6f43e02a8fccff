"""What the Redis-outage tests (tests/integration/redis_outage/) share besides their fixtures."""

from __future__ import annotations

FAILED_LOGINS_ALLOWED = 3
# Redis is skipped for 1 s after a failure, then retried: recovery shows well within this.
RECOVERY_SECONDS = 10.0
