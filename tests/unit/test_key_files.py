"""Signing keys on disk: the files, the signer, retirement, publication before signing, and the
files and directories that are refused."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from server.config import SigningAlgorithm
from server.security.keys import (
    CLOCK_LEEWAY,
    KeyError_,
    KeySet,
    generate_key,
    load_key_set,
)

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
ACCESS_TTL = dt.timedelta(minutes=15)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(directory: Path, algorithm: SigningAlgorithm, now: dt.datetime) -> KeySet:
    return load_key_set(directory, algorithm, access_token_ttl=ACCESS_TTL, now=now)


# -- files -------------------------------------------------------------------------------------


def test_a_generated_key_is_a_private_file_named_by_its_kid(tmp_path: Path) -> None:
    directory = tmp_path / "keys"

    path = generate_key(directory, SigningAlgorithm.EDDSA, now=T0)

    assert path.parent == directory
    assert path.suffix == ".pem"
    assert path.name.startswith("20300101T120000Z-")
    assert mode_of(path) == 0o600
    assert mode_of(directory) == 0o700
    assert load(directory, SigningAlgorithm.EDDSA, T0).signer_at(T0).kid == path.stem


def test_two_keys_generated_in_the_same_second_have_different_kids(tmp_path: Path) -> None:
    first = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    second = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)

    assert first != second
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == sorted([first.name, second.name])


# -- the signer and retirement -----------------------------------------------------------------


def test_the_newest_key_signs(tmp_path: Path) -> None:
    older = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    newer = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0 + dt.timedelta(days=1))

    keys = load(tmp_path, SigningAlgorithm.EDDSA, T0 + dt.timedelta(days=1))

    assert keys.signer_at(T0 + dt.timedelta(days=1)).kid == newer.stem
    assert older.stem in keys.published


def test_a_key_without_a_time_in_its_name_is_dated_by_its_modification_time(
    tmp_path: Path,
) -> None:
    dated = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    undated = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0).rename(
        tmp_path / "handmade.pem"
    )
    # Older than `dated` by its mtime, although "handmade" sorts after "2030…" by name.
    old = (T0 - dt.timedelta(days=30)).timestamp()
    os.utime(undated, (old, old))

    keys = load(tmp_path, SigningAlgorithm.EDDSA, T0)

    assert keys.signer_at(T0).kid == dated.stem


def test_a_retired_key_stays_published_until_its_successors_tokens_could_all_have_expired(
    tmp_path: Path,
) -> None:
    retired = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    successor_created = T0 + dt.timedelta(days=1)
    successor = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=successor_created)
    last_moment = successor_created + ACCESS_TTL + CLOCK_LEEWAY - dt.timedelta(seconds=1)

    keys = load(tmp_path, SigningAlgorithm.EDDSA, last_moment)

    assert keys.signer_at(last_moment).kid == successor.stem
    assert set(keys.published) == {retired.stem, successor.stem}
    assert keys.verification_key(retired.stem) is not None
    assert {jwk["kid"] for jwk in keys.jwks()} == {retired.stem, successor.stem}


def test_a_retired_key_is_dropped_once_every_token_it_signed_has_expired(
    tmp_path: Path,
) -> None:
    retired = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    successor_created = T0 + dt.timedelta(days=1)
    successor = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=successor_created)

    keys = load(tmp_path, SigningAlgorithm.EDDSA, successor_created + ACCESS_TTL + CLOCK_LEEWAY)

    assert set(keys.published) == {successor.stem}
    assert keys.verification_key(retired.stem) is None
    assert [jwk["kid"] for jwk in keys.jwks()] == [successor.stem]
    assert retired.exists()  # dropped from the set, not deleted from disk


# -- publication before signing ----------------------------------------------------------------
ACTIVATION = dt.timedelta(minutes=10)


def load_delayed(directory: Path, now: dt.datetime) -> KeySet:
    return load_key_set(
        directory,
        SigningAlgorithm.EDDSA,
        access_token_ttl=ACCESS_TTL,
        now=now,
        activation=ACTIVATION,
    )


def test_a_new_key_is_published_at_once_and_signs_after_the_activation_delay(
    tmp_path: Path,
) -> None:
    current = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    added = T0 + dt.timedelta(days=1)
    new = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=added)

    keys = load_delayed(tmp_path, added)  # a process started just after the key was written

    assert {jwk["kid"] for jwk in keys.jwks()} == {current.stem, new.stem}
    assert keys.verification_key(new.stem) is not None
    assert keys.signer_at(added + ACTIVATION - dt.timedelta(seconds=1)).kid == current.stem
    # The same process switches by itself, as every replica does at the same moment.
    assert keys.signer_at(added + ACTIVATION).kid == new.stem


def test_the_retired_key_stays_published_until_tokens_signed_before_the_switch_expire(
    tmp_path: Path,
) -> None:
    retired = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)
    added = T0 + dt.timedelta(days=1)
    generate_key(tmp_path, SigningAlgorithm.EDDSA, now=added)
    switch = added + ACTIVATION

    kept = load_delayed(tmp_path, switch + ACCESS_TTL + CLOCK_LEEWAY - dt.timedelta(seconds=1))
    dropped = load_delayed(tmp_path, switch + ACCESS_TTL + CLOCK_LEEWAY)

    assert retired.stem in kept.published
    assert retired.stem not in dropped.published


def test_a_first_key_signs_at_once(tmp_path: Path) -> None:
    only = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)

    assert load_delayed(tmp_path, T0).signer_at(T0).kid == only.stem


def test_a_key_of_the_wrong_type_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = generate_key(tmp_path, SigningAlgorithm.EDDSA, now=T0)

    with pytest.raises(KeyError_) as refused:
        load(tmp_path, SigningAlgorithm.ES256, T0)

    assert str(path) in str(refused.value)
    assert "ES256" in str(refused.value)


def test_a_file_that_is_not_a_private_key_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")

    with pytest.raises(KeyError_) as refused:
        load(tmp_path, SigningAlgorithm.EDDSA, T0)

    assert str(path) in str(refused.value)


@pytest.mark.parametrize("present", [True, False], ids=["empty", "missing"])
def test_a_directory_without_keys_is_refused_naming_the_setting(
    tmp_path: Path, present: bool
) -> None:
    directory = tmp_path / "keys"
    if present:
        directory.mkdir()
        (directory / "README.txt").write_text("not a key")

    with pytest.raises(KeyError_) as refused:
        load(directory, SigningAlgorithm.EDDSA, T0)

    assert "USERSERVICE_KEYS_DIR" in str(refused.value)
    assert str(directory) in str(refused.value)
