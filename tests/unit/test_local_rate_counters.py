"""The in-process rate-limit counters keep fixed windows: steady attempts do not stretch one."""

from __future__ import annotations

import time

import pytest

from server.cache import rate_limit
from server.cache.rate_limit import Limit


def test_a_window_ends_on_time_however_steady_the_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    counters = rate_limit._LocalCounters(Limit("ip", 3, 60))

    counts = []
    for _ in range(7):  # one attempt every 20 s: three per window
        counts.append(counters.add("192.0.2.9", 1)[0])
        now[0] += 20

    assert counts == [1, 2, 3, 1, 2, 3, 1]
