"""argon2id password hashing off the event loop: parameters, verification, rehash detection."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from server.security.passwords import PasswordHasher

PASSWORD = "correct horse battery staple"
MEMORY_KIB = 19456


@dataclass(frozen=True)
class EncodedHash:
    """`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, taken apart."""

    variant: str
    version: int
    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def parse(cls, encoded: str) -> EncodedHash:
        empty, variant, version, params, salt, digest = encoded.split("$")
        assert empty == ""
        assert salt
        assert digest
        values = dict(pair.split("=") for pair in params.split(","))
        assert set(values) == {"m", "t", "p"}
        return cls(
            variant,
            int(version.removeprefix("v=")),
            int(values["m"]),
            int(values["t"]),
            int(values["p"]),
        )


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def hasher_with(pool: ThreadPoolExecutor, *, time_cost: int = 2) -> PasswordHasher:
    return PasswordHasher(memory_kib=MEMORY_KIB, time_cost=time_cost, parallelism=1, executor=pool)


async def test_the_hash_is_argon2id_with_the_configured_parameters(
    pool: ThreadPoolExecutor,
) -> None:
    encoded = await hasher_with(pool, time_cost=3).hash(PASSWORD)

    assert EncodedHash.parse(encoded) == EncodedHash(
        variant="argon2id", version=19, memory_kib=MEMORY_KIB, time_cost=3, parallelism=1
    )


async def test_each_hash_has_its_own_salt(pool: ThreadPoolExecutor) -> None:
    hasher = hasher_with(pool)

    assert await hasher.hash(PASSWORD) != await hasher.hash(PASSWORD)


async def test_the_right_password_verifies(pool: ThreadPoolExecutor) -> None:
    hasher = hasher_with(pool)

    assert await hasher.verify(await hasher.hash(PASSWORD), PASSWORD) is True


async def test_a_wrong_password_does_not_verify(pool: ThreadPoolExecutor) -> None:
    hasher = hasher_with(pool)

    assert await hasher.verify(await hasher.hash(PASSWORD), PASSWORD + "!") is False


@pytest.mark.parametrize(
    "garbage",
    ["", "not a hash", "$argon2id$v=19$m=19456,t=2,p=1$", "$2b$12$" + "a" * 53],
)
async def test_a_garbage_hash_does_not_verify(pool: ThreadPoolExecutor, garbage: str) -> None:
    assert await hasher_with(pool).verify(garbage, PASSWORD) is False


@pytest.mark.parametrize("variant", [" " + PASSWORD, PASSWORD + " ", f" {PASSWORD} "])
async def test_leading_and_trailing_spaces_are_part_of_the_password(
    pool: ThreadPoolExecutor, variant: str
) -> None:
    hasher = hasher_with(pool)
    encoded = await hasher.hash(PASSWORD)

    assert await hasher.verify(encoded, variant) is False
    assert await hasher.verify(await hasher.hash(variant), variant) is True


async def test_a_hash_made_with_a_smaller_time_cost_needs_rehashing(
    pool: ThreadPoolExecutor,
) -> None:
    old = await hasher_with(pool, time_cost=2).hash(PASSWORD)

    assert hasher_with(pool, time_cost=3).needs_rehash(old) is True


async def test_a_hash_made_with_the_current_parameters_needs_no_rehashing(
    pool: ThreadPoolExecutor,
) -> None:
    hasher = hasher_with(pool, time_cost=3)

    assert hasher.needs_rehash(await hasher.hash(PASSWORD)) is False


async def test_the_dummy_verification_for_unknown_accounts_completes(
    pool: ThreadPoolExecutor,
) -> None:
    await hasher_with(pool).verify_dummy(PASSWORD)
