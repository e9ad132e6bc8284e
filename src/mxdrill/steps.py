"""THE table of drill steps — seed 003's "Test de basculement", in order.

Each row says what the step is called (for the postmaster, and as its pytest item), which earlier
steps it requires, whether it disrupts a host (interlock), what it does, its line in the
`--dry-run` plan, and which later step heals what it harms. Everything else is derived from this
table: the pytest items of the drill (`drill_class`), the plan (`plan.py`), the kill campaign's
list of steps (`campaign_steps`), and the step names in the reports. Adding a step is one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mxdrill import checker, dnscheck
from mxdrill.drill import Drill, fault_targets, first_ten, queuers_of
from mxdrill.faults import DeadManArmed, Faults, shown
from mxdrill.faults.modes import EVERY_MX_QUEUES, TEMPFAILS
from mxdrill.faults.modes import build as build_fault
from mxdrill.history import Kind
from mxdrill.inventory import Inventory
from mxdrill.load import LoadSettings
from mxdrill.locks import DrillLocked
from mxdrill.mailhost import MailHost
from mxdrill.pending import PendingError
from mxdrill.remote import Remote, RemoteError
from mxdrill.scenario import Scenario
from mxdrill.survey import Survey, drill_preflight
from mxdrill.waiting import WaitTimeout

Report = Callable[[str, object], None]  # a step's numbers as JUnit properties (pytest's record_property)


@dataclass(frozen=True)
class PlanContext:
    """What a plan line may mention: the inventory, the scenario, the probes, the hosts' seams (unconnected)."""

    inventory: Inventory
    scenario: Scenario
    probes: int
    hosts: dict[str, MailHost]
    load: LoadSettings | None = None
    support: dict[str, Remote] = field(default_factory=dict)  # the user database, for the userdb fault's lines


@dataclass(frozen=True)
class Step:
    name: str  # what `requires` and the skip messages call it
    test_name: str  # its pytest item
    title: str  # what a postmaster reads in the report
    requires: tuple[str, ...]
    disruptive: bool
    run: Callable[[Drill, Report], None]
    plan: Callable[[PlanContext], str] | None  # None: its work is in the line before it (it only reads)
    healed_by: str | None = None  # the step that undoes its harm (the finalizer heals too, whatever happens)


# --- what each step does ------------------------------------------------------------------------


def check_preflight(drill: Drill, report: Report) -> None:
    """The preflight table's checks (survey.CHECKS) over this drill's primary and backup, each finding
    recorded; an error in any of them stops the drill before anything disruptive."""
    drill.claim()
    drill.prepare()
    survey = Survey(drill.inventory, drill.hosts, drill.run_id, drill.record.history, drill.record.scenario)
    findings = drill_preflight(survey, [drill.scenario.primary, drill.scenario.backup])
    for warned in (f for f in findings if not f.ok and not f.blocks):
        report(f"preflight_warning_{warned.check}_{warned.host}", warned.message)
    bad = [f"{f.check} on {f.host}: {f.message}" for f in findings if f.blocks]
    assert not bad, "backup not healthy, nothing disruptive will run: " + " | ".join(bad)
    drill.resolve_targets()


def primary_takes(phase: str) -> Callable[[Drill, Report], None]:
    """With the primary up, it takes every probe of the phase (first by MX priority) and delivers it; with MXs
    at the primary's own priority, they share the probes (the split is reported: the seed's round-robin
    distribution is "pas garanti", so only the load run judges it)."""
    def run(drill: Drill, report: Report) -> None:
        peers = drill.peers
        if phase == "before":
            drill.start_load()
        takers = {d.probe.token: d.accepted.target.host if d.accepted else None for d in drill.send(phase)}
        others = {token: taker for token, taker in takers.items() if taker not in peers}
        assert not others, (f"{len(others)} of {len(takers)} probes not taken by {' or '.join(peers)}: "
                            + first_ten([f"{token} by {taker or 'no MX'}" for token, taker in sorted(others.items())]))
        if len(peers) > 1:
            report(f"split_{phase}", checker.describe_split(Counter(takers.values()), peers))
        missing = drill.await_delivered(drill.inventory.drain_deadline, phase)
        assert not missing, f"{' and '.join(peers)} took {len(missing)} probes that reached no mailbox: {first_ten(sorted(missing))}"
    return run


