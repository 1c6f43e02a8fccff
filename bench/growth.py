"""`python -m bench.growth`: does a ListUsers page or a GetUser cache miss slow down as users grow?

The target: each should take at most 1.2 times as long at 1M users as at 10k.
Needs PostgreSQL and Redis. Rows are inserted in bulk (COPY, time-ordered ids as the service mints
them, then VACUUM ANALYZE); the server (production mode, its own process caches off so every
GetUser of a new id misses) is measured with sequential calls from one client, reporting median
latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

import argon2
import asyncpg
import grpc

from bench.environment import POSTGRES_DSN, backends, free_port, scratch, userservice
from server.repositories.ids import new_id
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

ADMIN, PASSWORD = "growth-admin@example.com", "growth admin passphrase"
COLUMNS = (
    "id",
    "email",
    "password_hash",
    "display_name",
    "role",
    "state",
    "email_verified",
    "version",
    "created_at",
    "updated_at",
    "email_key",
)
FIXED = ("user", "active", False, 1)  # role, state, email_verified, version


def database_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def grow(dsn: str, start: int, stop: int, password_hash: str) -> None:
    """Users start..stop-1, with time-ordered ids as the service mints them, then VACUUM ANALYZE:
    the state autovacuum reaches soon after a load, so the measurement does not race it."""
    connection = await asyncpg.connect(dsn)
    try:
        for first in range(start, stop, 100_000):
            now = dt.datetime.now(dt.UTC)
            await connection.copy_records_to_table(
                "users",
                columns=COLUMNS,
                records=[
                    (
                        new_id(),
                        f"g{i}@growth.test",
                        password_hash,
                        f"G{i}",
                        *FIXED,
                        now,
                        now,
                        f"g{i}@growth.test",
                    )
                    for i in range(first, min(stop, first + 100_000))
                ],
            )
        await connection.execute("VACUUM ANALYZE users")
    finally:
        await connection.close()


async def sample_ids(dsn: str, count: int) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id FROM users TABLESAMPLE SYSTEM (1) LIMIT $1", count
        ) or await connection.fetch("SELECT id FROM users ORDER BY random() LIMIT $1", count)
        if len(rows) < count:
            rows = await connection.fetch("SELECT id FROM users ORDER BY random() LIMIT $1", count)
    finally:
        await connection.close()
    return [str(r["id"]) for r in rows]


def median_ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def measure(port: int, token: str, ids: list[str], pages: int) -> dict[str, float]:
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        users = user_pb2_grpc.UserServiceStub(channel)
        users.ListUsers(user_pb2.ListUsersRequest(page_size=50), metadata=metadata)  # warm-up
        first, deep, prefix, misses = [], [], [], []
        for _ in range(pages):
            started = time.perf_counter()
            page = users.ListUsers(user_pb2.ListUsersRequest(page_size=50), metadata=metadata)
            first.append(time.perf_counter() - started)
        token_ = page.next_page_token
        for _ in range(pages):  # keyset: walking deeper costs the same as the first page
            started = time.perf_counter()
            page = users.ListUsers(
                user_pb2.ListUsersRequest(page_size=50, page_token=token_), metadata=metadata
            )
            deep.append(time.perf_counter() - started)
            token_ = page.next_page_token
        for i in range(pages):
            started = time.perf_counter()
            users.ListUsers(
                user_pb2.ListUsersRequest(page_size=50, filter=f'email = "g{i + 1}*"'),
                metadata=metadata,
            )
            prefix.append(time.perf_counter() - started)
        for user_id in ids:
            started = time.perf_counter()
            users.GetUser(user_pb2.GetUserRequest(id=user_id), metadata=metadata)
            misses.append(time.perf_counter() - started)
    return {
        "ListUsers first page": median_ms(first),
        "ListUsers deeper pages": median_ms(deep),
        "ListUsers email prefix": median_ms(prefix),
        "GetUser cache miss": median_ms(misses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    password_hash = argon2.PasswordHasher().hash("not used to log in")
    with scratch() as tmp, backends(Path(tmp), embedded=False) as chosen:
        if "production" not in chosen.description:
            print("growth needs PostgreSQL and Redis; they are unreachable", file=sys.stderr)
            return 2
        env = {**chosen.env, "USERSERVICE_USER_CACHE_SIZE": "0"}
        dsn = database_dsn(env["USERSERVICE_DATABASE_URL"])
        results: dict[int, dict[str, float]] = {}
        with userservice(Path(tmp), env, metrics_port=free_port()) as server:
            full = {
                **os.environ,
                **env,
                "USERSERVICE_KEYS_DIR": str(Path(tmp) / "keys"),
                "USERSERVICE_ADMIN_PASSWORD": PASSWORD,
            }
            import subprocess

            subprocess.run(
                [
                    str(Path(sys.executable).parent / "userservice"),
                    "create-admin",
                    "--email",
                    ADMIN,
                ],
                env=full,
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                token = (
                    auth_pb2_grpc.AuthServiceStub(channel)
                    .Login(auth_pb2.LoginRequest(email=ADMIN, password=PASSWORD))
                    .access_token
                )
            have = 1
            for size in (args.small, args.large):
                started = time.perf_counter()
                asyncio.run(grow(dsn, have, size, password_hash))
                have = size
                print(f"{size:,} users ({time.perf_counter() - started:.0f} s to insert)")
                ids = asyncio.run(sample_ids(dsn, args.samples))
                results[size] = measure(server.port, token, ids, args.samples // 3)
    print(f"\n{'median latency, ms':<26} {args.small:>10,} {args.large:>10,}  ratio (target ≤ 1.2)")
    for name in results[args.small]:
        small, large = results[args.small][name], results[args.large][name]
        print(f"{name:<26} {small:>10.2f} {large:>10.2f}  {large / small:.2f}")
    print(f"(PostgreSQL at {POSTGRES_DSN.rsplit('@', 1)[-1]}; sequential calls, one client)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
