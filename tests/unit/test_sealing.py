"""The secret part of an event is sealed at rest and opens only under the same server secret."""

from __future__ import annotations

from server.security.sealing import SecretBox, event_secret_key


def test_a_sealed_secret_opens_under_its_key_only() -> None:
    box = SecretBox(event_secret_key(b"server secret"))
    sealed = box.seal({"code": "493817"})
    assert b"493817" not in sealed
    assert box.open(sealed) == {"code": "493817"}
    assert SecretBox(event_secret_key(b"another secret")).open(sealed) == {}
    assert box.open(b"short") == {}
