"""`userservice-client`'s tables for people: aligned columns, safe cells, records in plain words."""

from __future__ import annotations

import datetime as dt

import pytest

from userservice.v1 import auth_pb2, user_pb2
from userservice_client.cli.tables import (
    USER_HEADERS,
    key_row,
    render_fields,
    render_table,
    session_row,
    user_fields,
    user_row,
)

# Tables


def test_a_table_aligns_every_column_to_its_widest_cell() -> None:
    table = render_table(("ID", "EMAIL"), [("1", "ada@example.com"), ("12345", "b@x.io")])

    assert table.splitlines() == [
        "ID     EMAIL",
        "1      ada@example.com",
        "12345  b@x.io",
    ]


def test_a_table_has_no_trailing_spaces_and_shows_its_header_when_empty() -> None:
    assert render_table(("ID", "NAME"), [("1", "")]) == "ID  NAME\n1"
    assert render_table(USER_HEADERS, []) == "  ".join(USER_HEADERS)


def test_a_cell_cannot_break_the_table_or_drive_the_terminal() -> None:
    table = render_table(("NAME",), [("Ada\n\x1b[31mred",)])

    assert table.splitlines() == ["NAME", "Ada??[31mred"]


def test_a_row_with_the_wrong_number_of_cells_is_a_bug() -> None:
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        render_table(("ID",), [("1", "extra")])


def test_a_record_aligns_its_values() -> None:
    assert render_fields([("id", "7"), ("display name", "Ada")]) == (
        "id            7\ndisplay name  Ada"
    )


def test_a_user_is_shown_in_plain_words() -> None:
    user = user_pb2.User(
        id="u1",
        email="ada@example.com",
        role=user_pb2.User.ROLE_ADMIN,
        state=user_pb2.User.STATE_DISABLED,
        etag='W/"3"',
    )
    user.create_time.FromDatetime(dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC))

    assert user_row(user) == (
        "u1",
        "ada@example.com",
        "-",
        "admin",
        "disabled",
        "2025-03-04 05:06:07Z",
    )
    fields = dict(user_fields(user))
    assert fields["updated"] == "-"  # unset timestamps are not the epoch
    assert fields["etag"] == 'W/"3"'
    assert fields["email verified"] == "no"


def test_a_role_this_client_does_not_know_is_shown_as_its_number() -> None:
    assert user_row(user_pb2.User(role=7, state=9))[3:5] == ("7", "9")  # type: ignore[arg-type]


def test_the_session_making_the_call_is_marked() -> None:
    current = auth_pb2.Session(id="s1", client_ip="10.0.0.1", current=True)
    other = auth_pb2.Session(id="s2")

    assert session_row(current)[-2:] == ("10.0.0.1", "*")
    assert session_row(other)[-2:] == ("-", "")


def test_a_key_shows_kid_kty_alg_and_crv() -> None:
    key = auth_pb2.Jwk(kid="k1", kty="OKP", alg="EdDSA", crv="Ed25519", x="abc")
    rsa = auth_pb2.Jwk(kid="k2", kty="RSA", alg="RS256", n="n", e="AQAB")

    assert key_row(key) == ("k1", "OKP", "EdDSA", "Ed25519")
    assert key_row(rsa) == ("k2", "RSA", "RS256", "-")
