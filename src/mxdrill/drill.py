"""One failover drill for one (primary, backup) pair and one fault mode: its state and its steps.

The steps follow seed 003's "Test de basculement": probes with the primary up, the primary stopped,
probes taken by the backup, the backup's queue and log, the primary restarted, the drain, and the
check that every probe is in a mailbox exactly once. Tests in tests_infra/ call these steps in order;
each step records what it saw in the shared History, and the checkers judge from that record.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from dataclasses import dataclass, field

import pytest

from mxdrill import checker, dnscheck, mailbox, postfix, report, smtp
from mxdrill.faults import Nemesis, StopService, wait_for
from mxdrill.history import History
from mxdrill.inventory import Host, Inventory
from mxdrill.preflight import delivery_role
from mxdrill.remote import Remote, Sessions
from mxdrill.waiting import poll_until

FAULT_MODES = ("stop",)


@dataclass(frozen=True)
class Scenario:
    """What one drill exercises: which primary fails, which backup must take over, and how it fails."""

    primary: Host
    backup: Host
    fault: str

    @property
    def id(self) -> str:
        return f"{self.primary.name}->{self.backup.name}:{self.fault}"


def scenarios(inventory: Inventory) -> list[Scenario]:
    return [Scenario(primary, backup, fault) for primary, backup in inventory.pairs() for fault in FAULT_MODES]


@dataclass
class LogCursor:
    """Where each host's mail log ended when the drill began: only lines written since are searched."""

    offsets: dict[str, int] = field(default_factory=dict)

    def take(self, remote: Remote) -> None:
        path = shlex.quote(remote.host.mail_log)
        output = remote.run(f"stat -c %s {path} 2>/dev/null || echo 0").stdout.strip()
        self.offsets[remote.host.name] = int(output or 0)

    def read(self, remote: Remote) -> list[postfix.LogEvent]:
        """Log lines since the cursor, parsed; a log rotated meanwhile is read from its start."""
        offset = self.offsets.get(remote.host.name, 0)
        path = shlex.quote(remote.host.mail_log)
        text = remote.check(
            f"size=$(stat -c %s {path} 2>/dev/null || echo 0); "
            f"if [ \"$size\" -ge {offset} ]; then tail -c +{offset + 1} {path}; else cat {path}; fi"
        )
        events = (postfix.parse_log_line(line) for line in text.splitlines())
        return [event for event in events if event is not None]


@dataclass(frozen=True)
class QueuedProbe:
    token: str
    queue_id: str
    queue_name: str
    reason: str


@dataclass
class BackupEvidence:
    """What the backup's log and queue show of the probes it accepted during the outage."""

    relays: bool
    not_in_log: list[str] = field(default_factory=list)
    not_deferred: list[str] = field(default_factory=list)
    not_queued: list[str] = field(default_factory=list)
    not_in_mailbox: list[str] = field(default_factory=list)
    queued: list[QueuedProbe] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = []
        if self.not_in_log:
            found.append(f"mail log shows no acceptance of {self.not_in_log}")
        if self.not_deferred:
            found.append(f"mail log shows no status=deferred for {self.not_deferred}")
        if self.not_queued:
            found.append(f"queue (postqueue -j) lacks {self.not_queued}")
        if self.not_in_mailbox:
            found.append(f"delivers itself but these probes are in no mailbox: {self.not_in_mailbox}")
        return found


