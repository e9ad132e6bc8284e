"""Probes through a real sending MTA (`--via sender`): handed to the declared sender host's own MTA, and
followed through its mail log.

The harness's SMTP client tries the MXs the way an MTA does, but it is not one: a real sender has its
own MX lookup and cache, its own connect timeout (Postfix: 30 s), its own choice of which MX to retry
and when. With `--via sender` the failover seconds are what that MTA saw. Each probe is submitted with
the sender's `sendmail` over SSH; its delivery is then read from the sender's log: `status=sent` with
`relay=mx2...` is the MX that took it (the `queued as` in that reply is the MX's queue id), and every
MX preferred over that one was tried and failed first (`connect to mx1...: Connection refused`).
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from dataclasses import dataclass, field

from mxdrill import smtp
from mxdrill.logs import LogSource
from mxdrill.mta import LogEvent, MessageTrail, Mta, trails_by_message_id
from mxdrill.remote import Remote

RELAY = re.compile(r"^(?P<name>[^\[]+)\[(?P<address>[^\]]+)\](?::\d+)?$")
SENDMAIL = "/usr/sbin/sendmail"
POLL_SECONDS = 0.1


def submit_command(probe: smtp.Probe) -> str:
    """Pipe the probe into the sender's sendmail(1): `-i` (a lone dot is text), envelope sender and recipient."""
    message = smtp.build_message(probe).as_string()
    return (f"printf '%s' {shlex.quote(message)} | {SENDMAIL} -i -f {shlex.quote(probe.sender)} "
            f"-- {shlex.quote(probe.recipient)}")


def _target_of(relay: str | None, targets: list[smtp.MxTarget]) -> smtp.MxTarget | None:
    match = RELAY.match(relay or "")
    if match is None:
        return None
    by_address = next((t for t in targets if t.address == match["address"]), None)
    name = match["name"].rstrip(".").lower()  # a dual-stack sender may reach the MX over IPv6
    by_name = next((t for t in targets if t.name.rstrip(".").lower() == name), None)
    found = by_address or by_name
    return found if found is not None else smtp.MxTarget(0, match["name"], match["address"], "?")


def _failed_connects(lines: list[str], target: smtp.MxTarget) -> list[str]:
    """The sender's `connect to mx1.example.test[198.51.100.11]:25: ...` lines for one MX."""
    mark = f"connect to {target.name.rstrip('.')}[{target.address}]"
    return [line for line in lines if mark in line]


def attempts_from_log(events: list[LogEvent], lines: list[str], targets: list[smtp.MxTarget]) -> list[smtp.Attempt]:
    """Pure: the sender's delivery of one message as attempts, MX by MX, from its log events.

    The MX that took it comes from `status=sent`'s relay; every MX preferred over it was tried first and
    failed (Postfix's smtp(8) tries them in preference order), with the sender's own words for why when
    it logged them. A `status=deferred` with no taker is a round of failures (the sender will retry).
    """
    now = time.time()
    found: list[smtp.Attempt] = []
    for event in events:
        if event.status not in ("sent", "deferred", "bounced"):
            continue
        target = _target_of(event.relay, targets)
        if event.status == "sent" and target is not None:
            for earlier in sorted((t for t in targets if t.preference < target.preference), key=lambda t: t.preference):
                said = _failed_connects(lines, earlier)
                found.append(smtp.Attempt(earlier, "unreachable", None, said[-1] if said else "tried first by the sender",
                                          now, 0.0))
            found.append(smtp.Attempt(target, "accepted", 250, event.detail or "", now, 0.0))
        elif event.status == "bounced":
            found.append(smtp.Attempt(target or smtp.MxTarget(0, "?", "?", "?"), "rejected", 550, event.detail or "", now, 0.0))
        elif target is not None:
            found.append(smtp.Attempt(target, "deferred", 450, event.detail or "", now, 0.0))
    return found


@dataclass
class SenderPath:
    """The sender host's MTA as a probe path: `deliver(probe, targets)` like the harness's own client."""

    remote: Remote
    mta: Mta
    log: LogSource
    deadline: float  # how long one probe may take to be taken by an MX (the drain deadline)
    cursor: str | None = None
    _lines: list[str] = field(default_factory=list)
    _read_at: float = 0.0

    @property
    def host(self) -> str:
        return self.remote.host.name

    def begin(self) -> None:
        """The log cursor before the first probe: only what the sender logs from now on is read."""
        if self.cursor is None:
            self.cursor = self.log.cursor()

    async def _refresh(self) -> list[str]:
        """The sender's log since the cursor, read at most every POLL_SECONDS whatever the probes in flight."""
        if time.monotonic() - self._read_at >= POLL_SECONDS:
            assert self.cursor is not None, "begin() first"
            self._read_at = time.monotonic()  # before the await: the other probes' coroutines read no more now
            self._lines = await asyncio.to_thread(self.log.lines_since, self.cursor)
        return self._lines

    async def deliver(self, probe: smtp.Probe, targets: list[smtp.MxTarget]) -> smtp.Delivery:
        """Submit, then follow the sender's log until an MX took the probe or bounced it, or the deadline
        (then the probe is deleted from the sender's queue: a late delivery would land after the drill)."""
        self.begin()
        await asyncio.to_thread(self.remote.check, submit_command(probe))
        delivery = smtp.Delivery(probe)
        end = time.monotonic() + self.deadline
        trails: list[MessageTrail] = []
        while time.monotonic() < end:
            lines = await self._refresh()
            trails = trails_by_message_id(self.mta.parse_log(lines)).get(probe.message_id, [])
            events = [e for trail in trails for e in trail.events]
            delivery.attempts = attempts_from_log(events, lines, targets)
            if any(a.outcome in ("accepted", "rejected") for a in delivery.attempts):
                return delivery
            await asyncio.sleep(POLL_SECONDS)
        for trail in trails:
            await asyncio.to_thread(self.remote.run, f"postsuper -d {shlex.quote(trail.queue_id)}")
        delivery.attempts.append(smtp.Attempt(smtp.MxTarget(0, self.host, "", self.host), "unreachable", None,
                                              f"no MX took it from {self.host} within {self.deadline:g}s", time.time(), 0.0))
        return delivery
