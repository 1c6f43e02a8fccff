"""Log lines are batched, but warnings and errors are written at once and nothing is lost."""

from __future__ import annotations

import io
import time

from server.observability.log_output import BufferedLineLogger, LineBuffer


def test_info_lines_wait_for_the_periodic_flush_and_errors_do_not() -> None:
    stream = io.StringIO()
    logger = BufferedLineLogger(LineBuffer(stream, interval=3600))  # no periodic flush here

    logger.info('{"event": "rpc"}')
    assert stream.getvalue() == ""

    logger.error('{"event": "boom"}')
    assert stream.getvalue() == '{"event": "rpc"}\n{"event": "boom"}\n'


def test_the_periodic_flush_writes_pending_lines_in_order() -> None:
    stream = io.StringIO()
    logger = BufferedLineLogger(LineBuffer(stream, interval=0.01))
    for i in range(5):
        logger.info(f"line {i}")

    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 5 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert stream.getvalue().splitlines() == [f"line {i}" for i in range(5)]


def test_a_long_backlog_is_written_without_waiting() -> None:
    stream = io.StringIO()
    logger = BufferedLineLogger(LineBuffer(stream, interval=3600))
    for i in range(1000):
        logger.info(f"line {i}")

    assert stream.getvalue().count("\n") == 1000


def test_a_deferred_line_is_rendered_at_the_flush_in_its_place() -> None:
    stream = io.StringIO()
    buffer = LineBuffer(stream, interval=3600)
    rendered: list[int] = []

    def access_line() -> str:
        rendered.append(1)
        return '{"event": "rpc"}'

    buffer.write_line("before", urgent=False)
    for _ in range(40):  # more than one rendering chunk
        buffer.write_line(access_line, urgent=False)
    assert rendered == []  # not on the caller's thread

    buffer.write_line("after", urgent=True)
    assert stream.getvalue().splitlines() == ["before", *['{"event": "rpc"}'] * 40, "after"]