@dataclass
class Drill:
    scenario: Scenario
    inventory: Inventory
    sessions: Sessions
    history: History
    run_id: str
    probes_per_phase: int = 3
    cursor: LogCursor = field(default_factory=LogCursor)
    passed: set[str] = field(default_factory=set)
    deliveries: dict[str, smtp.Delivery] = field(default_factory=dict)
    targets: list[smtp.MxTarget] = field(default_factory=list)
    backup_role: str = "unknown"
    maildirs: list[str] = field(default_factory=list)
    fault: StopService | None = None
    nemesis: Nemesis | None = None
    started: float = field(default_factory=time.monotonic)
    versions: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    home: str | None = None
    _sequence: int = 0
    _delivered: set[str] = field(default_factory=set)

    # --- bookkeeping ------------------------------------------------------------------------------

    def remote(self, host: Host) -> Remote:
        return self.sessions[host]

    @property
    def primary(self) -> Remote:
        return self.remote(self.scenario.primary)

    @property
    def backup(self) -> Remote:
        return self.remote(self.scenario.backup)

    def mark(self, step: str) -> None:
        self.passed.add(step)

    def require(self, *steps: str) -> None:
        """Skip a step whose preconditions did not pass, saying which one; never stop a primary blindly.

        Also enforces the whole drill's deadline: past it, the step fails (and the class finalizer heals).
        """
        elapsed = time.monotonic() - self.started
        if elapsed > self.inventory.drill_deadline:
            pytest.fail(f"drill deadline of {self.inventory.drill_deadline:g}s (mxdrill_drill_deadline) hit after {elapsed:.0f}s; "
                        "healing and stopping here", pytrace=False)
        missing = [step for step in steps if step not in self.passed]
        if missing:
            pytest.skip(f"not run: earlier step(s) {', '.join(missing)} did not pass for {self.scenario.id}")

    def probes_of(self, phase: str) -> list[smtp.Delivery]:
        return [d for d in self.deliveries.values() if d.probe.phase == phase]

    def result(self, steps: dict[str, str]) -> report.DrillResult:
        return report.result_of(self.scenario.id, self.history, list(self.deliveries), self.home, steps, self.findings)

    def summary_lines(self, steps: dict[str, str]) -> list[str]:
        """Verdict, failover and drain seconds and the probe ledger, for the terminal."""
        result = self.result(steps)
        shown = lambda v: "n/a" if v is None else f"{v:.2f}s"  # noqa: E731
        return [
            f"{self.scenario.id}: {result.verdict.upper()} — failover {shown(result.failover)}, drain {shown(result.drain)}",
            f"  {result.detail}",
            "  ledger: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.ledger.items()),
        ]

    # --- steps ------------------------------------------------------------------------------------

    def resolve_targets(self) -> list[smtp.MxTarget]:
        """MX hosts as a sender finds them: DNS preference order, mapped to inventory hosts by address."""
        by_address = {h.address: h for h in self.inventory.mxs}
        targets = []
        for record in dnscheck.mx_records(self.inventory.domain, self.inventory.nameserver):
            for address in dnscheck.addresses(record.exchange, self.inventory.nameserver):
                host = by_address.get(address)
                targets.append(smtp.MxTarget(record.preference, record.exchange, address, host.name if host else "?"))
        self.targets = targets
        return targets

    def prepare(self) -> None:
        """Log cursors on every MX, the backup's role for the domain, the recipients' Maildir paths."""
        for host in self.inventory.mxs:
            self.cursor.take(self.remote(host))
            self.versions[host.name] = "Postfix " + self.remote(host).check("postconf -h mail_version").strip()
        self.backup_role = delivery_role(self.backup, self.inventory.domain)
        self.maildirs = recipient_maildirs(self.primary, self.inventory.recipients)

    def send(self, phase: str) -> list[smtp.Delivery]:
        """Send this phase's probes concurrently, each trying MX after MX like an MTA; record every outcome."""
        probes = []
        for _ in range(self.probes_per_phase):
            self._sequence += 1
            recipient = self.inventory.recipients[self._sequence % len(self.inventory.recipients)]
            probes.append(smtp.make_probe(self.run_id, self._sequence, recipient, smtp.HARNESS_SENDER, phase))
        for probe in probes:
            self.history.append("probe.sent", probe=probe.token, message_id=probe.message_id, phase=phase, via="harness")

        async def send_all() -> list[smtp.Delivery]:
            return await asyncio.gather(*(smtp.deliver(p, self.targets, helo=smtp.HARNESS_HELO) for p in probes))

        deliveries = asyncio.run(send_all())
        for delivery in deliveries:
            self._record(delivery)
        return deliveries

    def _record(self, delivery: smtp.Delivery) -> None:
        self.deliveries[delivery.probe.token] = delivery
        roles = {self.scenario.primary.name: "primary", self.scenario.backup.name: "backup"}
        for attempt in delivery.attempts:
            host, role = attempt.target.host, roles.get(attempt.target.host, "other")
            if attempt.outcome == "accepted":
                self.history.append("probe.accepted", probe=delivery.probe.token, host=host, role=role,
                                    queue_id=delivery.queue_id, reply=attempt.reply)
            else:
                self.history.append("probe.rejected", probe=delivery.probe.token, host=host, role=role,
                                    code=attempt.code, message=attempt.reply, outcome=attempt.outcome)

    def stop_primary(self) -> None:
        """The fault of the `stop` mode; the nemesis registers its heals before running it."""
        assert self.nemesis is not None, "the drill fixture creates the nemesis"
        self.fault = StopService(self.primary)
        self.nemesis.inject(self.fault)

    def backup_queue(self) -> list[postfix.QueuedMessage]:
        return postfix.parse_postqueue_json(self.backup.check("postqueue -j"))

    def backup_queue_ids(self) -> set[str]:
        """Queue ids the backup gave (in its 250 replies) to the probes it accepted."""
        return {
            d.queue_id for d in self.deliveries.values()
            if d.queue_id and d.accepted and d.accepted.target.host == self.scenario.backup.name
        }

    def backup_evidence(self) -> BackupEvidence:
        """One look at the backup's log (since the cursor) and, for a queueing backup, its queue."""
        expected = {d.queue_id: d.probe for d in self.probes_of("outage") if d.queue_id}
        trails = postfix.trails_by_message_id(self.cursor.read(self.backup))
        evidence = BackupEvidence(relays=self.backup_role == "relays")
        self.findings = [line for line in self.findings if not line.startswith(f"{self.scenario.backup.name} log:")]
        for probe in expected.values():
            probe_trails = trails.get(probe.message_id, [])
            self.findings += [f"{self.scenario.backup.name} log: {e.raw}" for t in probe_trails for e in t.events
                              if e.message_id or e.status]
            if not any(t.accepted for t in probe_trails):
                evidence.not_in_log.append(probe.token)
            if evidence.relays and not any(t.with_status("deferred") for t in probe_trails):
                evidence.not_deferred.append(probe.token)
        if evidence.relays:
            queue = {m.queue_id: m for m in self.backup_queue()}
            for queue_id, probe in expected.items():
                entry = queue.get(queue_id)
                if entry is None:
                    evidence.not_queued.append(probe.token)
                else:
                    reason = next((r for _a, r in entry.recipients if r), "")
                    evidence.queued.append(QueuedProbe(probe.token, queue_id, entry.queue_name, reason))
        else:  # a backup that delivers itself: the probes must already be in the shared mailbox
            delivered = self.poll_delivered()
            evidence.not_in_mailbox = [p.token for p in expected.values() if p.token not in delivered]
        return evidence

    def await_backup_evidence(self, deadline: float) -> BackupEvidence:
        """Until the backup's log (and queue) show every outage probe, or the deadline: the caller judges."""
        seen: list[BackupEvidence] = []

        def complete() -> bool:
            seen.append(self.backup_evidence())
            return not seen[-1].problems()

        _, waited = poll_until(complete, deadline, f"{self.scenario.backup.name}'s queue and log to show the probes", 0.1)
        self.history.append("wait", host=self.scenario.backup.name, what="backup queue/log evidence", seconds=waited)
        return seen[-1]

    def heal_and_drain(self, deadline: float) -> float:
        """Restart the primary, flush the backup, wait until its queue holds no probe and every probe is in a mailbox."""
        assert self.nemesis is not None and self.fault is not None
        self.nemesis.heal(self.fault)
        healed = time.monotonic()
        if self.backup_role == "relays":
            self.backup.check("postqueue -f")
        ours = self.backup_queue_ids()
        wanted = set(self.deliveries)

        def drained() -> bool:
            queued = {m.queue_id for m in self.backup_queue()} & ours
            return not queued and wanted <= self.poll_delivered()

        waited = wait_for(drained, deadline, f"the drain of {self.scenario.backup.name}'s queue into the mailboxes")
        self.history.append("wait", host=self.scenario.backup.name, what="drain", seconds=waited)
        return time.monotonic() - healed

    def poll_delivered(self) -> set[str]:
        """Scan the mailboxes once; the first sighting of a probe is its `probe.delivered` event."""
        found = self.found_tokens()
        for token in sorted(found - self._delivered):
            self.history.append("probe.delivered", probe=token)
        self._delivered |= found
        return found

    def await_delivered(self, deadline: float, phase: str | None = None) -> set[str]:
        """Wait until every probe (of `phase`, or all) is in some mailbox, or the deadline; returns the missing."""
        wanted = {token for token, d in self.deliveries.items() if phase is None or d.probe.phase == phase}
        _, waited = poll_until(lambda: wanted <= self.poll_delivered(), deadline,
                               f"the {phase or 'remaining'} probes to reach a mailbox", 0.05)
        self.history.append("wait", what=f"deliveries ({phase or 'all'})", seconds=waited)
        return wanted - self._delivered

    def scans(self) -> list[mailbox.MailboxScan]:
        """One command per MX: every copy of every probe of this run, with the storage location it sits in."""
        return [
            mailbox.scan(self.remote(h), h.mailbox_base, self.maildirs, self.run_id, self.inventory.storage_fstype)
            for h in self.inventory.mxs
        ]

    def found_tokens(self) -> set[str]:
        return {token for scan in self.scans() for token in scan.copies}

    def record_found(self) -> list[mailbox.MailboxScan]:
        """Scan once more and record every copy; the primary's storage location is the probes' home."""
        scans = self.scans()
        self.home = next((scan.location for scan in scans if scan.host == self.scenario.primary.name), None)
        for scan in scans:
            for token, count in scan.copies.items():
                self.history.append("probe.found", probe=token, host=scan.host, location=scan.location,
                                    count=count, path=scan.paths[token][0])
        return scans

    def final_deliveries(self) -> dict[str, list[str]]:
        """Per probe, the log lines (any MX, since the cursor) of its final delivery: status=sent to a
        mailbox transport, not a hand-over to another MX."""
        mx_marks = [h.address for h in self.inventory.mxs] + [h.name for h in self.inventory.mxs]
        finals: dict[str, list[str]] = {token: [] for token in self.deliveries}
        by_message_id = {d.probe.message_id: token for token, d in self.deliveries.items()}
        for host in self.inventory.mxs:
            for message_id, trails in postfix.trails_by_message_id(self.cursor.read(self.remote(host))).items():
                token = by_message_id.get(message_id)
                if token is None:
                    continue
                for trail in trails:
                    for event in trail.with_status("sent"):
                        if not any(mark in (event.relay or "") for mark in mx_marks):
                            finals[token].append(f"{host.name} log: {event.raw}")
        return finals

    def remove_probes(self) -> int:
        removed = 0
        done_locations: set[str] = set()
        for scan in self.scans():
            if scan.location in done_locations:
                continue
            done_locations.add(scan.location)
            removed += mailbox.remove_probes(self.remote(self.inventory.hosts[scan.host]), scan.base, self.maildirs, self.run_id)
        return removed


def recipient_maildirs(remote: Remote, recipients: list[str]) -> list[str]:
    """Ask Postfix where each recipient's Maildir is (virtual_mailbox_maps), relative to the mailbox base."""
    quoted = " ".join(shlex.quote(r) for r in recipients)
    output = remote.run(
        f"maps=$(postconf -h virtual_mailbox_maps); for r in {quoted}; do "
        f"printf '%s ' \"$r\"; postmap -q \"$r\" $maps 2>/dev/null || echo; done"
    ).stdout
    found = {}
    for line in output.splitlines():
        address, _, path = line.partition(" ")
        if path.strip():
            found[address] = path.strip()
    return [found.get(r) or "{1}/{0}/".format(*r.split("@", 1)) for r in recipients]
