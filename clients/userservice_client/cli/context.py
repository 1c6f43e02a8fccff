"""What every command gets (`Context`) and declares (`Command`), and how it prints.

Commands print their result once, through `Output.show`: a table or a line for people, or, with
`--json`, a JSON document on stdout (protobuf messages as `MessageToDict` with the proto field
names, every field present so that scripts can rely on the keys).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from userservice_client.cli.login_state import Access, LoginState
from userservice_client.sync import UserServiceClient


def as_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as JSON-ready data, under its proto field names."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


@dataclass(frozen=True, slots=True)
class Output:
    """Where results go: stdout, as text or (with `--json`) as JSON."""

    json: bool

    def show(self, document: object, text: str) -> None:
        """Prints the result: `document` as JSON with --json, else `text`."""
        print(json.dumps(document, indent=2) if self.json else text)

    def note(self, text: str) -> None:
        """A remark for people, on stderr (never with --json, so scripts see only JSON)."""
        if not self.json:
            print(text, file=sys.stderr)


@dataclass(frozen=True, slots=True)
class Context:
    """One command's run: its arguments, a connected client, the output, the saved login."""

    args: argparse.Namespace
    client: UserServiceClient
    out: Output
    login: LoginState


Run = Callable[[Context], int]


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: what it runs, and how it uses the saved login."""

    run: Run
    access: Access


__all__ = ["Command", "Context", "Output", "Run", "as_dict"]
