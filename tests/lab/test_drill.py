"""The drill as a postmaster runs it (`pytest --hosts=hosts.yml`), against the lab: it passes on a healthy
lab in both topologies, and fails naming the cause when the lab is broken the way seed 003 warns about."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mxdrill import checker
from mxdrill.history import History
from mxdrill.lab import manager

from lab_helpers import REPO, ssh


def run_drill(tmp_path: Path, *extra: str, hosts: str | Path = "hosts.yml") -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """Run the drill suites in a child pytest, like a user; return its output and its recorded history."""
    reports = tmp_path / "reports"
    argv = [sys.executable, "-m", "pytest", f"--hosts={hosts}", f"--reports={reports}", "-p", "no:cacheprovider",
            "-q", "-rs", "tests_infra", *extra]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    history_file = reports / "latest" / "history.jsonl"
    events = [json.loads(line) for line in history_file.read_text().splitlines()] if history_file.exists() else []
    return result, events


def kinds(events: list[dict]) -> list[str]:
    return [e["kind"] for e in events]


def primary_running(lab: manager.LabPaths) -> bool:
    return ssh(lab, "mx1", "postfix status", check=False).returncode == 0


@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_the_drill_passes_on_a_healthy_lab(topology: str, lab: manager.LabPaths, tmp_path: Path) -> None:
    result, events = run_drill(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "failed" not in result.stdout.splitlines()[-1]
    assert kinds(events).count("fault.injected") == 1 and kinds(events).count("fault.healed") == 1
    accepted_by_backup = [e for e in events if e["kind"] == "probe.accepted" and e["data"]["role"] == "backup"]
    assert len(accepted_by_backup) == 3 and all(e["data"]["queue_id"] for e in accepted_by_backup)
    accepted = [e for e in events if e["kind"] == "probe.accepted"]
    assert {e["data"]["tls"] for e in accepted} <= {"TLSv1.2", "TLSv1.3"}, "probes use STARTTLS where it is offered"
    ledger = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())["drills"][0]["ledger"]
    assert ledger["over_tls"] == ledger["sent"] == 9
    if topology == "relay":
        assert kinds(events).count("probe.queued") == 3
    assert primary_running(lab)
    run_prefix = next(e["probe"] for e in events if e["probe"]).rsplit("-", 1)[0]  # mxdrill-<run id>
    leftover = ssh(lab, "storage", f"grep -rl 'X-Mxdrill-Probe: {run_prefix}-' /srv/vhosts | wc -l").stdout.strip()
    assert leftover == "0", "a passing drill must remove its own probes"


@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_a_backup_that_refuses_the_domain_stops_the_drill_before_any_fault(
    topology: str, lab: manager.LabPaths, mx2_broken, tmp_path: Path
) -> None:
    """Seed 003 Problème 2: 'Relay access denied' on MX2."""
    mx2_broken("postconf -e virtual_mailbox_domains= relay_domains= && postfix reload")
    result, events = run_drill(tmp_path)
    assert result.returncode == 1
    assert "Relay access denied" in result.stdout
    assert "accepts-domain on mx2.example.test" in result.stdout
    assert "fault.injected" not in kinds(events), "nothing disruptive may run when the backup is unhealthy"
    assert "not run: earlier step(s) preflight did not pass" in result.stdout
    assert primary_running(lab)


def test_a_backup_delivering_to_its_local_disk_is_caught(lab: manager.LabPaths, mx2_broken, tmp_path: Path) -> None:
    """Seed 003 Problème 3: the MXs store locally instead of sharing; found before mail is split."""
    mx2_broken("umount -l /var/mail/vhosts")
    result, events = run_drill(tmp_path)
    assert result.returncode == 1
    assert "storage-mounted on mx2.example.test" in result.stdout
    assert "local disk" in result.stdout
    assert "fault.injected" not in kinds(events)
    assert primary_running(lab)


def test_a_backup_mounting_another_store_is_a_split(lab: manager.LabPaths, mx2_broken, tmp_path: Path) -> None:
    """Same mount type, other source: each MX would fill its own store (Problème 3, subtler)."""
    mx2_broken(
        "umount -l /var/mail/vhosts && sshfs vmail@198.51.100.20:/tmp /var/mail/vhosts "
        "-o allow_other,IdentityFile=/etc/mxdrill-lab/id_ed25519,UserKnownHostsFile=/etc/mxdrill-lab/known_hosts,BatchMode=yes"
    )
    result, events = run_drill(tmp_path)
    assert result.returncode == 1
    assert "storage-same-source" in result.stdout and "198.51.100.20:/tmp" in result.stdout
    assert "fault.injected" not in kinds(events)


@pytest.mark.parametrize("backups", [2])
def test_with_two_backups_each_scenario_passes_and_is_judged_on_its_own_events(
    backups: int, lab: manager.LabPaths, tmp_path: Path
) -> None:
    """MX 10, 20, 30: mx1->mx2 stops mx1; mx1->mx3 stops mx1 and mx2, so senders reach mx3."""
    inventory = tmp_path / "hosts.yml"
    made = subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(lab.state_dir),
                           "--output", str(inventory)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    result, events = run_drill(tmp_path, hosts=inventory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    drills = {d["scenario"]: d for d in summary["drills"]}
    assert list(drills) == ["mx1.example.test->mx2.example.test:stop", "mx1.example.test->mx3.example.test:stop"]
    for scenario, drill in drills.items():
        mine = [e for e in events if e["scenario"] == scenario]
        injected = min(e["time"] for e in mine if e["kind"] == "fault.injected")
        healed = max(e["time"] for e in mine if e["kind"] == "fault.healed")
        last = max(e["time"] for e in mine)
        assert drill["verdict"] == "pass", drill
        # each number lies inside its own scenario's window: not another drill's fault or heal
        assert 0 <= drill["failover"] <= healed - injected and 0 <= drill["drain"] <= last - healed, drill
        backup = scenario.split("->")[1].split(":")[0]
        taken = {e["host"] for e in mine if e["kind"] == "probe.accepted" and e["data"]["role"] == "backup"}
        assert taken == {backup}
    second = [e["host"] for e in events if (e["scenario"] or "").endswith("mx3.example.test:stop") and e["kind"] == "fault.injected"]
    assert second == ["mx1.example.test", "mx2.example.test"]
    assert primary_running(lab) and ssh(lab, "mx2", "postfix status", check=False).returncode == 0


@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_every_fault_mode_passes_on_a_healthy_lab_and_leaves_the_primary_whole(
        topology: str, lab: manager.LabPaths, tmp_path: Path) -> None:
    """Issue 13's matrix, the modes a sender notices differently: a killed master, a reset, a silent drop, the
    VIP moved, and the backup's store lost (which only a backup delivering into the store can lose)."""
    result, events = run_drill(tmp_path, "--faults", "kill,reject,blackhole,vip,storage", "--via", "harness,sender")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    drills = {d["scenario"].rsplit(":", 1)[1]: d for d in
              json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())["drills"]}
    storage = "pass" if topology == "shared" else "not run"
    assert {mode: d["verdict"] for mode, d in drills.items()} == {
        "kill": "pass", "reject": "pass", "blackhole": "pass", "vip": "pass", "storage": storage}, result.stdout[-3000:]
    assert all(d["ledger"]["lost"] == 0 and d["ledger"]["duplicated"] == d["ledger"]["redelivered_after_fault"]
               for d in drills.values())
    if topology == "shared":  # the backup deferred while its store was gone, and queued every outage probe
        assert drills["storage"]["ledger"]["queued"] == 6, "3 outage probes along each of the 2 paths"
    else:
        assert "mx2.example.test relays example.test and delivers into no store" in result.stdout
    vip_moves = [e for e in events if e["kind"] == "phase.end" and e["data"].get("name", "").startswith("vip-")]
    assert [(e["data"]["name"], e["data"]["holders"]) for e in vip_moves] == [
        ("vip-takeover", ["mx2.example.test"]), ("vip-return", ["mx1.example.test"])]
    assert ssh(lab, "mx2", f"mountpoint -q {'/var/mail/vhosts'}", check=False).returncode == (0 if topology == "shared" else 1)
    # a reset makes the sender try MX 20 at once; a drop makes it wait its connect timeout (the harness: 10 s)
    assert drills["reject"]["failover"] < 5 <= drills["blackhole"]["failover"], {m: d["failover"] for m, d in drills.items()}
    # the lab's sender MTA waits its own smtp_connect_timeout (5 s) at each of mx1's addresses before MX 20
    history = History.from_jsonl(tmp_path / "reports" / "latest" / "history.jsonl")
    blackhole = history.record(next(s for s in history.scenarios() if s.endswith(":blackhole")))
    reject = history.record(next(s for s in history.scenarios() if s.endswith(":reject")))
    assert checker.failover_seconds(reject, "sender") < 5 <= checker.failover_seconds(blackhole, "sender")
    assert primary_running(lab)
    assert ssh(lab, "mx1", "nft list table inet mxdrill", check=False).returncode != 0, "the firewall fault's table is gone"
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert "| drill | fault | verdict | failover s | drain s | sent | lost | duplicated |" in summary


def test_a_load_of_1000_probes_through_the_drill_loses_and_duplicates_none(lab: manager.LabPaths, tmp_path: Path) -> None:
    """Issue 13: a steady stream spanning the outage, every probe accounted in the ledger."""
    result, events = run_drill(tmp_path, "--load", "1000", "-k", "TestFailover")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    (drill,) = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())["drills"]
    assert drill["verdict"] == "pass" and drill["ledger"]["sent"] == 1009
    # a second copy is allowed only of a probe the stop caught in flight (SMTP's at-least-once, named in the detail)
    assert drill["ledger"]["lost"] == 0 and drill["ledger"]["duplicated"] == drill["ledger"]["redelivered_after_fault"]
    assert drill["ledger"]["delivered_once"] + drill["ledger"]["duplicated"] == 1009
    rows = (tmp_path / "reports" / "latest" / "ledger.csv").read_text().splitlines()
    assert len(rows) == 1 + 1009
    stages = {line.split(",")[3] for line in rows[1:] if ",load," in line}
    assert stages == {"before", "during", "after"}, "the stream spans the outage"
    assert "all 1009 probes delivered" in result.stdout
