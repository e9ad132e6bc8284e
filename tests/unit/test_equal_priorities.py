"""Issue 14, seed 003 "Load Balancing avec Round-Robin DNS": MXs at the same preference share the mail.
The harness picks among them at random as RFC 5321 §5.1 has a sender do, the split while both are up is
measured, each of them gets its own failover drill, and the inventory takes equal priorities. Pure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mxdrill import checker, smtp
from mxdrill.history import History, Kind
from mxdrill.inventory import load_inventory
from mxdrill.lab import ansible_inventory, configs
from mxdrill.lab import topology as topo
from mxdrill.scenario import scenarios

PREFIX = topo.DEFAULT_PREFIX


def target(preference: int, name: str, address: str) -> smtp.MxTarget:
    return smtp.MxTarget(preference, name, address, name)


TARGETS = [target(10, "mx1", "::11"), target(10, "mx1", "198.51.100.11"), target(10, "mx2", "::12"),
           target(10, "mx2", "198.51.100.12"), target(20, "mx3", "198.51.100.13")]


def test_equal_preferences_are_tried_in_random_order_each_mx_with_its_addresses_together() -> None:
    reverse = smtp.preference_order(TARGETS, shuffle=lambda names: names.reverse())
    assert [(t.name, t.address) for t in reverse] == [
        ("mx2", "::12"), ("mx2", "198.51.100.12"), ("mx1", "::11"), ("mx1", "198.51.100.11"), ("mx3", "198.51.100.13")]
    firsts = Counter(smtp.preference_order(TARGETS)[0].name for _ in range(400))
    assert set(firsts) == {"mx1", "mx2"} and min(firsts.values()) > 100, firsts
    assert all(smtp.preference_order(TARGETS)[-1].name == "mx3" for _ in range(20)), "a greater preference comes last"


def test_the_split_counts_what_each_mx_took_while_no_fault_was_in_place() -> None:
    moments = iter([0, 1, 2, 3, 10, 11, 20, 21, 22])
    history = History(clock=lambda: float(next(moments)))
    record = history.record("mx1->mx2:stop")
    for probe in ("a", "b", "c"):
        record.append(Kind.PROBE_SENT, probe=probe, phase="load")  # t = 0, 1, 2
    record.append(Kind.PROBE_ACCEPTED, probe="a", host="mx1", at=3.0)  # t = 3
    record.append(Kind.FAULT_INJECTED, host="mx1")  # t = 10
    record.append(Kind.PROBE_ACCEPTED, probe="b", host="mx2", at=11.0)  # during the outage: not in the split
    record.append(Kind.FAULT_HEALED, host="mx1")  # t = 20
    record.append(Kind.PROBE_ACCEPTED, probe="c", host="mx2", at=21.0)
    split = checker.split_while_up(record, "load")
    assert split == Counter({"mx1": 1, "mx2": 1})
    assert checker.describe_split(split, ["mx1", "mx2"]) == "mx1 1, mx2 1 (50% / 50%)"
    assert checker.describe_split(Counter({"mx1": 3}), ["mx1", "mx2"]) == "mx1 3, mx2 0 (100% / 0%)"


def equal_inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(ansible_inventory.render("shared", key_file="/k", known_hosts="/kh", priorities="equal"))
    return path


def test_the_equal_lab_publishes_both_at_mx_10_and_its_inventory_loads_with_both_peers(tmp_path: Path) -> None:
    zone = configs.zone_forward(PREFIX, priorities="equal")
    assert [line for line in zone.splitlines() if " MX " in line] == [
        "@ IN MX 10 mx1.example.test.", "@ IN MX 10 mx2.example.test."]
    serial = lambda text: text.splitlines()[2].split()[5]  # noqa: E731
    assert serial(zone) != serial(configs.zone_forward(PREFIX)), "other records, other serial"
    inventory = load_inventory(equal_inventory(tmp_path))
    assert [h.name for h in inventory.peers] == ["mx1.example.test", "mx2.example.test"]
    assert "`mxdrill lab up --mx-priorities equal`" in equal_inventory(tmp_path).read_text()


def test_with_equal_priorities_either_mx_is_drilled_down_with_the_other_as_its_backup(tmp_path: Path) -> None:
    inventory = load_inventory(equal_inventory(tmp_path))
    found = [(s.primary.name, s.backup.name, s.fault, [h.name for h in s.down])
             for s in scenarios(inventory, ("stop", "kill", "vip"))]
    assert found == [
        ("mx1.example.test", "mx2.example.test", "stop", ["mx1.example.test"]),
        ("mx1.example.test", "mx2.example.test", "kill", ["mx1.example.test"]),
        ("mx1.example.test", "mx2.example.test", "vip", ["mx1.example.test"]),
        ("mx2.example.test", "mx1.example.test", "stop", ["mx2.example.test"]),
        ("mx2.example.test", "mx1.example.test", "kill", ["mx2.example.test"]),
    ]
    assert [h.name for h in load_inventory(Path(__file__).resolve().parents[2] / "hosts.yml").peers] == ["mx1.example.test"]


def test_equal_priorities_run_on_the_shared_single_domain_lab_only() -> None:
    assert topo.refusal(1, priorities="equal") is None
    assert "--topology shared --domains 1 only" in (topo.refusal(1, topology="relay", priorities="equal") or "")
    assert topo.describe("shared", 1, priorities="equal") == "shared topology, 1 backup MX, equal MX priorities"
