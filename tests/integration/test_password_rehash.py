"""A password hashed with older argon2 parameters is rehashed, transparently, at the next login."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from server.app import Application
from tests.support.backends import Backend
from tests.support.flows import create_user, login
from tests.support.servers import serving, settings_for_test

EMAIL = "rehash@example.com"


def argon2_parameters(encoded: str) -> dict[str, int]:
    """`$argon2id$v=19$m=19456,t=2,p=1$salt$hash` → {"m": 19456, "t": 2, "p": 1}."""
    _, variant, _, params, _, _ = encoded.split("$")
    assert variant == "argon2id"
    return {name: int(value) for name, value in (p.split("=") for p in params.split(","))}


async def stored_hash(app: Application) -> str:
    async with app.engine.connect() as connection:
        result = await connection.execute(
            text("SELECT password_hash FROM users WHERE email = :email"), {"email": EMAIL}
        )
        value: str = result.scalar_one()
        return value


async def test_login_rehashes_a_password_made_with_a_smaller_time_cost(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(settings_for_test(backend, tmp_path, argon2_time_cost=2)) as (app, channel):
        await create_user(channel, email=EMAIL, display_name="Rehash")
        original = await stored_hash(app)
    assert argon2_parameters(original) == {"m": 19456, "t": 2, "p": 1}

    # The operator raises the cost; the same database (and Redis) is served again.
    async with serving(settings_for_test(backend, tmp_path, argon2_time_cost=3)) as (app, channel):
        assert await stored_hash(app) == original  # starting does not touch passwords

        first = await login(channel, EMAIL)

        rehashed = await stored_hash(app)
        assert first.access_token
        assert rehashed != original
        assert argon2_parameters(rehashed) == {"m": 19456, "t": 3, "p": 1}

        second = await login(channel, EMAIL)

        assert second.access_token
        assert second.session_id != first.session_id
        assert await stored_hash(app) == rehashed  # current parameters: nothing more to do
