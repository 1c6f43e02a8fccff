"""`userservice-client`'s command line and its passwords: never a flag, never echoed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from userservice_client.cli import main
from userservice_client.cli.context import Command
from userservice_client.cli.login_state import Access
from userservice_client.cli.outcomes import CliError, ExitCode
from userservice_client.cli.parser import build_parser
from userservice_client.cli.prompts import read_password


def test_global_options_may_come_before_or_after_the_command() -> None:
    before = build_parser().parse_args(["--json", "--address", "a:1", "users", "get", "me"])
    after = build_parser().parse_args(["users", "get", "me", "--json", "--address", "a:1"])
    neither = build_parser().parse_args(["users", "get"])

    for args in (before, after):
        assert args.json is True
        assert args.address == "a:1"
        assert args.id == "me"
    assert neither.json is False
    assert neither.address is None
    assert neither.id == "me"


def test_each_command_declares_how_it_uses_the_saved_login() -> None:
    def access(*argv: str) -> Access:
        command = build_parser().parse_args(argv).command
        assert isinstance(command, Command)
        return command.access

    assert access("login", "--email", "a@example.com") is Access.LOGIN
    assert access("keys") is Access.PUBLIC
    assert access("users", "create", "--email", "a@example.com") is Access.OPTIONAL
    assert access("whoami") is Access.REQUIRED
    assert access("sessions", "revoke-all") is Access.REQUIRED


@pytest.mark.parametrize(
    "argv",
    [
        ["login", "--email", "a@example.com", "--password", "secret"],
        ["users", "create", "--email", "a@example.com", "--password", "secret"],
        ["users", "update", "me", "--role", "root"],
        ["users", "list", "--page-size", "-1"],
        ["--timeout", "0", "whoami"],
        ["login"],
        [],
    ],
)
def test_a_bad_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)

    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_a_password_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERSERVICE_PASSWORD", "from the environment")
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))

    assert read_password("Password: ") == "from the environment"


def test_piped_passwords_are_read_one_line_each_keeping_their_spaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("USERSERVICE_PASSWORD", raising=False)
    monkeypatch.delenv("USERSERVICE_NEW_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(" current one \r\nthe new one\n"))

    assert read_password("Current: ") == " current one "
    assert read_password("New: ", env="USERSERVICE_NEW_PASSWORD", confirm=True) == "the new one"


def test_no_password_at_all_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USERSERVICE_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(CliError) as refused:
        read_password("Password: ")

    assert refused.value.exit_code is ExitCode.USAGE
    assert "USERSERVICE_PASSWORD" in refused.value.message


def test_a_missing_tls_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ca.pem"
    status = main(["--ca-file", str(missing), "--token-file", str(tmp_path / "t.json"), "keys"])

    assert status == ExitCode.USAGE
    assert str(missing) in capsys.readouterr().err


def test_server_name_without_tls_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--server-name", "x", "--token-file", str(tmp_path / "t.json"), "keys"])

    assert status == ExitCode.USAGE
    assert "--server-name needs TLS" in capsys.readouterr().err
