"""The whole table of steps against fake seams (tests/unit/fakes.py): every step after preflight, in
order, for one and for two backups, in a delivering and in a queueing topology — no host involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import World
from mxdrill import checker, pending
from mxdrill.drill import Drill
from mxdrill.faults import Nemesis
from mxdrill.history import History, Kind
from mxdrill.inventory import Inventory, load_inventory
from mxdrill.scenario import Scenario, scenarios
from mxdrill.steps import STEPS, run_step

REPO = Path(__file__).resolve().parents[2]
MX3 = """        mx3.example.test:
          ansible_host: 198.51.100.13
          mxdrill_mx_priority: 30
"""


def lab_inventory(tmp_path: Path, backups: int) -> Inventory:
    text = (REPO / "hosts.yml").read_text()
    if backups == 2:
        text = text.replace("          mxdrill_mx_priority: 20\n", "          mxdrill_mx_priority: 20\n" + MX3, 1)
    path = tmp_path / "hosts.yml"
    path.write_text(text)
    return load_inventory(path)


def run_drill(world: World, history: History, scenario: Scenario, number: int, tmp_path: Path) -> dict[str, object]:
    """Every step after preflight, as the plugin runs them, then the plugin's clean-up of the probes."""
    record = history.record(scenario.id)
    nemesis = Nemesis(record, pending.state_file(tmp_path / "hosts.yml"), f"run-{number}", window=30)
    drill = Drill(scenario, world.inventory, world.hosts, record, f"run-{number}", nemesis, deliver=world.deliver)
    drill.prepare()
    drill.targets = world.targets
    drill.mark("preflight")  # DNS and SMTP preflight need real servers: the lab tests cover them
    reported: dict[str, object] = {}
    for step in STEPS[1:]:
        run_step(step, drill, reported.__setitem__)
        record.append(Kind.STEP_END, step=step.name, when="call", outcome="passed")
    assert not nemesis.pending and pending.load(nemesis.state_path) == []
    assert drill.remove_probes() == 9
    assert {(h, f"run-{number}") for h in world.hosts} <= world.marked  # every MX's mailbox cursor, set before any probe
    drill.unmark()
    assert not world.marked
    return reported


@pytest.mark.parametrize("relays", [(), ("mx2.example.test",)], ids=["shared", "relay"])
def test_every_step_passes_on_a_healthy_system(tmp_path: Path, relays: tuple[str, ...]) -> None:
    world = World(lab_inventory(tmp_path, 1), relays)
    history = History()
    (scenario,) = scenarios(world.inventory)
    reported = run_drill(world, history, scenario, 1, tmp_path)
    record = history.record(scenario.id)
    assert checker.scenario_verdict(record).status == "pass"
    assert reported["probes_sent"] == 9 and reported["probes_accepted_by_backup"] == 3
    assert reported["failover_seconds"] is not None and reported["drain_seconds"] is not None
    assert len(record.of_kind(Kind.PROBE_QUEUED)) == (3 if relays else 0)
    assert world.mtas["mx1.example.test"].is_running and not world.mailbox  # healed, probes removed


def test_two_backups_each_drill_takes_down_what_senders_prefer_and_is_judged_alone(tmp_path: Path) -> None:
    world = World(lab_inventory(tmp_path, 2))
    history = History()
    first, second = scenarios(world.inventory)
    for number, scenario in enumerate((first, second), 1):
        run_drill(world, history, scenario, number, tmp_path)
    faulted = [e.host for e in history.record(second.id).of_kind(Kind.FAULT_INJECTED)]
    assert faulted == ["mx1.example.test", "mx2.example.test"]
    taken = {e.host for e in history.record(second.id).of_kind(Kind.PROBE_ACCEPTED) if e.data["role"] == "backup"}
    assert taken == {"mx3.example.test"}
    for scenario in (first, second):
        record = history.record(scenario.id)
        assert checker.scenario_verdict(record).status == "pass", checker.scenario_verdict(record).detail
        assert checker.ledger(record)["sent"] == 9
    assert all(mta.is_running for mta in world.mtas.values())


def test_a_lost_probe_fails_the_exactly_once_step_naming_it(tmp_path: Path) -> None:
    world = World(lab_inventory(tmp_path, 1))
    history = History()
    (scenario,) = scenarios(world.inventory)
    original = world.mtas["mx2.example.test"].accept

    def lose(message_id: str) -> str:  # the backup says 250 but never delivers: mail lost
        queue_id = original(message_id)
        del world.mailbox[message_id.split("@")[0]]
        return queue_id

    world.mtas["mx2.example.test"].accept = lose  # type: ignore[method-assign]
    world.inventory = world.inventory.model_copy(update={"drain_deadline": 0.2})
    with pytest.raises(AssertionError, match="in no mailbox"):
        run_drill(world, history, scenario, 1, tmp_path)


def test_a_load_stream_spans_the_fault_and_every_probe_of_it_is_accounted(tmp_path: Path) -> None:
    from mxdrill.load import LoadSettings

    world = World(lab_inventory(tmp_path, 1), ("mx2.example.test",))
    history = History()
    (scenario,) = scenarios(world.inventory)
    record = history.record(scenario.id)
    nemesis = Nemesis(record, pending.state_file(tmp_path / "hosts.yml"), "run-1", window=30)
    drill = Drill(scenario, world.inventory, world.hosts, record, "run-1", nemesis, deliver=world.deliver,
                  load=LoadSettings(90, rate=300.0, concurrency=4))
    drill.prepare()
    drill.targets = world.targets
    drill.mark("preflight")
    for step in STEPS[1:]:
        run_step(step, drill, lambda name, value: None)
    rows = checker.probe_ledger(record)
    load = [r for r in rows if r["phase"] == "load"]
    assert len(load) == 90 and {r["stage"] for r in load} == {"before", "during", "after"}
    assert {r["taken_by"] for r in load if r["stage"] == "during"} == {"mx2.example.test"}
    assert all(r["outcome"] == "delivered once" for r in rows)
    assert checker.scenario_verdict(record).status == "pass"
