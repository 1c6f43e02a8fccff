"""Password hashing yields the CPU to the event loop: its threads run at a lower priority."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.security.passwords import HASHING_NICENESS, lower_thread_priority


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priority is a Linux feature")
def test_hashing_threads_are_niced_and_the_event_loop_thread_is_not() -> None:
    before = own_niceness()
    assert before < HASHING_NICENESS, "the test runner itself is already niced"
    with ThreadPoolExecutor(max_workers=1, initializer=lower_thread_priority) as pool:
        in_pool = pool.submit(own_niceness).result()

    assert in_pool == HASHING_NICENESS
    assert own_niceness() == before
