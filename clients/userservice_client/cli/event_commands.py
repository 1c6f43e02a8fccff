"""The `events` commands: follow the event log (`watch`) and query it (`list`)."""

from __future__ import annotations

import json
from typing import Final

from userservice.v1 import events_pb2
from userservice_client.cli.context import Context, as_dict
from userservice_client.cli.tables import NONE, printable, render_table, timestamp

EVENT_HEADERS: Final = ("CURSOR", "TIME", "TYPE", "ACTOR", "TARGET", "DATA")
LIST_ALL_PAGE_SIZE: Final = 500


def _party(party: events_pb2.Event.Party, present: bool) -> str:
    if not present:
        return NONE
    kind = events_pb2.Event.Party.Kind.Name(party.kind).removeprefix("KIND_").lower()
    return f"{kind}:{party.id}" if party.id else kind


def event_row(event: events_pb2.Event) -> tuple[str, ...]:
    """An event under EVENT_HEADERS; its data as compact JSON, its secret part never shown."""
    data = as_dict(event).get("data") or {}
    return (
        event.cursor,
        timestamp(event.create_time, event.HasField("create_time")),
        event.type,
        _party(event.actor, event.HasField("actor")),
        _party(event.target, event.HasField("target")),
        json.dumps(data, separators=(",", ":"), sort_keys=True) if data else NONE,
    )


def watch(ctx: Context) -> int:
    """Prints every event after --after, then each new one as it happens (Ctrl-C to stop):
    one line each, or one JSON object a line with --json. Resumes by itself after a
    disconnect; stops after --count events when given."""
    count: int = ctx.args.count or 0
    events = ctx.client.watch_events(ctx.args.after or "", ctx.args.type or ())
    for seen, event in enumerate(events, start=1):
        if ctx.out.json:
            line = json.dumps(as_dict(event), separators=(",", ":"))
        else:
            line = "  ".join(printable(cell) for cell in event_row(event))
        print(line, flush=True)
        if seen == count:
            break
    return 0


def list_events(ctx: Context) -> int:
    """One page of the audit log (oldest first), or every page with --all."""
    filter_: str = ctx.args.filter or ""
    page_size: int = ctx.args.page_size or 0
    if ctx.args.all:
        found = list(ctx.client.iter_events(filter_, page_size or LIST_ALL_PAGE_SIZE))
        next_page_token = ""
    else:
        page = ctx.client.list_events(filter_, page_size, ctx.args.page_token or "")
        found, next_page_token = list(page.events), page.next_page_token
    response = events_pb2.ListEventsResponse(events=found, next_page_token=next_page_token)
    ctx.out.show(as_dict(response), render_table(EVENT_HEADERS, [event_row(e) for e in found]))
    if next_page_token:
        ctx.out.note(f"more events: add --page-token {next_page_token}, or use --all")
    return 0


__all__ = ["EVENT_HEADERS", "event_row", "list_events", "watch"]
