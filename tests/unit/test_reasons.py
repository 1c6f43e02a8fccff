"""Every public error reason is a `Reason` member, listed under the status code it is sent with."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from server import errors
from server.errors import Reason
from server.rpc.status import REASONS_BY_CODE, status_code_of

SERVER = Path(__file__).resolve().parents[2] / "server"


def test_each_reason_is_listed_under_a_status_code_and_nothing_else_is() -> None:
    listed = [reason for _, reasons in REASONS_BY_CODE for reason in reasons]

    assert set(listed) == set(Reason)
    for code, reasons in REASONS_BY_CODE:
        assert len(set(reasons)) == len(reasons), f"{code.name} lists a reason twice"


def _subclasses(cls: type[errors.DomainError]) -> list[type[errors.DomainError]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


@pytest.mark.parametrize("error_class", _subclasses(errors.DomainError), ids=lambda c: c.__name__)
def test_a_default_reason_is_listed_under_its_error_class_status_code(
    error_class: type[errors.DomainError],
) -> None:
    error = error_class.__new__(error_class)  # status_code_of reads the class only
    by_code = dict(REASONS_BY_CODE)

    assert error_class.default_reason in by_code[status_code_of(error)]


def _literal_reasons(source: str, name: str) -> list[str]:
    """`reason="..."` arguments, and any string spelled exactly like a Reason's value."""
    values = {str(reason) for reason in Reason}
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if (
            isinstance(node, ast.keyword)
            and node.arg == "reason"
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.append(f"{name}:{node.lineno}: reason={node.value.value!r}")
        elif isinstance(node, ast.Constant) and node.value in values:
            found.append(f"{name}:{node.lineno}: {node.value!r}")
    return found


def test_reasons_are_spelled_through_the_enum_not_as_string_literals() -> None:
    paths = [path for path in SERVER.rglob("*.py") if path != SERVER / "errors.py"]
    assert SERVER / "rpc" / "status.py" in paths

    found = [
        hit
        for path in sorted(paths)
        for hit in _literal_reasons(path.read_text(), str(path.relative_to(SERVER)))
    ]

    assert found == []


def test_the_literal_check_sees_both_spellings() -> None:
    source = (
        'raise NotFound("gone", reason="USER_GONE")\n'
        'status = rich_status(code, message, "INTERNAL")\n'
        "raise NotFound('gone', reason=Reason.USER_NOT_FOUND)\n"
    )

    assert sorted(_literal_reasons(source, "x.py")) == [
        "x.py:1: reason='USER_GONE'",
        "x.py:2: 'INTERNAL'",
    ]
