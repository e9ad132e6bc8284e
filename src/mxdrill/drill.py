"""One failover drill — one scenario — and the operations its steps are made of.

The steps themselves, in order, are the table in `steps.py`; this module holds what they share:
the scenario, each MX's seams (MTA, log, mailbox store), the scenario's `Record`, and operations
such as "send this phase's probes" or "wait for the drain". Everything a step sees is appended to
the record as it happens, and the checkers judge from that record alone.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from mxdrill import dnscheck, pending, smtp
from mxdrill.checker import first_ten
from mxdrill.faults import Faults, Nemesis, vip
from mxdrill.faults.modes import EVERY_MX_QUEUES, MTA_STAYS_UP, TEMPFAILS, FaultTargets
from mxdrill.faults.modes import build as build_fault
from mxdrill.history import Kind, Record
from mxdrill.inventory import Host, Inventory
from mxdrill.load import SEQUENCE_BASE, LoadSettings, LoadStream
from mxdrill.locks import LocalLock, check_host_lock, release_host_lock, take_host_lock
from mxdrill.mailhost import MailHost, stores_of
from mxdrill.mta import QueuedMessage, trails_by_message_id
from mxdrill.mta.postfix import tables_of
from mxdrill.remote import Remote, RemoteError
from mxdrill.scenario import Scenario
from mxdrill.sender import SenderPath
from mxdrill.store import MailboxScan, MailboxStore
from mxdrill.waiting import WaitTimeout, poll_until, wait_for

Deliver = Callable[[smtp.Probe, list[smtp.MxTarget]], Awaitable[smtp.Delivery]]
# Postfix's refusal of a recipient it could not look up: `NOQUEUE: reject: RCPT from ...: 451 4.3.0 <...>: Temporary lookup failure`
RETRY_SECONDS = 1.0  # how soon the harness, as a sender, offers a 4xx-refused probe again (an MTA: minutes)
TEMPFAIL_LINE = re.compile(r"NOQUEUE: reject: RCPT from \S+: 4\d\d ")


def deliver_as_harness(probe: smtp.Probe, targets: list[smtp.MxTarget]) -> Awaitable[smtp.Delivery]:
    """The real SMTP client: MX by MX in preference order, as a sending MTA."""
    return smtp.deliver(probe, targets, helo=smtp.HARNESS_HELO)


def sender_targets(inventory: Inventory) -> list[smtp.MxTarget]:
    """MX hosts as a sender finds them: DNS preference order, mapped to inventory hosts by address."""
    by_address = {h.address: h for h in inventory.mxs}
    targets = []
    for record in dnscheck.mx_records(inventory.domain, inventory.nameserver):
        for address in dnscheck.addresses(record.exchange, inventory.nameserver):
            host = by_address.get(address)
            targets.append(smtp.MxTarget(record.preference, record.exchange, address, host.name if host else "?"))
    return targets


DATABASE_TABLES = frozenset({"mysql", "pgsql", "proxy", "ldap", "sqlite"})  # Postfix tables a user database answers


def queuers_of(scenario: Scenario) -> list[Host]:
    """The MXs that take the outage's probes and must hold them: the backup, or under `mailstore` the
    primary and the backup (the primary's MTA still runs: both queue for the store)."""
    if scenario.fault in EVERY_MX_QUEUES:
        return [scenario.primary, scenario.backup]
    return [scenario.backup]


def fault_targets(scenario: Scenario, inventory: Inventory, hosts: dict[str, MailHost],
                  support: dict[str, Remote]) -> FaultTargets:
    """What the scenario's fault is done to: the mail hosts it takes down (the primary first, or the mail store),
    the backup, the inventory's settle time and VIP, and the user database when one is declared."""
    userdb = support.get(inventory.userdb.name) if inventory.userdb is not None else None
    down = [hosts[h.name] for h in scenario.down if h.name in hosts]
    return FaultTargets(down, hosts[scenario.backup.name], inventory.mta_settle, inventory.vip, userdb)


def handed_over(relay: str, marks: list[str]) -> bool:
    """Whether a `status=sent` line's relay is a hand-over to another host of the inventory (an MX, or the
    mail store over SMTP), not a final delivery; a local socket (`store[private/dovecot-lmtp]`) is final."""
    if "[private/" in relay or "[/" in relay:
        return False
    return any(mark in relay for mark in marks)


@dataclass(frozen=True)
class QueuedProbe:
    token: str
    queue_id: str
    queue_name: str
    reason: str


@dataclass
class BackupEvidence:
    """What the backup's log and queue show of the probes it accepted during the outage."""

    queues: bool  # the backup must hold them in its queue (it relays to a dead primary, or lost its store)
    not_in_log: list[str] = field(default_factory=list)
    not_deferred: list[str] = field(default_factory=list)
    not_queued: list[str] = field(default_factory=list)
    not_in_mailbox: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)  # the log shows status=bounced: the sender got it back
    outside_store: dict[str, str] = field(default_factory=dict)  # token -> path written off the shared store
    queued: list[QueuedProbe] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        def listed(tokens: list[str]) -> str:
            return f"{len(tokens)}: {first_ten(tokens)}"

        found = []
        if self.not_in_log:
            found.append(f"mail log shows no acceptance of {listed(self.not_in_log)}")
        if self.not_deferred:
            found.append(f"mail log shows no status=deferred for {listed(self.not_deferred)}")
        if self.not_queued:
            found.append(f"queue (postqueue -j) lacks {listed(self.not_queued)}")
        if self.bounced:
            found.append(f"bounced (status=bounced: a sender would get its mail back, not delivered later) {listed(self.bounced)}")
        if self.not_in_mailbox:
            found.append(f"delivers itself but these probes are in no mailbox: {listed(self.not_in_mailbox)}")
        if self.outside_store:
            found.append(f"wrote probes onto its own disk while the shared store was gone (seed 003 Problème 3; "
                         f"make the mount point unwritable to vmail so it defers): {listed(sorted(self.outside_store))}")
        return found


