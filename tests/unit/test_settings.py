"""Settings: embedded defaults for development; production refuses them and names the setting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from server.cli import load_settings
from server.config import DEFAULT_DATABASE_URL, MEMORY_REDIS_URL, Environment, Settings

GOOD_SECRET = "s" * 40
POSTGRES_URL = "postgresql+asyncpg://userservice@db.internal:5432/userservice"
REDIS_URL = "redis://cache.internal:6379/0"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No USERSERVICE_* variable or .env file of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("USERSERVICE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / "x.pem").write_text("not parsed by Settings\n")
    return directory


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def production(keys_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": POSTGRES_URL,
        "redis_url": REDIS_URL,
        "page_token_secret": GOOD_SECRET,
        "keys_dir": keys_dir,
    }
    values.update(overrides)
    return settings(**values)


def test_defaults_are_the_embedded_development_ones() -> None:
    defaults = settings()

    assert defaults.environment is Environment.DEVELOPMENT
    assert not defaults.is_production
    assert defaults.database_url == DEFAULT_DATABASE_URL
    assert defaults.uses_sqlite
    assert defaults.redis_url == MEMORY_REDIS_URL
    assert defaults.uses_memory_redis
    assert defaults.page_token_secret is None
    assert defaults.keys_dir == Path("var/keys")
    assert defaults.should_migrate_on_start
    assert not defaults.json_logs
    assert defaults.signup_enabled
    assert defaults.metrics_port == 9464


def test_a_complete_production_configuration_is_accepted(keys_dir: Path) -> None:
    accepted = production(keys_dir)

    assert accepted.is_production
    assert not accepted.uses_sqlite
    assert not accepted.uses_memory_redis
    assert not accepted.should_migrate_on_start
    assert accepted.json_logs


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        pytest.param(
            {"database_url": "sqlite+aiosqlite:///var/userservice.db"},
            "USERSERVICE_DATABASE_URL",
            id="sqlite",
        ),
        pytest.param({"redis_url": "memory://"}, "USERSERVICE_REDIS_URL", id="memory-redis"),
        pytest.param(
            {"page_token_secret": None}, "USERSERVICE_PAGE_TOKEN_SECRET", id="missing-secret"
        ),
        pytest.param(
            {"page_token_secret": "changeme"},
            "USERSERVICE_PAGE_TOKEN_SECRET",
            id="placeholder-secret",
        ),
        pytest.param(
            {"page_token_secret": "x" * 31},
            "USERSERVICE_PAGE_TOKEN_SECRET",
            id="short-secret",
        ),
    ],
)
def test_production_refuses_an_embedded_default_and_names_the_setting(
    keys_dir: Path, overrides: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ValidationError, match=setting):
        production(keys_dir, **overrides)


def test_production_refuses_a_keys_dir_without_a_pem_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty-keys"
    empty.mkdir()
    (empty / "readme.txt").write_text("no keys here\n")

    with pytest.raises(ValidationError, match="USERSERVICE_KEYS_DIR"):
        production(empty)


def test_development_accepts_the_values_production_refuses(tmp_path: Path) -> None:
    relaxed = settings(
        database_url="sqlite+aiosqlite:///var/userservice.db",
        redis_url="memory://",
        page_token_secret="changeme",
        keys_dir=tmp_path / "missing",
    )

    assert relaxed.uses_sqlite
    assert relaxed.uses_memory_redis


def test_a_tls_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="USERSERVICE_TLS_KEY_FILE"):
        settings(tls_cert_file=tmp_path / "server.crt")


@pytest.mark.parametrize(
    "url",
    ["postgresql://db.internal/userservice", "postgresql+psycopg2://db/u", "sqlite:///u.db"],
)
def test_a_database_url_with_a_synchronous_driver_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        settings(database_url=url)


def test_the_page_token_secret_never_prints(keys_dir: Path) -> None:
    configured = production(keys_dir)

    assert isinstance(configured.page_token_secret, SecretStr)
    assert configured.page_token_secret.get_secret_value() == GOOD_SECRET
    assert GOOD_SECRET not in repr(configured)
    assert GOOD_SECRET not in str(configured)


def test_load_settings_exits_2_naming_the_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USERSERVICE_PORT", "x")

    with pytest.raises(SystemExit) as exited:
        load_settings()

    assert exited.value.code == 2
    assert "USERSERVICE_PORT" in capsys.readouterr().err


def test_load_settings_reports_a_production_refusal_by_its_setting_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USERSERVICE_ENVIRONMENT", "production")

    with pytest.raises(SystemExit) as exited:
        load_settings()

    assert exited.value.code == 2
    assert "USERSERVICE_DATABASE_URL" in capsys.readouterr().err


def test_production_reports_every_refusal_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("USERSERVICE_ENVIRONMENT", "production")
    monkeypatch.setenv("USERSERVICE_KEYS_DIR", str(tmp_path / "no-keys"))
    monkeypatch.setenv("USERSERVICE_PORT", "not-a-port")

    with pytest.raises(SystemExit) as exited:
        load_settings()

    assert exited.value.code == 2
    err = capsys.readouterr().err
    for setting in (
        "USERSERVICE_PORT",
        "USERSERVICE_DATABASE_URL",
        "USERSERVICE_REDIS_URL",
        "USERSERVICE_PAGE_TOKEN_SECRET",
        "USERSERVICE_KEYS_DIR",
    ):
        assert err.count(setting) == 1, err