def inject_fault(drill: Drill, report: Report) -> None:
    refusal = drill.fault_refusal()
    if refusal is not None:
        pytest.skip(f"{drill.scenario.fault} fault not run: {refusal}")
    drill.await_load_share(1 / 3)
    drill.inject_fault()
    if drill.scenario.fault == "vip":
        report("vip_takeover_seconds", checker.vip_seconds(drill.record, "takeover"))


def every_mx_tempfails(drill: Drill, deliveries: list) -> None:
    """Under `userdb` no MX may take a probe, and every MX must refuse it 4xx: a 5xx bounces the mail."""
    problems = [
        f"{d.probe.token}: " + "; ".join(f"{a.target.name} {a.outcome} {a.code} {a.reply}" for a in d.attempts)
        for d in deliveries
        if d.accepted or not d.attempts or any(not (a.code and 400 <= a.code < 500) for a in d.attempts)
    ]
    assert not problems, (f"with the user database down every MX must answer 4xx (a temporary lookup failure), but "
                          f"{len(problems)} of {len(deliveries)} probes were taken or refused for good: " + first_ten(problems, " | "))


def backup_accepts(drill: Drill, report: Report) -> None:
    """The backup takes every outage probe (under `mailstore`, each MX takes those sent to it alone; under
    `userdb`, every MX refuses each one 4xx)."""
    deliveries = drill.send("outage")
    if drill.tempfails:
        every_mx_tempfails(drill, deliveries)
        return
    takers = {mx.name for mx in drill.queuers}
    problems = [
        f"{d.probe.token}: " + "; ".join(f"{a.target.name} {a.outcome} {a.code} {a.reply}" for a in d.attempts)
        for d in deliveries
        if not d.accepted or d.accepted.target.host not in takers or not d.queue_id
    ]
    who = " and ".join(sorted(takers))
    assert not problems, f"{who} did not take {len(problems)} of {len(deliveries)} probes: " + first_ten(problems, " | ")
    report("failover_seconds", checker.failover_seconds(drill.record))
    for via in drill.vias if len(drill.vias) > 1 else ():
        report(f"failover_seconds_via_{via}", checker.failover_seconds(drill.record, via))


def backup_shows_probes(drill: Drill, report: Report) -> None:
    """The backup's mail log shows each probe accepted; a queueing backup also shows it deferred in its
    log and queued in `postqueue -j` (waited for: the backup's first try of the primary takes a moment).
    Under `userdb`, each MX's log shows its 4xx refusals."""
    if drill.tempfails:
        missing = drill.await_tempfail_evidence(drill.inventory.drain_deadline)
        assert not missing, " | ".join(missing)
        return
    problems = [f"{mx.name}: " + "; ".join(evidence.problems())
                for mx in drill.queuers
                for evidence in [drill.await_backup_evidence(drill.inventory.drain_deadline, mx)] if evidence.problems()]
    assert not problems, " | ".join(problems)


def heal_and_drain(drill: Drill, report: Report) -> None:
    drill.await_load_share(2 / 3)
    seconds = drill.heal_and_drain(drill.inventory.drain_deadline)
    drill.record.append(Kind.PHASE_END, name="drain", seconds=seconds)
    report("drain_seconds", checker.drain_seconds(drill.record))


