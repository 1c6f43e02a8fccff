"""The saved login: a private file, replaced atomically, and only sent where it came from."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from userservice.v1 import auth_pb2
from userservice_client.cli import token_file
from userservice_client.cli.login_state import Access, open_login_state
from userservice_client.cli.options import Options
from userservice_client.cli.outcomes import CliError, ExitCode
from userservice_client.cli.token_file import SavedLogin

ADDRESS = "127.0.0.1:50051"


def pair(refresh_token: str = "refresh-1") -> auth_pb2.TokenPair:
    tokens = auth_pb2.TokenPair(
        access_token="access-1",
        refresh_token=refresh_token,
        token_type="Bearer",
        session_id="session-1",
    )
    tokens.access_token_expire_time.FromSeconds(2_000_000_000)
    return tokens


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def options(path: Path, address: str | None = None) -> Options:
    return Options(address=address, tls=None, timeout=5.0, json=False, token_file=path)


def test_a_saved_login_is_readable_by_its_owner_only_in_a_private_directory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config" / "userservice" / "token.json"

    token_file.save(path, SavedLogin(ADDRESS, pair()))

    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert token_file.load(path) == SavedLogin(ADDRESS, pair())


def test_saving_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("old")
    path.chmod(0o644)

    token_file.save(path, SavedLogin(ADDRESS, pair("refresh-2")))

    assert mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]
    saved = token_file.load(path)
    assert saved is not None
    assert saved.tokens.refresh_token == "refresh-2"


def test_the_file_names_the_address_and_the_token_pair_fields() -> None:
    text = token_file.encode(SavedLogin(ADDRESS, pair()))

    assert '"address": "127.0.0.1:50051"' in text
    assert '"refresh_token": "refresh-1"' in text
    assert '"access_token_expire_time": "2033-05-18T03:33:20Z"' in text
    assert token_file.decode(text) == SavedLogin(ADDRESS, pair())


def test_no_file_means_no_login(tmp_path: Path) -> None:
    assert token_file.load(tmp_path / "missing.json") is None


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"access_token": "a"}', '{"address": "x", "access_token": "a"}'],
)
def test_a_file_that_is_not_a_login_asks_for_a_new_login(tmp_path: Path, text: str) -> None:
    path = tmp_path / "token.json"
    path.write_text(text)

    with pytest.raises(CliError) as refused:
        token_file.load(path)

    assert refused.value.exit_code is ExitCode.NOT_LOGGED_IN
    assert refused.value.reason == "TOKEN_FILE_INVALID"
    assert "login" in refused.value.message


def test_the_default_file_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERSERVICE_TOKEN_FILE", str(tmp_path / "t.json"))
    assert token_file.default_token_file() == tmp_path / "t.json"

    monkeypatch.delenv("USERSERVICE_TOKEN_FILE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert token_file.default_token_file() == tmp_path / ".config/userservice/token.json"


def test_a_command_that_needs_a_login_stops_without_one(tmp_path: Path) -> None:
    with (
        pytest.raises(CliError) as refused,
        open_login_state(options(tmp_path / "token.json"), Access.REQUIRED),
    ):
        pass

    assert refused.value.exit_code is ExitCode.NOT_LOGGED_IN
    assert "userservice-client login" in refused.value.message


def test_the_tokens_are_not_sent_to_another_address(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    token_file.save(path, SavedLogin(ADDRESS, pair()))

    with (
        pytest.raises(CliError) as refused,
        open_login_state(options(path, "evil.example:50051"), Access.REQUIRED),
    ):
        pass
    with open_login_state(options(path, "evil.example:50051"), Access.OPTIONAL) as optional:
        assert optional.session is None

    assert refused.value.reason == "OTHER_ADDRESS"
    assert ADDRESS in refused.value.message


def test_without_an_address_the_saved_one_is_used(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    token_file.save(path, SavedLogin("elsewhere:50051", pair()))

    with open_login_state(options(path), Access.REQUIRED) as state:
        assert state.address == "elsewhere:50051"
        assert state.session is not None
        assert state.session.refresh_token == "refresh-1"


def test_a_refreshed_pair_is_written_back_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    token_file.save(path, SavedLogin(ADDRESS, pair()))
    before = path.stat().st_mtime_ns, path.stat().st_ino

    with open_login_state(options(path), Access.REQUIRED):
        pass
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before

    with open_login_state(options(path), Access.REQUIRED) as state:
        assert state.session is not None
        state.session.adopt(pair("refresh-2"))  # what a refresh does
    saved = token_file.load(path)
    assert saved is not None
    assert saved.tokens.refresh_token == "refresh-2"


def test_a_forgotten_login_is_deleted_and_not_written_back(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    token_file.save(path, SavedLogin(ADDRESS, pair()))

    with open_login_state(options(path), Access.REQUIRED) as state:
        state.forget()

    assert not path.exists()


def test_a_public_command_ignores_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("garbage")

    with open_login_state(options(path), Access.PUBLIC) as state:
        assert state.session is None
        assert state.address == ADDRESS

    assert path.read_text() == "garbage"


def test_options_read_the_address_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USERSERVICE_ADDRESS", "from-env:1")
    args = argparse.Namespace(
        address=None,
        tls=False,
        ca_file=None,
        cert_file=None,
        key_file=None,
        server_name=None,
        timeout=3.0,
        json=True,
        token_file=tmp_path / "t.json",
    )

    assert Options.from_args(args).address == "from-env:1"
    assert Options.from_args(argparse.Namespace(**{**vars(args), "address": "flag:2"})).address == (
        "flag:2"
    )
