"""The MTA on a host, as the drill needs it: one small protocol, one module per MTA.

The drill asks the MTA itself — is it running, what is queued, how it treats the domain, what its
log lines mean — rather than guessing from an init system or file layout. Postfix (`postfix.py`)
is the implementation today; another MTA is one new module that satisfies `Mta`. Unit tests use a
fake (tests/unit/fakes.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

# delivers: into mailboxes on (or mounted on) this host; relays: queues for a lower MX of the domain;
# forwards: hands the domain to a fixed next hop, an internal mail store (transport_maps: seed 003 Scénario 3)
DeliveryRole = Literal["delivers", "relays", "forwards", "refuses"]


@dataclass(frozen=True)
class QueuedMessage:
    """One message in an MTA's queue; `recipients` are (address, why it is still queued)."""

    queue_id: str
    queue_name: str
    arrival_time: int
    sender: str
    recipients: list[tuple[str, str]]
    message_size: int


@dataclass(frozen=True)
class LogEvent:
    """One mail-log line the MTA wrote, with the fields the drill reads."""

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


@dataclass
class MessageTrail:
    """The life of one queue id on one host, tied to the Message-Id its first lines announced."""

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
    """Join each queue id's lines into a trail; a `removed` line ends it (queue ids get reused)."""
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


class Mta(Protocol):
    """What the drill asks of the MTA on one host."""

    @property
    def host(self) -> str: ...
    def version(self) -> str: ...
    def running(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def stop_command(self) -> str:
        """The shell command `stop` runs, for the plan and the history."""
        ...
    def kill_command(self) -> str:
        """A shell command that kills the MTA without a clean shutdown (the `kill` fault)."""
        ...
    def listening(self) -> bool:
        """Whether anything still accepts connections on port 25."""
        ...
    def heal_command(self) -> str:
        """A shell command that starts the MTA only if it is not running: the dead-man's switch runs it."""
        ...
    def queue(self) -> list[QueuedMessage]: ...
    def flush(self) -> None: ...
    def config(self, *names: str) -> dict[str, str]: ...
    def delivery_role(self, domain: str, mailstore: tuple[str, str] | None = None) -> DeliveryRole:
        """How it treats the domain; `mailstore` (name, address): the declared store it may forward to."""
        ...
    def mailbox_paths(self, recipients: list[str]) -> list[str]:
        """Each recipient's mailbox, relative to the mailbox base, as the MTA's own maps say."""
        ...
    def parse_log(self, lines: Iterable[str]) -> list[LogEvent]: ...
