"""The failover drill of seed 003 ("Test de basculement"), end to end, for each (primary, backup) pair.

Steps run in order and share one `drill`; a step whose preconditions failed is skipped with the
reason, so nothing disruptive runs unless preflight found the backup healthy.
"""

from __future__ import annotations

import pytest

from mxdrill import checker
from mxdrill.drill import Drill
from mxdrill.preflight import (
    accepts_domain,
    dns_matches_inventory,
    refuses_relay,
    same_store,
    smtp_answers,
    storage_mount,
)


def primary_phase(drill: Drill, phase: str) -> None:
    """With the primary up, it takes every probe of the phase (first by MX priority) and delivers it."""
    primary = drill.scenario.primary.name
    takers = {d.probe.token: d.accepted.target.host if d.accepted else None for d in drill.send(phase)}
    assert all(taker == primary for taker in takers.values()), f"probes not all taken by {primary}: {takers}"
    missing = drill.await_delivered(drill.inventory.drain_deadline, phase)
    assert not missing, f"{primary} took these probes but they reached no mailbox: {sorted(missing)}"


class TestFailover:
    def test_preflight_backup_is_healthy(self, drill: Drill) -> None:
        """DNS as declared, both MXs answer, the backup takes the domain and refuses relaying."""
        inventory, backup = drill.inventory, drill.scenario.backup
        findings = [
            dns_matches_inventory(inventory),
            smtp_answers(drill.scenario.primary),
            smtp_answers(backup),
            accepts_domain(backup, inventory.recipients[0]),
            refuses_relay(backup),
        ]
        drill.prepare()
        if drill.backup_role == "delivers":
            pair = [drill.primary, drill.backup]
            findings += [storage_mount(r, r.host.mailbox_base, inventory.storage_fstype) for r in pair]
            findings.append(same_store(pair, backup.mailbox_base))
        for finding in findings:
            drill.history.append("preflight", host=finding.host, check=finding.check, ok=finding.ok, detail=finding.detail)
        bad = [f"{f.check} on {f.host}: {f.detail}" for f in findings if not f.ok]
        assert not bad, "backup not healthy, nothing disruptive will run: " + " | ".join(bad)
        drill.resolve_targets()
        drill.mark("preflight")

    def test_primary_takes_probes_while_up(self, drill: Drill) -> None:
        drill.require("preflight")
        primary_phase(drill, "before")
        drill.mark("before")

    @pytest.mark.disruptive
    def test_stop_primary(self, drill: Drill) -> None:
        drill.require("preflight", "before")
        drill.stop_primary()
        drill.mark("stopped")

    @pytest.mark.disruptive
    def test_backup_accepts_probes_during_outage(self, drill: Drill, record_property) -> None:
        drill.require("stopped")
        deliveries = drill.send("outage")
        problems = [
            f"{d.probe.token}: " + "; ".join(f"{a.target.name} {a.outcome} {a.code} {a.reply}" for a in d.attempts)
            for d in deliveries
            if not d.accepted or d.accepted.target.host != drill.scenario.backup.name or not d.queue_id
        ]
        assert not problems, "the backup did not take every probe: " + " | ".join(problems)
        record_property("failover_seconds", checker.failover_seconds(drill.history))
        drill.mark("outage")

    @pytest.mark.disruptive
    def test_backup_queue_and_log_show_each_probe(self, drill: Drill) -> None:
        """The backup's mail log shows each probe accepted; a queueing backup also shows it deferred
        in its log and queued in `postqueue -j` (waited for: the backup's first try of the primary takes a moment)."""
        drill.require("outage")
        evidence = drill.await_backup_evidence(drill.inventory.drain_deadline)
        assert not evidence.problems(), f"{drill.scenario.backup.name}: " + "; ".join(evidence.problems())
        for queued in evidence.queued:
            drill.history.append("probe.queued", probe=queued.token, host=drill.scenario.backup.name,
                                 queue_id=queued.queue_id, queue_name=queued.queue_name, reason=queued.reason)
        drill.mark("queued")

    @pytest.mark.disruptive
    def test_restart_primary_and_drain(self, drill: Drill, record_property) -> None:
        drill.require("stopped")
        seconds = drill.heal_and_drain(drill.inventory.drain_deadline)
        drill.history.append("phase.end", name="drain", seconds=seconds)
        record_property("drain_seconds", checker.drain_seconds(drill.history))
        drill.mark("drained")

    def test_primary_is_preferred_again(self, drill: Drill) -> None:
        """Seed 003 step 7: with the primary back, new mail goes to it again."""
        drill.require("drained")
        primary_phase(drill, "after")
        drill.mark("after")

    def test_each_probe_delivered_exactly_once(self, drill: Drill, record_property) -> None:
        """Seed 003 Problème 3: counted by Message-Id over every distinct mailbox location."""
        drill.require("before")
        drill.await_delivered(drill.inventory.drain_deadline)
        drill.record_found()
        verdict = checker.check_delivered_once(drill.history, drill.deliveries, home=drill.home)
        for name, value in checker.ledger(drill.history, drill.deliveries).items():
            record_property(f"probes_{name}", value)
        assert verdict.status == "pass", verdict.detail
        drill.mark("delivered-once")

    def test_logs_show_one_final_delivery_of_each_probe(self, drill: Drill) -> None:
        """Seed 003 step 8: the MXs' logs (only lines since the drill began) prove where each probe ended."""
        drill.require("delivered-once")
        finals = drill.final_deliveries()
        drill.findings += [line for lines in finals.values() for line in lines if line not in drill.findings]
        wrong = {token: len(lines) for token, lines in finals.items() if len(lines) != 1}
        assert not wrong, f"probes without exactly one final delivery in the logs (token: count): {wrong}"