@dataclass
class Drill:
    scenario: Scenario
    inventory: Inventory
    hosts: dict[str, MailHost]
    record: Record
    run_id: str
    nemesis: Nemesis
    probes_per_phase: int = 3
    deliver: Deliver = deliver_as_harness
    passed: set[str] = field(default_factory=set)
    cursors: dict[str, str] = field(default_factory=dict)
    run_cursors: dict[str, str] = field(default_factory=dict)  # the run's first cursor per host: site checks read from it
    targets: list[smtp.MxTarget] = field(default_factory=list)
    backup_role: str = "unknown"
    fault: Faults | None = None
    local_lock: LocalLock | None = None
    locked: list[str] = field(default_factory=list)  # hosts whose drill lock this drill holds
    started: float = field(default_factory=time.monotonic)
    via_sender: SenderPath | None = None  # --via sender: the sender host's MTA as a second probe path
    vias: tuple[str, ...] = ("harness",)  # the paths each phase's probes take (--via)
    load: LoadSettings | None = None  # --load: a stream of probes through the whole drill
    load_stream: LoadStream | None = None
    support: dict[str, Remote] = field(default_factory=dict)  # hosts a fault may take down that carry no mail (userdb)
    _sequence: int = 0
    _probes: dict[str, smtp.Probe] = field(default_factory=dict)  # what was sent, to send again (TEMPFAILS)

    # --- the hosts and the step order ---------------------------------------------------------

    @property
    def primary(self) -> MailHost:
        return self.hosts[self.scenario.primary.name]

    @property
    def backup(self) -> MailHost:
        return self.hosts[self.scenario.backup.name]

    def remote_of(self, name: str) -> Remote:
        """The SSH session of a host the scenario takes down: an MX, the mail store, or the user database."""
        return self.hosts[name].remote if name in self.hosts else self.support[name]

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

    # --- what the record already holds ----------------------------------------------------------

    def sent(self, phase: str | None = None) -> dict[str, str]:
        """Probe token → Message-Id of every probe sent (in `phase`, or in any)."""
        return {e.probe: e.data["message_id"] for e in self.record.of_kind(Kind.PROBE_SENT)
                if e.probe and (phase is None or e.data.get("phase") == phase)}

    def taken_by(self, host: str, phase: str | None = None) -> dict[str, str]:
        """Probe token → the queue id MX `host` gave it (in its 250 reply)."""
        wanted = self.sent(phase)
        return {e.probe: e.data["queue_id"] for e in self.record.of_kind(Kind.PROBE_ACCEPTED)
                if e.probe in wanted and e.host == host and e.data.get("queue_id")}

    def delivered(self) -> set[str]:
        return {e.probe for e in self.record.of_kind(Kind.PROBE_DELIVERED) if e.probe}

    # --- claiming the hosts ---------------------------------------------------------------------

    def claim(self) -> None:
        """Refuse to go on while an earlier run still owes a heal or another drill holds the hosts.

        A dead run's dead-man's switch could restart the primary in the middle of this outage, and
        two drills on one primary would judge each other's fault.
        """
        # only heals owed on this drill's MXs: a fleet's other domains may be mid-drill on other workers
        owed = [h for h in pending.owed_by_others(self.nemesis.state_path, self.run_id)
                if h.host in self.hosts or h.host in self.support]
        assert not owed, (
            "an earlier run still owes heals (" + ", ".join(f"{h.fault} on {h.host}, run {h.run or '?'}" for h in owed)
            + f"): run `mxdrill restore --hosts {self.inventory.path}` first")
        if self.local_lock is not None:
            self.local_lock.acquire()
        for host in self.scenario.down:
            check_host_lock(self.remote_of(host.name), self.run_id, self.stale_after)

    @property
    def stale_after(self) -> float:
        """No live drill holds a host lock longer than this: its deadline plus the dead-man window."""
        return self.inventory.drill_deadline + self.inventory.deadman_window

    def lock_hosts(self) -> None:
        for host in self.scenario.down:
            note = take_host_lock(self.remote_of(host.name), self.run_id, self.stale_after)
            self.locked.append(host.name)
            if note:
                self.record.append(Kind.EVIDENCE, host=host.name, line=note)

    def release(self) -> None:
        """Give the hosts' drill locks back (only after every heal ran: see the plugin's finalizer)."""
        for name in self.locked:
            release_host_lock(self.remote_of(name), self.run_id)
        self.locked.clear()

    # --- preparing ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Log cursors and facts of every MX; how the backup treats the domain."""
        self.record.append(Kind.SCENARIO, primary=self.scenario.primary.name, backup=self.scenario.backup.name,
                           fault=self.scenario.fault, faulted=[h.name for h in self.scenario.down])
        for name, host in self.hosts.items():
            host.store.mark(self.run_id)  # before any probe: scans read only what arrives after it
            self.cursors[name] = host.log.cursor()
            self.run_cursors.setdefault(name, self.cursors[name])
            self.record.append(Kind.HOST_FACTS, host=name, mta=host.mta.version(), log=host.log.describe())
        self.backup_role = self.backup.mta.delivery_role(self.inventory.domain, self.inventory.mailstore_marks)

    def resolve_targets(self) -> list[smtp.MxTarget]:
        self.targets = sender_targets(self.inventory)
        return self.targets

    # --- probes -------------------------------------------------------------------------------

    def path(self, via: str) -> Deliver:
        """The probe path by name: the harness's own SMTP client, or the declared sender host's MTA."""
        if via == "sender":
            assert self.via_sender is not None, "--via sender needs a declared mxdrill_sender host"
            return self.via_sender.deliver
        return self.deliver

    @property
    def peers(self) -> list[str]:
        """The MXs at the scenario's primary's own priority, the primary first: while all are up, any may take a probe."""
        return [mx.name for mx in self.inventory.peers_of(self.scenario.primary)]

    @property
    def tempfails(self) -> bool:
        """Under this fault every MX must answer the outage's probes 4xx (`userdb`): none is taken until the heal."""
        return self.scenario.fault in TEMPFAILS

    def send_again(self, phase: str) -> list[smtp.Delivery]:
        """Send this phase's probes that no MX took once more, as a sender's MTA retries a 4xx (same tokens)."""
        taken = {e.probe for e in self.record.of_kind(Kind.PROBE_ACCEPTED)}
        again = [self._probes[token] for token in self.sent(phase) if token not in taken and token in self._probes]
        return self._deliver_all([(probe, self.deliver, self.targets) for probe in again])

    def _deliver_all(self, probes: list[tuple[smtp.Probe, Deliver, list[smtp.MxTarget]]]) -> list[smtp.Delivery]:
        """Deliver every probe concurrently, each along its path to its targets; record every outcome."""
        async def send_all() -> list[smtp.Delivery]:
            return await asyncio.gather(*(deliver(p, targets) for p, deliver, targets in probes))

        deliveries = asyncio.run(send_all()) if probes else []
        for delivery in deliveries:
            self._record(delivery)
        return deliveries

    def vias_for(self, phase: str) -> tuple[str, ...]:
        """The paths of this phase's probes: under a fault that leaves the MTAs running (`vip`, `mailstore`,
        `userdb`) the outage's go by the harness only, which can address the VIP or one MX alone and retry a
        4xx at once (a sending MTA follows the MX records, and retries after minutes)."""
        if phase == "outage" and self.scenario.fault in MTA_STAYS_UP:
            return ("harness",)
        return self.vias

    @property
    def queuers(self) -> list[MailHost]:
        """The MXs that take the outage's probes and must queue them: the backup, or, with the mail store
        down (`mailstore`), every MX of the pair — the primary still runs, and both must hold the mail."""
        return [self.hosts[host.name] for host in queuers_of(self.scenario)]

    def target_groups(self, phase: str) -> list[list[smtp.MxTarget]]:
        """Where each share of this phase's probes goes: the MXs as a sender finds them, the VIP under
        `vip`, or under `mailstore` one share to each MX of the pair alone, so that each shows it queues."""
        if phase != "outage":
            return [self.targets]
        if self.scenario.fault in EVERY_MX_QUEUES:
            return [[t for t in self.targets if t.host == mx.name] for mx in self.queuers]
        return [self.outage_targets()]

    def send(self, phase: str) -> list[smtp.Delivery]:
        """Send this phase's probes concurrently along every path (--via), each trying MX after MX like an
        MTA; record every outcome."""
        probes: list[tuple[smtp.Probe, Deliver, list[smtp.MxTarget]]] = []
        for targets in self.target_groups(phase):
            for via in self.vias_for(phase):
                for _ in range(self.probes_per_phase):
                    self._sequence += 1
                    recipient = self.inventory.recipients[self._sequence % len(self.inventory.recipients)]
                    probe = smtp.make_probe(self.run_id, self._sequence, recipient, smtp.HARNESS_SENDER, phase)
                    self._probes[probe.token] = probe
                    self.record.append(Kind.PROBE_SENT, probe=probe.token, message_id=probe.message_id, phase=phase, via=via)
                    probes.append((probe, self.path(via), targets))
        return self._deliver_all(probes)

    # --- the load stream ------------------------------------------------------------------------

    def start_load(self) -> None:
        """Start the --load stream (once): its probes go out while the drill's steps go on."""
        if self.load is None or self.load_stream is not None:
            return
        recipients = self.inventory.recipients

        def make(number: int) -> smtp.Probe:
            return smtp.make_probe(self.run_id, SEQUENCE_BASE + number, recipients[number % len(recipients)],
                                   smtp.HARNESS_SENDER, "load")

        def sent(probe: smtp.Probe) -> None:
            self.record.append(Kind.PROBE_SENT, probe=probe.token, message_id=probe.message_id, phase="load", via="harness")

        self.load_stream = LoadStream(self.load, make, self.deliver, lambda: self.targets, sent, self._record)
        self.record.append(Kind.PHASE_END, name="load-start", plan=self.load.describe())
        self.load_stream.start()

    def await_load_share(self, fraction: float) -> None:
        """Before the fault (a third) and before the heal (two thirds): so the stream spans the outage."""
        stream = self.load_stream
        if stream is None:
            return
        remaining = max(self.inventory.drill_deadline - (time.monotonic() - self.started), 1.0)
        wait_for(lambda: stream.share_sent(fraction), remaining,
                 f"{fraction:.0%} of the {stream.settings.count} load probes to be sent")

    def finish_load(self, deadline: float) -> None:
        """Wait until every load probe was sent and taken by an MX (or refused for good); then stop the stream."""
        stream = self.load_stream
        if stream is None:
            return
        ended = stream.finish(deadline)
        stream.stop()
        if not ended:
            raise WaitTimeout(f"the load stream did not end within {deadline:g}s: {stream.sent} of "
                              f"{stream.settings.count} probes sent, {stream.settled} taken or refused")

    def stop_load(self) -> None:
        if self.load_stream is not None:
            self.load_stream.stop()

    def _record(self, delivery: smtp.Delivery) -> None:
        roles = {self.scenario.primary.name: "primary", self.scenario.backup.name: "backup"}
        for attempt in delivery.attempts:
            host, role = attempt.target.host, roles.get(attempt.target.host, "other")
            if attempt.outcome == "accepted":
                self.record.append(Kind.PROBE_ACCEPTED, probe=delivery.probe.token, host=host, role=role,
                                   queue_id=delivery.queue_id, reply=attempt.reply, tls=attempt.tls,
                                   at=attempt.started + attempt.elapsed)
            else:
                self.record.append(Kind.PROBE_REJECTED, probe=delivery.probe.token, host=host, role=role,
                                   code=attempt.code, message=attempt.reply, outcome=attempt.outcome)

    # --- the fault ----------------------------------------------------------------------------

    @property
    def backup_queues(self) -> bool:
        """Whether the backup must hold the outage's probes in its queue: it relays to a primary that
        takes no mail (not under `vip`: the primary's MTA still runs), or its store is gone (`storage`),
        or the mail store it forwards to is (`mailstore`)."""
        relaying = self.backup_role == "relays" and self.scenario.fault not in MTA_STAYS_UP
        return relaying or self.scenario.fault == "storage" or self.scenario.fault in EVERY_MX_QUEUES

    def fault_refusal(self) -> str | None:
        """Why this scenario's fault cannot be done on these hosts (the step is skipped, saying so), or None."""
        fault, backup = self.scenario.fault, self.scenario.backup.name
        if fault == "storage" and self.backup_role in ("relays", "forwards"):
            return (f"{backup} relays {self.inventory.domain} and delivers into no store: the storage fault "
                    f"needs a backup that delivers into the shared store itself")
        if fault == "mailstore" and self.backup_role != "forwards":
            return (f"{backup} does not forward {self.inventory.domain} to a mail store (declare the store in "
                    f"mxdrill_mailstore, and its transport_maps entry on the MXs)")
        if fault == "userdb" and not self.asks_a_database():
            return (f"no MX of {self.inventory.domain} looks its domains or users up in a database table (mysql:, "
                    f"pgsql:, proxy: in virtual_mailbox_domains/maps): stopping {self.scenario.down[0].name} would prove nothing")
        if fault == "vip":
            if self.inventory.vip is None:
                return f"{self.inventory.domain} declares no mxdrill_vip (the keepalived address)"
            held = self.vip_holders()
            if held != [self.scenario.primary.name]:
                return (f"the VIP {self.inventory.vip} is held by {', '.join(held) or 'no MX'}, not by the primary "
                        f"{self.scenario.primary.name} alone: heal keepalived first")
        return None

    def asks_a_database(self) -> bool:
        """Whether the primary's domain or mailbox lookups go to a database (the `userdb` fault's premise)."""
        values = self.primary.mta.config("virtual_mailbox_domains", "virtual_mailbox_maps")
        return any(table.split(":", 1)[0] in DATABASE_TABLES for value in values.values() for table in tables_of(value))

    def inject_fault(self) -> None:
        """Take down every host of the scenario; the nemesis registers each heal before any harm."""
        self.lock_hosts()
        self.fault = build_fault(self.scenario.fault, fault_targets(self.scenario, self.inventory, self.hosts, self.support))
        self.nemesis.inject(self.fault)
        if self.scenario.fault == "vip":
            self.await_vip_holder(self.backup.name, "takeover")

    def vip_holders(self) -> list[str]:
        assert self.inventory.vip is not None
        return vip.holders([self.hosts[mx.name].remote for mx in self.inventory.mxs], self.inventory.vip)

    def await_vip_holder(self, expected: str, what: str) -> float:
        """Until `expected`, and it alone, holds the VIP (split brain is a failure); its seconds are recorded."""
        seen: list[list[str]] = []

        def held_by_expected_alone() -> bool:
            seen.append(self.vip_holders())
            return seen[-1] == [expected]

        held, waited = poll_until(held_by_expected_alone, self.inventory.mta_settle, f"the VIP to move to {expected}", 0.05)
        self.record.append(Kind.WAIT, host=expected, what=f"vip {what}", seconds=waited)
        if held:
            self.record.append(Kind.PHASE_END, name=f"vip-{what}", seconds=waited, holders=seen[-1])
        else:
            both = " (split brain: senders reach either)" if len(seen[-1]) > 1 else ""
            raise WaitTimeout(f"after {waited:.1f}s the VIP {self.inventory.vip} is held by "
                              f"{', '.join(seen[-1]) or 'no host'}{both}, not by {expected} alone")
        return waited

    def outage_targets(self) -> list[smtp.MxTarget]:
        """Where the outage's probes go: the MXs as a sender finds them, or under `vip` the VIP itself."""
        if self.scenario.fault != "vip" or self.inventory.vip is None:
            return self.targets
        holder = ",".join(self.vip_holders()) or "?"
        return [smtp.MxTarget(0, self.inventory.vip, self.inventory.vip, holder)]

    def heal_and_drain(self, deadline: float) -> float:
        """Heal the fault, flush the backup, wait until its queue holds no probe and every probe is in a mailbox."""
        assert self.fault is not None, "the fault step ran before this one"
        self.nemesis.heal(self.fault)
        self.release()
        healed = time.monotonic()
        if self.scenario.fault == "vip":
            self.await_vip_holder(self.scenario.primary.name, "return")
        queuers = self.queuers
        if self.backup_role == "relays" or self.backup_queues or self.tempfails:
            flushed = {mx.name: mx for mx in [*queuers, *([self.primary] if self.tempfails else [])]}
            for mx in flushed.values():
                mx.mta.flush()  # under userdb: what an MX took before the fault and could not deliver
        if self.tempfails:  # the senders' retries: what every MX refused 4xx goes again until one takes it
            def all_taken() -> bool:
                return all(d.accepted for d in self.send_again("outage"))

            waited = wait_for(all_taken, deadline, "an MX to take the probes it refused 4xx during the outage",
                              interval=RETRY_SECONDS)
            self.record.append(Kind.WAIT, what="senders' retries taken", seconds=waited)
        ours = {mx.name: set(self.taken_by(mx.name).values()) for mx in queuers}
        wanted = set(self.sent())

        def drained() -> bool:
            queued = [{m.queue_id for m in mx.mta.queue()} & ours[mx.name] for mx in queuers]
            return not any(queued) and wanted <= self.poll_delivered()

        names = " and ".join(f"{mx.name}'s" for mx in queuers)
        waited = wait_for(drained, deadline, f"the drain of {names} queue into the mailboxes")
        self.record.append(Kind.WAIT, host=self.backup.name, what="drain", seconds=waited)
        return time.monotonic() - healed

    # --- the backup's evidence ------------------------------------------------------------------

    def backup_evidence(self, mx: MailHost | None = None) -> BackupEvidence:
        """One look at the backup's (or, under `mailstore`, each queueing MX's) log since the cursor and,
        if it must queue, its queue."""
        mx = mx or self.backup
        sent = self.sent("outage")
        expected = {queue_id: token for token, queue_id in self.taken_by(mx.name, "outage").items()}
        trails = trails_by_message_id(mx.mta.parse_log(mx.log.lines_since(self.cursors[mx.name])))
        evidence = BackupEvidence(queues=self.backup_queues)
        for token in expected.values():
            probe_trails = trails.get(sent[token], [])
            evidence.lines += [e.raw for t in probe_trails for e in t.events if e.message_id or e.status]
            if not any(t.accepted for t in probe_trails):
                evidence.not_in_log.append(token)
            if evidence.queues and not any(t.with_status("deferred") for t in probe_trails):
                evidence.not_deferred.append(token)
            if any(t.with_status("bounced") for t in probe_trails):
                evidence.bounced.append(token)
        if self.scenario.fault == "storage":  # what it wrote where its store should be, on its own disk
            scan = mx.store.scan(self.run_id, fresh=True)
            evidence.outside_store = {token: scan.paths[token][0] for token in scan.copies if token in expected.values()}
        if evidence.queues:
            queue: dict[str, QueuedMessage] = {m.queue_id: m for m in mx.mta.queue()}
            for queue_id, token in expected.items():
                entry = queue.get(queue_id)
                if entry is None:
                    evidence.not_queued.append(token)
                else:
                    reason = next((r for _a, r in entry.recipients if r), "")
                    evidence.queued.append(QueuedProbe(token, queue_id, entry.queue_name, reason))
        else:  # a backup that delivers itself: the probes must already be in the shared mailbox
            delivered = self.poll_delivered()
            evidence.not_in_mailbox = [token for token in expected.values() if token not in delivered]
        return evidence

    def await_backup_evidence(self, deadline: float, mx: MailHost | None = None) -> BackupEvidence:
        """Until the backup's (or `mx`'s) log and queue show every outage probe it took, or the deadline;
        the last look is recorded."""
        mx = mx or self.backup
        seen: list[BackupEvidence] = []

        def complete() -> bool:  # or hopeless: a probe written off the shared store stays there
            seen.append(self.backup_evidence(mx))
            return not seen[-1].problems() or bool(seen[-1].outside_store)

        _, waited = poll_until(complete, deadline, f"{mx.name}'s queue and log to show the probes", 0.1)
        self.record.append(Kind.WAIT, host=mx.name, what="backup queue/log evidence", seconds=waited)
        evidence = seen[-1]
        for line in evidence.lines:
            self.record.append(Kind.EVIDENCE, host=mx.name, line=line)
        for token, path in evidence.outside_store.items():  # the checker counts it as a copy off the home store
            self.record.append(Kind.PROBE_FOUND, probe=token, host=mx.name, count=1, path=path,
                               location=f"{mx.name}:{mx.host.mailbox_base} (local: the shared store was unmounted)")
        for queued in evidence.queued:
            self.record.append(Kind.PROBE_QUEUED, probe=queued.token, host=mx.name,
                               queue_id=queued.queue_id, queue_name=queued.queue_name, reason=queued.reason)
        return evidence

    def await_tempfail_evidence(self, deadline: float) -> list[str]:
        """Until each MX that refused outage probes 4xx shows as many refusals in its log (`NOQUEUE: reject: RCPT
        ... 4xx`), or the deadline; what is still missing, per MX. The lines are recorded. (A lower bound: a load
        stream's refusals are in the same log.)"""
        outage = set(self.sent("outage"))
        refused = Counter(e.host for e in self.record.of_kind(Kind.PROBE_REJECTED)
                          if e.probe in outage and e.host in self.hosts and 400 <= (e.data.get("code") or 0) < 500)
        seen: dict[str, list[str]] = {}

        def complete() -> bool:
            for name in refused:
                mx = self.hosts[name]
                seen[name] = [line for line in mx.log.lines_since(self.cursors[name]) if TEMPFAIL_LINE.search(line)]
            return all(len(seen[name]) >= count for name, count in refused.items())

        _, waited = poll_until(complete, deadline, "each MX's log to show its 4xx refusals", 0.1)
        self.record.append(Kind.WAIT, what="tempfail evidence", seconds=waited)
        for name, lines in seen.items():
            for line in lines:
                self.record.append(Kind.EVIDENCE, host=name, line=line)
        return [f"{name}: its log shows {len(seen.get(name, []))} 4xx refusals at RCPT, not the {count} it gave the outage probes"
                for name, count in refused.items() if len(seen.get(name, [])) < count]

    # --- mailboxes ------------------------------------------------------------------------------

    @property
    def stores(self) -> list[MailboxStore]:
        """Each distinct mailbox store once: every MX's Maildir, or the one mail store every MX relays to."""
        return list(stores_of(self.hosts).values())

    def scans(self, fresh: bool = False) -> list[MailboxScan]:
        """One command per store host, all at once (each over its own SSH session): every copy of every
        probe of this run, with the storage location it sits in. A poll costs the slowest host, not their sum."""
        stores = self.stores
        with ThreadPoolExecutor(max_workers=len(stores) or 1) as pool:
            return list(pool.map(lambda store: store.scan(self.run_id, fresh), stores))

    def poll_delivered(self) -> set[str]:
        """Scan the mailboxes once; the first sighting of a probe is its `probe.delivered` event."""
        found = {token for scan in self.scans() for token in scan.copies}
        for token in sorted(found - self.delivered()):
            self.record.append(Kind.PROBE_DELIVERED, probe=token)
        return found

    def await_delivered(self, deadline: float, phase: str | None = None) -> set[str]:
        """Wait until every probe (of `phase`, or all) is in some mailbox, or the deadline; returns the missing."""
        wanted = set(self.sent(phase))
        _, waited = poll_until(lambda: wanted <= self.poll_delivered(), deadline,
                               f"the {phase or 'remaining'} probes to reach a mailbox", 0.05)
        self.record.append(Kind.WAIT, what=f"deliveries ({phase or 'all'})", seconds=waited)
        return wanted - self.delivered()

    def record_found(self) -> None:
        """Scan once more, every directory read afresh, and record every copy; the primary's storage
        location is the probes' home."""
        scans = self.scans(fresh=True)
        home = next((scan.location for scan in scans if scan.host == self.primary.store.host), None)
        if home is not None:
            self.record.append(Kind.STORE_HOME, host=self.scenario.primary.name, location=home)
        for scan in scans:
            for token, count in scan.copies.items():
                self.record.append(Kind.PROBE_FOUND, probe=token, host=scan.host, location=scan.location,
                                   count=count, path=scan.paths[token][0], route=scan.routes.get(token, []))

    def final_deliveries(self) -> dict[str, list[str]]:
        """Per probe, the log lines (any MX, since the cursor) of its final delivery: status=sent to a
        mailbox transport, not a hand-over to another MX. Each line is recorded as evidence."""
        handed_to = [h.address for h in self.inventory.mxs] + [h.name for h in self.inventory.mxs]
        if self.inventory.mailstore is not None:  # the MXs' relay to it; its own LMTP delivery is the final one
            handed_to += [self.inventory.mailstore.name + "[", f"[{self.inventory.mailstore.address}]"]
        by_message_id = {message_id: token for token, message_id in self.sent().items()}
        finals: dict[str, list[str]] = {token: [] for token in by_message_id.values()}
        for name, host in self.hosts.items():
            trails = trails_by_message_id(host.mta.parse_log(host.log.lines_since(self.cursors[name])))
            for message_id, host_trails in trails.items():
                token = by_message_id.get(message_id)
                if token is None:
                    continue
                for trail in host_trails:
                    for event in trail.with_status("sent"):
                        if not handed_over(event.relay or "", handed_to):
                            finals[token].append(event.raw)
                            self.record.append(Kind.EVIDENCE, probe=token, host=name, line=event.raw)
        return finals

    def unmark(self) -> None:
        """Remove every MX's mailbox cursor of this drill (best effort: a host may be unreachable now)."""
        for host in self.hosts.values():
            try:
                host.store.unmark(self.run_id)
            except RemoteError:
                continue

    def remove_probes(self) -> int:
        """Delete this run's probes, once per distinct storage location."""
        removed, done = 0, set()
        for store, scan in zip(self.stores, self.scans()):
            if scan.location not in done:
                done.add(scan.location)
                removed += store.remove(self.run_id)
        return removed