def delivered_once(drill: Drill, report: Report) -> None:
    """Seed 003 Problème 3: counted by Message-Id over every distinct mailbox location (the load stream's
    probes too, once it has ended)."""
    drill.finish_load(drill.inventory.drain_deadline)
    drill.await_delivered(drill.inventory.drain_deadline)
    drill.record_found()
    for name, value in checker.ledger(drill.record).items():
        report(f"probes_{name}", value)
    verdict = checker.check_delivered_once(drill.record)
    assert verdict.status == "pass", verdict.detail
    if len(drill.peers) > 1 and drill.load is not None:  # the seed's round-robin: both share, in some proportion
        split = checker.split_while_up(drill.record, "load")
        report("split_load", checker.describe_split(split, drill.peers))
        idle = [peer for peer in drill.peers if not split.get(peer)]
        assert not idle, (f"{' and '.join(idle)} took none of the {sum(split.values())} load probes sent while every MX "
                          f"at MX {drill.scenario.primary.mx_priority} was up ({checker.describe_split(split, drill.peers)}): "
                          "senders do not share the mail between equal MX records here")


def one_final_delivery(drill: Drill, report: Report) -> None:
    """Seed 003 step 8: the MXs' logs (only lines since the drill began) prove where each probe ended; a probe
    the fault caught in flight may end twice (SMTP's at-least-once, named by the delivered-once check)."""
    caught = checker.in_flight_at_fault(drill.record)
    wrong = {token: len(lines) for token, lines in drill.final_deliveries().items()
             if len(lines) != 1 and not (len(lines) == 2 and token in caught)}
    assert not wrong, (f"{len(wrong)} probes without exactly one final delivery in the logs (token: count): "
                       + first_ten([f"{token}: {count}" for token, count in sorted(wrong.items())]))


# --- what each step's plan line says ---------------------------------------------------------------

def plan_preflight(c: PlanContext) -> str:
    primary, backup, inv = c.scenario.primary, c.scenario.backup, c.inventory
    return (f"preflight: MX, PTR and SPF of {inv.domain} at {inv.nameserver or 'the system resolver'}; "
            f"banner, EHLO and STARTTLS at every address of {primary.name} and {backup.name}; RCPT {inv.recipients[0]}, "
            f"a foreign and an unknown recipient at {backup.name}; `postconf -h` on both; "
            + (f"`sendmail -bv {inv.recipients[0]}` on each toward the mail store {inv.mailstore.name}" if inv.mailstore
               else f"mount of {backup.mailbox_base}; `postmap -q` of the domain and {inv.recipients[0]} on both"))


def planned_fault(c: PlanContext) -> Faults:
    return build_fault(c.scenario.fault, fault_targets(c.scenario, c.inventory, c.hosts, c.support))


def plan_fault(c: PlanContext) -> str:
    fault = planned_fault(c)
    window = c.inventory.deadman_window
    return "; ".join(
        f"on {part.host}: arm dead-man's switch (after {window:g}s: `{shown(part.heal_command())}`), "
        f"record the heal in the pending-heals file, then {part.describe()}" for part in fault.parts)


def plan_heal(c: PlanContext) -> str:
    fault = planned_fault(c)
    heals = "; ".join(f"`{shown(part.heal_command())}` on {part.host}" for part in reversed(fault.parts))
    flushed = [h.name for h in queuers_of(c.scenario)]
    retry = "; offer the probes refused 4xx again every second until an MX takes them" if c.scenario.fault in TEMPFAILS else ""
    return (f"heal on {', '.join(h.name for h in c.scenario.down)}: {heals}; cancel the dead-man's switch{retry}; "
            f"on {' and '.join(flushed)}: `postqueue -f`; wait ≤ {c.inventory.drain_deadline:g}s for the drain")


def plan_outage(c: PlanContext) -> str:
    """What the outage's probes must show under this fault."""
    backup = c.scenario.backup.name
    if c.scenario.fault in TEMPFAILS:
        return f"{c.probes} probes during the outage (expected: every MX answers 4xx, none takes them); read each MX's mail log"
    takers = " and ".join(h.name for h in queuers_of(c.scenario))
    each = " (to each alone)" if c.scenario.fault in EVERY_MX_QUEUES else ""
    return f"{c.probes} probes during the outage{each} (expected: {takers} takes them); read {takers}'s mail log and `postqueue -j`"


