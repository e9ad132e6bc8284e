"""Fakes of the drill's seams for unit tests: a small simulated mail system.

`World` holds one fake MTA per MX, one shared mailbox store and an SMTP client that tries the MXs
in preference order. The fake MTAs write Postfix-style log lines (parsed by the real parser), keep
a queue, and a queueing backup hands its mail on when flushed with the primary back. Nothing here
touches a network or a host, so the whole table of steps runs in milliseconds.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from mxdrill import smtp
from mxdrill.inventory import Host, Inventory
from mxdrill.mailhost import MailHost
from mxdrill.mta import DeliveryRole, LogEvent, QueuedMessage
from mxdrill.mta.postfix import parse_log_line
from mxdrill.store import MailboxScan

SHARED = "storage:/srv/vhosts"
_queue_ids = (f"{n:010X}" for n in itertools.count(0xA0000))


@dataclass
class FakeRemote:
    """Answers every command with success and remembers it (the dead-man's switch is armed through it)."""

    host: Host
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, *args: str, timeout: float | None = None) -> "FakeResult":
        self.commands.append(command)
        return FakeResult(1 if "systemd" in command else 0)

    def check(self, command: str, *args: str, timeout: float | None = None) -> str:
        self.commands.append(command)
        return ""


@dataclass(frozen=True)
class FakeResult:
    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeLog:
    lines: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "fake log"

    def cursor(self) -> str:
        return str(len(self.lines))

    def lines_since(self, cursor: str) -> list[str]:
        return self.lines[int(cursor):]


@dataclass
class FakeMta:
    world: World
    host: str
    role: DeliveryRole
    log: FakeLog = field(default_factory=FakeLog)
    is_running: bool = True
    queued: dict[str, str] = field(default_factory=dict)  # queue id -> Message-Id

    def version(self) -> str:
        return "FakeMTA 1.0"

    def running(self) -> bool:
        return self.is_running

    def start(self) -> None:
        self.is_running = True

    def stop(self) -> None:
        self.is_running = False

    def stop_command(self) -> str:
        return "fake-mta stop"

    def heal_command(self) -> str:
        return "fake-mta status || fake-mta start"

    def queue(self) -> list[QueuedMessage]:
        return [QueuedMessage(q, "deferred", 0, "", [("probe@example.test", "primary down")], 500) for q in self.queued]

    def flush(self) -> None:
        primary = self.world.mtas[self.world.inventory.primary.name]
        for queue_id, message_id in list(self.queued.items()):
            if primary.is_running:
                primary.accept(message_id)
                self._log(f"{queue_id}: to=<probe@example.test>, relay={primary.host}[198.51.100.11]:25, status=sent (250 ok)")
                del self.queued[queue_id]

    def config(self, *names: str) -> dict[str, str]:
        return {}

    def delivery_role(self, domain: str, mailstore: tuple[str, str] | None = None) -> DeliveryRole:
        return self.role

    def mailbox_paths(self, recipients: list[str]) -> list[str]:
        return ["example.test/probe/"]

    def parse_log(self, lines: Iterable[str]) -> list[LogEvent]:
        return [event for event in map(parse_log_line, lines) if event is not None]

    def accept(self, message_id: str) -> str:
        queue_id = next(_queue_ids)
        self._log(f"{queue_id}: client=harness[198.51.100.1]")
        self._log(f"{queue_id}: message-id=<{message_id}>")
        if self.role == "delivers":
            self.world.mailbox[message_id.split("@")[0]] += 1
            self._log(f"{queue_id}: to=<probe@example.test>, relay=virtual, status=sent (delivered to maildir)")
        else:  # a relay tries the primary at once, and queues only when it is down
            self.queued[queue_id] = message_id
            self._log(f"{queue_id}: to=<probe@example.test>, relay=none, status=deferred (connect to primary: refused)")
            self.flush()
        return queue_id

    def _log(self, text: str) -> None:
        self.log.lines.append(f"2026-12-01T00:00:00+00:00 {self.host} postfix/smtp[1]: {text}")


@dataclass
class FakeStore:
    world: World
    host: str

    def mark(self, run_id: str) -> None:
        self.world.marked.add((self.host, run_id))

    def unmark(self, run_id: str) -> None:
        self.world.marked.discard((self.host, run_id))

    def scan(self, run_id: str, fresh: bool = False) -> MailboxScan:
        copies = Counter({t: n for t, n in self.world.mailbox.items() if t.startswith(f"mxdrill-{run_id}-")})
        return MailboxScan(self.host, "/var/mail/vhosts", SHARED, "fuse.sshfs", copies, {t: [f"/new/{t}"] for t in copies})

    def find(self, message_id: str, recipient: str) -> list[str]:
        token = message_id.strip("<>").split("@")[0]
        return [f"/new/{token}"] * self.world.mailbox.get(token, 0)

    def remove(self, run_id: str, recipients: list[str] | None = None) -> int:
        mine = [t for t in self.world.mailbox if t.startswith(f"mxdrill-{run_id}-")]
        for token in mine:
            del self.world.mailbox[token]
        return len(mine)


class World:
    """The fake mail system of one inventory: `relays` names the MXs that queue instead of delivering."""

    def __init__(self, inventory: Inventory, relays: tuple[str, ...] = ()) -> None:
        self.inventory = inventory
        self.mailbox: Counter[str] = Counter()
        self.marked: set[tuple[str, str]] = set()  # (host, run id) of every store cursor the drill set
        self.mtas = {h.name: FakeMta(self, h.name, "relays" if h.name in relays else "delivers") for h in inventory.mxs}
        self.hosts = {h.name: MailHost(h, FakeRemote(h), self.mtas[h.name], self.mtas[h.name].log, FakeStore(self, h.name))  # type: ignore[arg-type]
                      for h in inventory.mxs}
        self.targets = [smtp.MxTarget(h.mx_priority or 0, h.name, h.address, h.name) for h in inventory.mxs]

    async def deliver(self, probe: smtp.Probe, targets: list[smtp.MxTarget]) -> smtp.Delivery:
        delivery = smtp.Delivery(probe)
        for target in sorted(targets, key=lambda t: t.preference):
            mta = self.mtas[target.host]
            if not mta.is_running:
                delivery.attempts.append(smtp.Attempt(target, "unreachable", None, "ConnectionRefusedError", time.time(), 0.0))
                continue
            queue_id = mta.accept(probe.message_id)
            delivery.attempts.append(smtp.Attempt(target, "accepted", 250, f"2.0.0 Ok: queued as {queue_id}", time.time(), 0.0))
            break
        return delivery
