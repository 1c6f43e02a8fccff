"""`userservice-client password reset-request|reset` and `email request|verify` (issue 16,
item 6) as a person runs them, against a real server process; the codes are read as the
deployment's notification service reads them (events:read + notifications:read)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.support.cli_client import ADMIN_PASSWORD, PASSWORD, Service, admin, logged_in, start
from userservice.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    service_account_pb2,
    service_account_pb2_grpc,
)
from userservice_client import UserServiceClient

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "copper-meadow-violin-58"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from start(tmp_path_factory)


def last_code(service: Service, admin_email: str, kind: str, target: str) -> str:
    """The code of the newest `kind` event for `target`, read with notifications:read."""
    with UserServiceClient(service.address) as root:
        token = root.login(admin_email, ADMIN_PASSWORD).access_token
    with grpc.insecure_channel(service.address) as channel:
        made = service_account_pb2_grpc.ServiceAccountServiceStub(channel).CreateServiceAccount(
            service_account_pb2.CreateServiceAccountRequest(
                display_name="Notifier", scopes=["events:read", "notifications:read"]
            ),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        pair = auth_pb2_grpc.AuthServiceStub(channel).IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(
                client_id=made.service_account.client_id, client_secret=made.client_secret
            )
        )
        listed = events_pb2_grpc.EventServiceStub(channel).ListEvents(
            events_pb2.ListEventsRequest(
                page_size=1000, filter=f'type = "{kind}" AND target = "{target}"'
            ),
            metadata=(("authorization", f"Bearer {pair.access_token}"),),
        )
    return listed.events[-1].secret["code"]


def test_a_person_resets_a_forgotten_password_with_the_cli(
    service: Service, tmp_path: Path
) -> None:
    ada, root = logged_in(service, tmp_path, "ada"), admin(service, tmp_path)
    ada_id = ada.json("users", "get", "me")["id"]

    asked = ada.run("password", "reset-request", "--email", ada.email)
    nobody = ada.run("password", "reset-request", "--email", "nobody@example.com")
    assert (asked.returncode, asked.stdout) == (nobody.returncode, nobody.stdout)
    assert asked.returncode == 0, asked.stderr
    code = last_code(service, root.email, "password.reset_requested", ada_id)
    reset = ada.run("password", "reset", code, stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    again = ada.run("password", "reset", code, stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert reset.returncode == 0, reset.stderr
    assert again.returncode != 0
    assert "not valid" in again.stderr
    assert ada.login(PASSWORD).returncode != 0
    assert ada.login(NEW_PASSWORD).returncode == 0


def test_a_person_verifies_their_email_with_the_cli(service: Service, tmp_path: Path) -> None:
    ada, root = logged_in(service, tmp_path, "ada"), admin(service, tmp_path)
    ada_id = ada.json("users", "get", "me")["id"]

    requested = ada.run("email", "request")
    assert requested.returncode == 0, requested.stderr
    code = last_code(service, root.email, "email.verification_requested", ada_id)
    verified = ada.run("email", "verify", code)

    assert verified.returncode == 0, verified.stderr
    assert ada.json("users", "get", "me")["email_verified"] is True
