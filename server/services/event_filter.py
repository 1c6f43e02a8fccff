"""The ListEvents filter: the AIP-160 subset of ListUsers' filter, terms joined by AND:
`type = "user.created"`, `actor = "<id>"`, `target = "<id>"`, `create_time >= "<RFC 3339>"`,
`create_time < "<RFC 3339>"`."""

from __future__ import annotations

import datetime as dt
import re

from server.domain import EventFilter, EventType
from server.services.user_filter import MAX_FILTER_LENGTH, invalid_filter

_TERM = re.compile(
    r"\s*(?P<field>type|actor|target|create_time)\s*(?P<op>>=|<|=|:)\s*"
    r'(?:"(?P<quoted>[^"\\]*)"|(?P<bare>[^\s"]+))\s*'
)
_KNOWN_TYPES = frozenset(t.value for t in EventType)
_MAX_ID_LENGTH = 64


def parse_event_filter(text: str) -> EventFilter:
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"must be at most {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise invalid_filter("must not contain the NUL character")
    if not text.strip():
        return EventFilter()
    values: dict[str, str] = {}
    for index, term in enumerate(re.split(r"\s+AND\s+", text.strip())):
        match = _TERM.fullmatch(term)
        if match is None:
            raise invalid_filter(
                f"term {index + 1} is not `type = …`, `actor = …`, `target = …` or "
                "`create_time >= …` / `create_time < …`"
            )
        field, op = match["field"], match["op"]
        value = match["quoted"] if match["quoted"] is not None else match["bare"]
        key = f"{field}{op}" if field == "create_time" else field
        if field == "create_time" and op not in (">=", "<"):
            raise invalid_filter("create_time takes >= or <")
        if field != "create_time" and op not in ("=", ":"):
            raise invalid_filter(f"{field} takes =")
        if key in values:
            raise invalid_filter(f"{field} is given twice")
        values[key] = value
    return _filter(values)


def _filter(values: dict[str, str]) -> EventFilter:
    kind = values.get("type")
    if kind is not None and kind not in _KNOWN_TYPES:
        raise invalid_filter(f"type {kind!r} is not an event type")
    for field in ("actor", "target"):
        if len(values.get(field, "")) > _MAX_ID_LENGTH:
            raise invalid_filter(f"{field} is at most {_MAX_ID_LENGTH} characters")
    return EventFilter(
        types=frozenset() if kind is None else frozenset({kind}),
        actor_id=values.get("actor"),
        target_id=values.get("target"),
        since=_time(values.get("create_time>=")),
        until=_time(values.get("create_time<")),
    )


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid_filter(f"{text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise invalid_filter(f"{text!r} needs a time zone (Z or an offset)")
    return value.astimezone(dt.UTC)
