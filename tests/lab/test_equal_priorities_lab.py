"""Issue 14, seed 003 "Load Balancing avec Round-Robin DNS" on the lab (`mxdrill lab up --mx-priorities
equal`): mx1 and mx2 both at MX 10. Over a load run both take a share while both are up (the split is
reported), and the failover of either one to the other passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxdrill.lab import manager

from lab_helpers import lab_inventory
from test_drill import primary_running, run_drill


@pytest.mark.parametrize("priorities", ["equal"])
def test_both_mxs_at_mx_10_share_the_load_and_either_fails_over_to_the_other(
        priorities: str, lab: manager.LabPaths, tmp_path: Path) -> None:
    inventory = lab_inventory(lab, tmp_path / "hosts.yml")
    assert inventory.read_text().count("mxdrill_mx_priority: 10") == 2
    result, _events = run_drill(tmp_path, "--load", "200", "-k", "TestFailover", hosts=inventory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    drills = {d["scenario"]: d for d in json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())["drills"]}
    assert list(drills) == ["mx1.example.test->mx2.example.test:stop", "mx2.example.test->mx1.example.test:stop"]
    for drill in drills.values():
        assert drill["verdict"] == "pass" and drill["ledger"]["lost"] == 0
        assert drill["ledger"]["duplicated"] == drill["ledger"]["redelivered_after_fault"]
        assert set(drill["split"]) == {"mx1.example.test", "mx2.example.test"}, drill["split"]
        assert all(count > 0 for count in drill["split"].values()), "both took a share while both were up"
    assert "split while every MX was up: mx1.example.test" in result.stdout
    assert primary_running(lab)
