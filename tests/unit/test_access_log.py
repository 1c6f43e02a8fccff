"""The access line: its fields, its JSON form, and when it is written at all."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import structlog
from structlog.testing import CapturingLogger

from server.observability.log_output import Line
from server.rpc.access_log import AccessLog, sane_request_id

LINE = {
    "method": "/userservice.v1.UserService/GetUser",
    "peer": "ipv4:10.0.0.7:50123",
    "code": "NOT_FOUND",
    "duration_ms": 0.412,
    "user": "0190c3a2-7e51-7c1c-8a2b-5d4e3f2a1b0c",
    "request_id": 'caller "quoted" id',
}


def test_a_json_access_line_has_every_field_and_the_keys_other_lines_have() -> None:
    lines: list[Line] = []
    access = AccessLog(structlog.get_logger(), level="INFO", json_lines=True, sink=lines.append)

    before = dt.datetime.now(dt.UTC)
    access.write(quiet=False, **LINE)  # type: ignore[arg-type]

    assert len(lines) == 1
    line = lines[0]
    record = json.loads(line if isinstance(line, str) else line())  # rendered by the log thread
    assert {key: record[key] for key in LINE} == LINE
    assert record["event"] == "rpc"
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")
    stamped = dt.datetime.fromisoformat(record["timestamp"])
    assert before <= stamped <= dt.datetime.now(dt.UTC)


def test_a_traced_calls_line_names_its_trace_and_an_untraced_one_has_no_trace_key() -> None:
    lines: list[Line] = []
    access = AccessLog(structlog.get_logger(), level="INFO", json_lines=True, sink=lines.append)

    access.write(quiet=False, **LINE, trace_id="4bf92f3577b34da6a3ce929d0e0e4736")  # type: ignore[arg-type]
    access.write(quiet=False, **LINE)  # type: ignore[arg-type]

    traced, untraced = (json.loads(line if isinstance(line, str) else line()) for line in lines)
    assert traced["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "trace_id" not in untraced


def test_a_console_access_line_goes_through_the_configured_logger() -> None:
    captured = CapturingLogger()
    logger = structlog.wrap_logger(
        captured, processors=[], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG)
    )
    access = AccessLog(logger, level="DEBUG", json_lines=False)

    access.write(quiet=False, **LINE)  # type: ignore[arg-type]
    access.write(quiet=True, **LINE)  # type: ignore[arg-type]

    assert [(call.method_name, call.kwargs) for call in captured.calls] == [
        ("info", {"event": "rpc", **LINE}),
        ("debug", {"event": "rpc", **LINE}),
    ]


@pytest.mark.parametrize(
    ("level", "loud", "quiet"),
    [("DEBUG", True, True), ("INFO", True, False), ("WARNING", False, False)],
)
def test_quiet_calls_are_logged_only_at_debug(level: str, loud: bool, quiet: bool) -> None:
    access = AccessLog(structlog.get_logger(), level=level, json_lines=True, sink=print)

    assert access.enabled(quiet=False) is loud
    assert access.enabled(quiet=True) is quiet


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("req-42", True),
        ("r" * 128, True),
        ("r" * 129, False),
        ("", False),
        ("tab\there", False),
        ("naïve", False),
        (b"bytes", False),
    ],
)
def test_a_request_id_is_kept_only_when_it_is_short_printable_ascii(
    value: object, kept: bool
) -> None:
    assert (sane_request_id(value) == value) is kept


@pytest.mark.parametrize(("level", "logged"), [("DEBUG", True), ("INFO", False)])
def test_a_call_start_is_logged_only_at_debug(level: str, logged: bool) -> None:
    captured = CapturingLogger()
    logger = structlog.wrap_logger(
        captured, processors=[], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG)
    )

    AccessLog(logger, level=level, json_lines=True, sink=print).started("/a.B/C", "req-1")

    expected = [{"event": "rpc started", "method": "/a.B/C", "request_id": "req-1"}]
    assert [call.kwargs for call in captured.calls] == (expected if logged else [])