def plan_delivered_once(c: PlanContext) -> str:
    keep = "keep the probes" if c.inventory.keep_probes else "then delete the probes"
    store = c.inventory.mailstore
    scan = (f"one `doveadm fetch -A` on the mail store {store.name}, every folder" if store is not None
            else f"one mailbox scan per MX under {c.scenario.primary.mailbox_base}")
    return f"{scan}: each probe exactly once, and one final delivery of each in the logs; {keep}"


# --- THE table -------------------------------------------------------------------------------------

STEPS: list[Step] = [
    Step("preflight", "test_preflight_backup_is_healthy", "preflight: the backup is healthy",
         (), False, check_preflight, plan_preflight),
    Step("before", "test_primary_takes_probes_while_up", "the primary takes probes while up",
         ("preflight",), False, primary_takes("before"),
         lambda c: (f"{c.probes} probes by MX priority (expected: {c.scenario.primary.name} takes them)"
                    + (f"; start the stream of {c.load.describe()}" if c.load else ""))),
    Step("stopped", "test_stop_primary", "fault the primary",
         ("preflight", "before"), True, inject_fault, plan_fault, healed_by="drained"),
    Step("outage", "test_backup_accepts_probes_during_outage", "the backup accepts probes during the outage",
         ("stopped",), True, backup_accepts, plan_outage),
    Step("queued", "test_backup_queue_and_log_show_each_probe", "the backup's queue and log show each probe",
         ("outage",), True, backup_shows_probes, None),
    Step("drained", "test_restart_primary_and_drain", "heal the primary and drain the backup",
         ("stopped",), True, heal_and_drain, plan_heal),
    Step("after", "test_primary_is_preferred_again", "the primary is preferred again",
         ("drained",), False, primary_takes("after"),
         lambda c: f"{c.probes} probes with {c.scenario.primary.name} back (expected: {c.scenario.primary.name} takes them)"),
    Step("delivered-once", "test_each_probe_delivered_exactly_once", "each probe delivered exactly once",
         ("before",), False, delivered_once, plan_delivered_once),
    Step("final-delivery", "test_logs_show_one_final_delivery_of_each_probe", "the logs show one final delivery of each probe",
         ("delivered-once",), False, one_final_delivery, None),
]

CLEAN_UP_AFTER = "delivered-once"  # a drill that got this far removes its probes (unless told to keep them)


def by_test_name(name: str) -> Step | None:
    return next((s for s in STEPS if s.test_name == name), None)


def campaign_steps() -> list[str]:
    """The pytest names the harness-fault campaign ends the drill after: every step but the last
    (ending after the last step is the same as a finished run)."""
    return [s.test_name for s in STEPS[:-1]]


# --- the pytest items ------------------------------------------------------------------------------

# Errors whose message is the whole story (one line naming the host and what to do): no traceback.
KNOWN_ERRORS = (RemoteError, WaitTimeout, PendingError, DrillLocked, DeadManArmed, dnscheck.DnsError)


def run_step(step: Step, drill: Drill, report: Report) -> None:
    """Skip unless the required steps passed (and the drill deadline holds); run; mark it passed."""
    drill.require(*step.requires)
    try:
        step.run(drill, report)
    except KNOWN_ERRORS as error:
        pytest.fail(str(error), pytrace=False)
    drill.mark(step.name)


def _item(step: Step) -> Callable[..., None]:
    def test(self: object, drill: Drill, request: pytest.FixtureRequest) -> None:
        # the item's user_properties, as record_property fills them, without its warning under xunit2
        # (a user's directory without junit_family): xunit1 writes them to junit.xml, xunit2 leaves them out
        run_step(step, drill, lambda name, value: request.node.user_properties.append((name, value)))

    test.__name__ = test.__qualname__ = step.test_name
    test.__doc__ = step.title
    return pytest.mark.disruptive(test) if step.disruptive else test


def drill_class(name: str = "TestFailover") -> type:
    """A test class with one method per step of the table, in order: what `pytest --hosts=...` runs."""
    namespace: dict[str, Any] = {"__doc__": __doc__.splitlines()[0]}
    for step in STEPS:
        namespace[step.test_name] = _item(step)
    return type(name, (), namespace)
