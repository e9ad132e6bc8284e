"""What Postfix tells us, parsed: `postqueue -j`, the mail log, `postconf`.

Pure functions, no I/O: the drill runs the commands over SSH and hands the text here. Queue ids
are per host and get reused, so log lines are joined into per-message trails keyed by Message-Id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


class PostfixParseError(ValueError):
    """Output that is not what this Postfix command prints; the message quotes the line."""


@dataclass(frozen=True)
class QueuedMessage:
    queue_id: str
    queue_name: str
    arrival_time: int
    sender: str
    recipients: list[tuple[str, str]]
    message_size: int


def parse_postqueue_json(text: str) -> list[QueuedMessage]:
    """`postqueue -j` (Postfix ≥ 3.1): one JSON object per queued message."""
    messages = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            messages.append(QueuedMessage(
                queue_id=raw["queue_id"], queue_name=raw["queue_name"], arrival_time=int(raw.get("arrival_time", 0)),
                sender=raw.get("sender", ""), message_size=int(raw.get("message_size", 0)),
                recipients=[(r.get("address", ""), r.get("delay_reason", "")) for r in raw.get("recipients", [])],
            ))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PostfixParseError(f"postqueue -j line {number} is not a queue entry ({error}): {line[:200]}") from None
    return messages


# Short ids are hex; long ids (enable_long_queue_ids) use a base-52 alphabet without vowels.
QUEUE_ID = r"(?:[0-9A-F]{6,12}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,17})"
SYSLOG_PREFIX = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\S+|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<program>postfix[^\[:\s]*/[^\[:\s]+|postfix[^\[:\s]*)(?:\[(?P<pid>\d+)\])?: (?P<rest>.*)$"
)
QUEUE_PREFIX = re.compile(rf"^(?P<qid>{QUEUE_ID}): (?P<body>.*)$")
FIELD = re.compile(r"(?P<key>to|relay|dsn|status|client|message-id)=(?P<value><[^>]*>|[^,\s]+)")
STATUS_DETAIL = re.compile(r"status=\w+ \((?P<detail>.*)\)\s*$")


@dataclass(frozen=True)
class LogEvent:
    timestamp: str
    host: str
    program: str
    pid: int | None
    queue_id: str | None
    message_id: str | None
    to: str | None
    relay: str | None
    status: str | None
    dsn: str | None
    detail: str | None
    client: str | None
    removed: bool
    raw: str


def parse_log_line(line: str) -> LogEvent | None:
    """One syslog line (traditional or RFC 3339 timestamps); None if Postfix did not write it."""
    head = SYSLOG_PREFIX.match(line.rstrip("\n"))
    if not head:
        return None
    rest = head["rest"]
    queued = QUEUE_PREFIX.match(rest)
    body = queued["body"] if queued else rest
    fields = {m["key"]: m["value"].strip("<>") for m in FIELD.finditer(body)} if queued else {}
    detail = STATUS_DETAIL.search(body) if queued else None
    return LogEvent(
        timestamp=head["ts"], host=head["host"], program=head["program"],
        pid=int(head["pid"]) if head["pid"] else None,
        queue_id=queued["qid"] if queued else None,
        message_id=fields.get("message-id"), to=fields.get("to"), relay=fields.get("relay"),
        status=fields.get("status"), dsn=fields.get("dsn"), detail=detail["detail"] if detail else None,
        client=fields.get("client"), removed=bool(queued) and body.strip() == "removed", raw=line.rstrip("\n"),
    )


@dataclass
class MessageTrail:
    """The life of one queue id on one host, tied to the Message-Id its cleanup line announced."""

    host: str
    queue_id: str
    message_id: str | None = None
    events: list[LogEvent] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return any(e.client or e.message_id for e in self.events)

    def with_status(self, status: str) -> list[LogEvent]:
        return [e for e in self.events if e.status == status]


def trails_by_message_id(events: Iterable[LogEvent]) -> dict[str, list[MessageTrail]]:
    """Join each queue id's lines into a trail; a `removed` line ends it (ids get reused later)."""
    open_trails: dict[tuple[str, str], MessageTrail] = {}
    finished: list[MessageTrail] = []
    for event in events:
        if event.queue_id is None:
            continue
        key = (event.host, event.queue_id)
        trail = open_trails.setdefault(key, MessageTrail(event.host, event.queue_id))
        trail.events.append(event)
        if event.message_id and trail.message_id is None:
            trail.message_id = event.message_id
        if event.removed:
            finished.append(open_trails.pop(key))
    by_id: dict[str, list[MessageTrail]] = {}
    for trail in [*finished, *open_trails.values()]:
        if trail.message_id:
            by_id.setdefault(trail.message_id, []).append(trail)
    return by_id


def parse_postconf(text: str) -> dict[str, str]:
    """`postconf -n` / `postconf name ...`: `name = value` per line (value may be empty)."""
    settings = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            settings[name.strip()] = value.strip()
    return settings
