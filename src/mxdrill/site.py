"""What a postmaster's own checks get: the objects behind the plugin's site fixtures.

A site check ("mail for the sales list still lands on the NFS store after failover") runs in the
same pytest session as the drill, after it, and in the same report. It needs four things of the
declared hosts, each offered here on top of the seams the drill itself uses (so a check reads the
same logs and mailboxes, the same way): a host's testinfra facts, its mail log since the drill
began, a mailbox search by Message-Id, and one probe sent as a real sender would, waited for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
import testinfra.host

from mxdrill import smtp
from mxdrill.drill import deliver_as_harness, sender_targets
from mxdrill.inventory import Inventory
from mxdrill.mailhost import MailHost, stores_of
from mxdrill.mta import LogEvent, MessageTrail, trails_by_message_id
from mxdrill.remote import Sessions
from mxdrill.waiting import poll_until


def named(names: list[str], name: str, what: str, inventory: Inventory) -> str:
    """`mx2.example.test` or just `mx2`; a name the inventory lacks fails the user's check in one line
    naming what it has (a typo in a check is not a traceback)."""
    matches = [n for n in names if name in (n, n.split(".")[0])]
    if len(matches) != 1:
        pytest.fail(f"{name!r} is not {what} of {inventory.path} (it has: {', '.join(names)})", pytrace=False)
    return matches[0]


def find_host(hosts: dict[str, MailHost], name: str, inventory: Inventory) -> MailHost:
    return hosts[named(list(hosts), name, "an MX", inventory)]


def facts(inventory: Inventory, sessions: Sessions, name: str) -> testinfra.host.Host:
    """testinfra's modules (file, service, mount_point, ...) for any declared host, over mxdrill's session."""
    return sessions[inventory.hosts[named(list(inventory.hosts), name, "a host", inventory)]].facts


@dataclass
class MailLog:
    """The MXs' mail logs since the run's first drill began (its cursors), or since the check asked."""

    inventory: Inventory
    hosts: dict[str, MailHost]
    since: dict[str, str]  # host -> cursor: shared with every drill of the run, the first one wins

    def lines(self, name: str) -> list[str]:
        host = find_host(self.hosts, name, self.inventory)
        cursor = self.since.setdefault(host.name, host.log.cursor())
        return host.log.lines_since(cursor)

    def events(self, name: str) -> list[LogEvent]:
        """The host's lines as the MTA's events (queue id, Message-Id, to, relay, status, ...)."""
        return find_host(self.hosts, name, self.inventory).mta.parse_log(self.lines(name))

    def trails(self, message_id: str) -> list[MessageTrail]:
        """The life of one message on every MX: each queue id it had, with its lines."""
        wanted = message_id.strip("<>")
        return [trail for name in self.hosts for trail in trails_by_message_id(self.events(name)).get(wanted, [])]


@dataclass
class Mailboxes:
    """Every MX's view of the mailboxes it delivers into."""

    inventory: Inventory
    hosts: dict[str, MailHost]

    def find(self, message_id: str, recipient: str | None = None) -> dict[str, list[str]]:
        """Store host -> paths of the mails with this Message-Id in `recipient`'s mailbox (default: the first
        recipient of the inventory): each MX's Maildir (on a shared store every delivering MX sees the same
        files), or once the mail store every MX relays to."""
        to = recipient or self.inventory.recipients[0]
        found = {name: store.find(message_id, to) for name, store in stores_of(self.hosts).items()}
        return {name: paths for name, paths in found.items() if paths}


@dataclass(frozen=True)
class SentProbe:
    """One probe of a site check: who took it, and where it was found."""

    probe: smtp.Probe
    accepted_by: str | None  # the inventory host that said 250, None if no MX took it
    copies: dict[str, list[str]]  # as Mailboxes.find returns them

    @property
    def message_id(self) -> str:
        return self.probe.message_id


@dataclass
class ProbeSender:
    """Sends one probe as a real sender would (MX by MX in DNS order) and waits for it in a mailbox."""

    inventory: Inventory
    mailboxes: Mailboxes
    run_id: str  # `<run>-site`: a site check's probes are removed together, apart from any drill's
    since: dict[str, str]  # the run's mail-log cursors (MailLog's): set before the first probe if no drill did
    sent: list[smtp.Probe] = field(default_factory=list)

    def __call__(self, recipient: str | None = None, deadline: float | None = None) -> SentProbe:
        """Send, then wait up to `deadline` (default: the inventory's drain deadline) for the mailbox."""
        to = recipient or self.inventory.recipients[0]
        for name, host in self.mailboxes.hosts.items():  # so that mail_log sees this probe's lines
            self.since.setdefault(name, host.log.cursor())
        probe = smtp.make_probe(self.run_id, len(self.sent) + 1, to, smtp.HARNESS_SENDER, "site")
        self.sent.append(probe)
        delivery = asyncio.run(deliver_as_harness(probe, sender_targets(self.inventory)))
        accepted = delivery.accepted
        copies: dict[str, list[str]] = {}
        if accepted is not None:
            def found() -> bool:
                copies.update(self.mailboxes.find(probe.message_id, to))
                return bool(copies)

            poll_until(found, deadline or self.inventory.drain_deadline, f"probe {probe.token} to reach a mailbox", 0.1)
        return SentProbe(probe, accepted.target.host if accepted else None, copies)

    def remove_all(self) -> int:
        """Delete the site checks' probes from every MX's mailboxes; returns how many copies went."""
        recipients = sorted({p.recipient for p in self.sent})
        if not recipients:
            return 0
        return sum(store.remove(self.run_id, recipients) for store in stores_of(self.mailboxes.hosts).values())
