"""The RSS soak block of `make bench`: does a process's memory level off at its caches' bounds?

A soak with mixed load showed RSS rising while the verified-token cache and the user cache
fill. Here the server runs with small caches (`SOAK_CACHE_SIZE` entries each) and is fed, round
after round, access tokens and users it has never seen: every round mints new access tokens
(chains of RefreshToken calls, which hash nothing) and reads new users with them (COPYed into
PostgreSQL, so no argon2 per user). Once both caches are full, each new entry evicts an old one,
so RSS must stop growing: the report compares the last rounds with the first.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import argon2
import asyncpg
import grpc

from bench.environment import free_port, userservice
from bench.growth import database_dsn, grow
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

SOAK_CACHE_SIZE = 2_000
ADMIN, PASSWORD = "soak-admin@example.com", "soak admin passphrase 42"
CHAINS = 8  # parallel refresh chains, each from its own login


def create_admin(workdir: Path, env: dict[str, str]) -> None:
    full = {
        **os.environ,
        **env,
        "USERSERVICE_KEYS_DIR": str(workdir / "keys"),
        "USERSERVICE_ADMIN_PASSWORD": PASSWORD,
    }
    command = [str(Path(sys.executable).parent / "userservice"), "create-admin", "--email", ADMIN]
    subprocess.run(command, env=full, cwd=workdir, check=True, capture_output=True)


async def user_ids(dsn: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        return [str(r["id"]) for r in await connection.fetch("SELECT id FROM users ORDER BY id")]
    finally:
        await connection.close()


async def feed(port: int, refresh_tokens: list[str], ids: list[str]) -> list[str]:
    """One round: each chain refreshes its way to len(ids) // CHAINS new access tokens, and each
    new token reads one user not read before. Returns the chains' latest refresh tokens."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        users = user_pb2_grpc.UserServiceStub(channel)

        async def chain(refresh: str, mine: list[str]) -> str:
            for user_id in mine:
                pair = await auth.RefreshToken(
                    auth_pb2.RefreshTokenRequest(refresh_token=refresh), timeout=10
                )
                refresh = pair.refresh_token
                metadata = (("authorization", f"Bearer {pair.access_token}"),)
                await users.GetUser(user_pb2.GetUserRequest(id=user_id), metadata=metadata)
            return refresh

        shares = [ids[i::CHAINS] for i in range(CHAINS)]
        return list(await asyncio.gather(*map(chain, refresh_tokens, shares)))


async def logins(port: int) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        request = auth_pb2.LoginRequest(email=ADMIN, password=PASSWORD)
        pairs = [await auth.Login(request, timeout=10) for _ in range(CHAINS)]
    return [pair.refresh_token for pair in pairs]


def measure_soak(
    workdir: Path, env: dict[str, str], notes: list[str], *, rounds: int, per_round: int
) -> None:
    if not env.get("USERSERVICE_DATABASE_URL", "").startswith("postgresql"):
        notes.append("RSS soak: skipped (needs PostgreSQL to COPY its users in)")
        return
    soak_env = {
        **env,
        "USERSERVICE_VERIFIED_TOKEN_CACHE_SIZE": str(SOAK_CACHE_SIZE),
        "USERSERVICE_USER_CACHE_SIZE": str(SOAK_CACHE_SIZE),
    }
    dsn = database_dsn(env["USERSERVICE_DATABASE_URL"])
    password_hash = argon2.PasswordHasher().hash("not used to log in")
    with userservice(workdir, soak_env, metrics_port=free_port()) as server:
        create_admin(workdir, soak_env)
        asyncio.run(grow(dsn, 1, rounds * per_round + 1, password_hash))
        ids = iter(asyncio.run(user_ids(dsn)))
        refresh_tokens = asyncio.run(logins(server.port))
        rss = [server.rss_kib()]
        for _ in range(rounds):
            batch = list(itertools.islice(ids, per_round))
            refresh_tokens = asyncio.run(feed(server.port, refresh_tokens, batch))
            rss.append(server.rss_kib())
    notes.append(soak_summary(rss, per_round, lambda kib: f"{kib / 1024:.1f}"))


def soak_summary(rss: list[int], per_round: int, mib: Callable[[int], str]) -> str:
    """The first rounds fill the caches; the last ones only replace entries."""
    filled = max(1, -(-SOAK_CACHE_SIZE // per_round))  # rounds until both caches are full
    settled = rss[filled + 1 :]
    spread = (max(settled) - min(settled)) / min(settled) if len(settled) > 1 else 0.0
    levels = ", ".join(mib(kib) for kib in rss)
    verdict = "met" if spread <= 0.02 else "MISSED"
    return (
        f"RSS soak (caches of {SOAK_CACHE_SIZE:,} tokens and users; each round {per_round:,} new "
        f"tokens × new users): MiB at start and after each round: {levels}; after round "
        f"{filled + 1} (caches full) the spread is {spread:.1%} (target ≤ 2%: {verdict})"
    )
