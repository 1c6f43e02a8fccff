"""`userservice-client` as an administrator: users and the event log, and who is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli_client import Service, admin, logged_in

pytestmark = pytest.mark.e2e


def test_listing_users_needs_an_administrator(service: Service, tmp_path: Path) -> None:
    erin = logged_in(service, tmp_path, "erin")

    listing = erin.run("users", "list")

    assert listing.returncode == 4
    assert "permission denied" in listing.stderr
    assert "administrator" in listing.stderr


def test_an_administrator_lists_users_and_disables_one_whose_session_then_ends(
    service: Service, tmp_path: Path
) -> None:
    frank = logged_in(service, tmp_path, "frank")
    root = admin(service, tmp_path)

    users = root.json("users", "list", "--all")["users"]
    [frank_id] = [user["id"] for user in users if user["email"] == frank.email]
    disabled = root.run("users", "update", frank_id, "--state", "disabled")
    refused = frank.run("whoami")

    assert disabled.returncode == 0, disabled.stderr
    assert "disabled" in disabled.stdout
    assert refused.returncode == 3
    assert "your session has ended" in refused.stderr
    assert "userservice-client login" in refused.stderr


def test_an_admin_lists_and_watches_the_event_log(service: Service, tmp_path: Path) -> None:
    root = admin(service, tmp_path)
    erin = logged_in(service, tmp_path, "erin")
    listed = root.json("events", "list", "--filter", 'type = "user.created"', "--all")
    created = [e for e in listed["events"] if e["target"]["id"] == erin.json("whoami")["id"]]
    assert [e["type"] for e in created] == ["user.created"]
    cursor = created[0]["cursor"]

    watched = root.run("events", "watch", "--after", cursor, "--count", "1", "--json")
    assert watched.returncode == 0, watched.stderr
    [line] = watched.stdout.splitlines()
    first = json.loads(line)
    assert first["type"] == "session.created"  # erin's login came next
    assert int(first["cursor"]) > int(cursor)

    table = root.run("events", "list", "--filter", f'target = "{first["target"]["id"]}"')
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "CURSOR",
        "TIME",
        "TYPE",
        "ACTOR",
        "TARGET",
        "DATA",
    ]
    refused = erin.run("events", "list")
    assert refused.returncode == 4, refused.stderr
