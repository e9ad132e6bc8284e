"""The harness never leaves a primary stopped: end the drill at each step with SIGINT, SIGTERM and
SIGKILL (and once by cutting the SSH path to the primary); the primary must run again — at once
after SIGINT/SIGTERM (finalizers heal), within the dead-man window after SIGKILL (the host heals
itself) — and `mxdrill restore` must leave the lab healthy. The measured table goes to
reports/kill-campaign.md."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mxdrill import pending
from mxdrill.steps import campaign_steps
from mxdrill.lab import manager
from mxdrill.lab import topology as topo

from lab_helpers import REPO, ssh

STEPS = campaign_steps()  # from the table of steps: a new step is in the campaign at once
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
DEADMAN_WINDOW = 6
RESULTS: list[tuple[str, str, float]] = []


@pytest.fixture(scope="module")
def campaign_inventory(lab_session: manager.LabPaths) -> Path:
    """The lab inventory with a short dead-man window and command bound, so the campaign is quick."""
    text = (REPO / "hosts.yml").read_text().replace(".lab/ssh/", "ssh/").replace(".lab/tls/", "tls/")
    text = text.replace("  vars:\n", f"  vars:\n    mxdrill_deadman_window: {DEADMAN_WINDOW}\n    mxdrill_command_timeout: 5\n    mxdrill_drain_deadline: 2\n    mxdrill_mta_settle: 2\n", 1)
    path = lab_session.state_dir / "campaign-hosts.yml"
    path.write_text(text)
    yield path
    write_table()


def write_table() -> None:
    if not RESULTS:
        return
    lines = ["| step | signal | seconds until mx1's Postfix ran again |", "|---|---|---|"]
    lines += [f"| {step} | {sig} | {seconds:.2f} |" for step, sig, seconds in RESULTS]
    out = REPO / "reports" / "kill-campaign.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def start_drill(inventory: Path, step: str, hold: Path, tmp_path: Path, faults: str = "stop") -> subprocess.Popen[str]:
    hold.touch()
    env = os.environ | {"MXDRILL_HOLD_AFTER": step, "MXDRILL_HOLD_FILE": str(hold)}
    argv = [sys.executable, "-m", "pytest", f"--hosts={inventory}", f"--reports={tmp_path / 'reports'}",
            "-p", "no:cacheprovider", "-q", "-k", "TestFailover", "--faults", faults]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_reached(proc: subprocess.Popen[str], hold: Path) -> None:
    reached = Path(str(hold) + ".reached")
    end = time.monotonic() + 60
    while not reached.exists():
        if proc.poll() is not None:
            pytest.fail(f"the drill ended before reaching the step: {proc.stdout.read()[-2000:] if proc.stdout else ''}")
        assert time.monotonic() < end, "the drill never reached the step"
        time.sleep(0.02)


def end_drill_at(inventory: Path, step: str, signum: int, tmp_path: Path,
                 at_hold: Callable[[], None] = lambda: None, faults: str = "stop") -> float:
    """Run the drill to just after `step`, check `at_hold`, send `signum`, wait for the run to end
    (killing it if it hangs); returns when the signal was sent (time.monotonic)."""
    hold = tmp_path / "hold"
    proc = start_drill(inventory, step, hold, tmp_path, faults)
    try:
        wait_reached(proc, hold)
        at_hold()
        sent_at = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return sent_at


def seconds_until_primary_runs(limit: float) -> float:
    start = time.monotonic()
    while subprocess.run(["ip", "netns", "exec", "mxd-mx1", "true"]).returncode == 0:
        status = subprocess.run(["nsenter", "-t", str(_mx1_pid()), "-m", "-u", "-n", "-p", "postfix", "status"],
                                capture_output=True)
        if status.returncode == 0:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            break
        time.sleep(0.05)
    seen = subprocess.run(["nsenter", "-t", str(_mx1_pid()), "-m", "-u", "-n", "-p", "sh", "-c",
                           "ps -eo pid,ppid,pgid,args; { cat /var/log/mail.log 2>/dev/null || journalctl --no-pager; } "
                           "| grep -v 'mail system is not running' | tail -n 25"], capture_output=True, text=True)
    pytest.fail(f"mx1's Postfix was not running again within {limit}s; mx1 now: {seen.stdout}{seen.stderr}")


def _mx1_pid() -> int:
    from mxdrill.lab import hosts

    pid = hosts.init_pid(topo.host("mx1"))
    assert pid is not None
    return pid


def restore_and_check(inventory: Path, lab: manager.LabPaths) -> None:
    result = subprocess.run([sys.executable, "-m", "mxdrill.cli", "restore", "--hosts", str(inventory)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pending.load(pending.state_file(inventory)) == []
    assert ssh(lab, "mx1", "pgrep -f '[m]xdrill-deadman' || true").stdout.strip() == "", "a dead-man switch was left armed"
    assert manager.failing("shared", topo.DEFAULT_PREFIX) == []


@pytest.mark.parametrize("sig", list(SIGNALS))
@pytest.mark.parametrize("step", STEPS)
def test_ending_the_drill_never_leaves_the_primary_down(
    step: str, sig: str, campaign_inventory: Path, lab: manager.LabPaths, tmp_path: Path
) -> None:
    end_drill_at(campaign_inventory, step, SIGNALS[sig], tmp_path)
    limit = DEADMAN_WINDOW + 10 if sig == "SIGKILL" else 5
    try:
        seconds = seconds_until_primary_runs(limit)
    finally:  # even after a failure: the next case must start on a healthy lab, not cascade
        restore_and_check(campaign_inventory, lab)
    RESULTS.append((step, sig, seconds))
    if sig != "SIGKILL":
        assert seconds < 1.0, f"after {sig} the finalizers should have healed the primary already ({seconds:.2f}s)"


def _vip_holders(lab: manager.LabPaths) -> list[str]:
    return [h for h in ("mx1", "mx2") if ssh(lab, h, f"ip -o addr show to {topo.vip()} | grep -q .", check=False).returncode == 0]


def _harm_in_place(fault: str, lab: manager.LabPaths) -> bool:
    """Whether the fault's own harm (beyond a stopped Postfix) is on the hosts now."""
    if fault in ("reject", "blackhole"):
        return ssh(lab, "mx1", "nft list table inet mxdrill", check=False).returncode == 0
    if fault == "vip":
        return ssh(lab, "mx1", "pidof keepalived", check=False).returncode != 0 and _vip_holders(lab) == ["mx2"]
    if fault == "storage":
        return ssh(lab, "mx2", f"mountpoint -q {topo.MAILBOX_BASE}", check=False).returncode != 0
    return False


@pytest.mark.parametrize("fault", ["kill", "reject", "blackhole", "vip", "storage"])
def test_a_harness_killed_during_each_fault_mode_leaves_the_heal_to_the_dead_man(
    fault: str, campaign_inventory: Path, lab: manager.LabPaths, tmp_path: Path
) -> None:
    """Issue 13: a firewall rule must not outlive a killed harness, nor a killed master stay dead, nor the
    VIP stay away from (or end on both) hosts, nor the backup's store stay unmounted."""
    def harmed() -> None:
        assert _harm_in_place(fault, lab) == (fault != "kill"), f"{fault}: the harm is not in place at the hold"

    sent_at = end_drill_at(campaign_inventory, "test_stop_primary", signal.SIGKILL, tmp_path, harmed, faults=fault)
    try:
        seconds_until_primary_runs(DEADMAN_WINDOW + 10)
        end = time.monotonic() + DEADMAN_WINDOW + 10
        while _harm_in_place(fault, lab) and time.monotonic() < end:
            time.sleep(0.2)
        assert not _harm_in_place(fault, lab), f"{fault}: the harm outlived the harness by {time.monotonic() - sent_at:.1f}s"
        if fault == "vip":  # keepalived back on mx1, which preempts: the VIP on one host, the master
            while _vip_holders(lab) != ["mx1"] and time.monotonic() < end:
                time.sleep(0.2)
            assert _vip_holders(lab) == ["mx1"], f"the VIP is on {_vip_holders(lab)} after the dead-man's heal"
        RESULTS.append(("test_stop_primary", f"SIGKILL during {fault}", time.monotonic() - sent_at))
    finally:
        restore_and_check(campaign_inventory, lab)


def test_cutting_the_ssh_path_to_the_primary_leaves_it_to_the_dead_man(
    campaign_inventory: Path, lab: manager.LabPaths, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    proc = start_drill(campaign_inventory, "test_stop_primary", hold, tmp_path)
    cut = ["ip", "netns", "exec", "mxd-mx1", "nft"]
    try:
        wait_reached(proc, hold)
        subprocess.run([*cut, "add table inet mxdrill_cut"], check=True)
        subprocess.run([*cut, "add chain inet mxdrill_cut input { type filter hook input priority 0 ; }"], check=True)
        subprocess.run([*cut, "add rule inet mxdrill_cut input tcp dport 22 drop"], check=True)
        cut_at = time.monotonic()
        hold.unlink()  # the drill goes on, but can no longer reach mx1 over SSH
        seconds = seconds_until_primary_runs(DEADMAN_WINDOW + 10) + (time.monotonic() - cut_at) * 0
        RESULTS.append(("SSH path cut after test_stop_primary", "link cut", seconds))
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode != 0, "a drill that lost its primary's SSH must not pass"
        assert "heal of stop on mx1.example.test failed" in output, output[-3000:]
    finally:
        subprocess.run([*cut, "delete table inet mxdrill_cut"], check=False)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    restore_and_check(campaign_inventory, lab)


def test_a_second_drill_against_the_same_primary_refuses_naming_the_first(
    campaign_inventory: Path, lab: manager.LabPaths, tmp_path: Path
) -> None:
    """While one drill holds mx1 down, another one (another inventory file, so not the local lock:
    the lock on the host itself) must not touch it, and must say which drill holds it."""
    hold = tmp_path / "hold"
    first = start_drill(campaign_inventory, "test_stop_primary", hold, tmp_path)
    other = campaign_inventory.with_name("second-hosts.yml")
    other.write_text(campaign_inventory.read_text())
    try:
        wait_reached(first, hold)
        second = subprocess.run(
            [sys.executable, "-m", "pytest", f"--hosts={other}", f"--reports={tmp_path / 'second'}", "-p", "no:cacheprovider",
             "-q", "-k", "TestFailover"], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "another drill (run " in second.stdout and "holds /run/mxdrill-drill.lock" in second.stdout, second.stdout[-3000:]
        hold.unlink()
        output, _ = first.communicate(timeout=120)
        assert first.returncode == 0, output[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    restore_and_check(campaign_inventory, lab)


def test_a_status_poller_beside_it_never_makes_a_stopped_postfix_look_running(lab: manager.LabPaths,
                                                                               request: pytest.FixtureRequest) -> None:
    """The cause of this campaign's old flake: `postfix status` locks master.pid to test it, so two at
    once make one say "running" of a stopped Postfix, and the heal (`status || start`) started nothing.
    The harness's confirmed status (and so every heal) is never fooled by a poller beside it."""
    from mxdrill.mta.postfix import confirmed

    request.addfinalizer(lambda: ssh(lab, "mx1", "service postfix start >/dev/null 2>&1; postfix status"))
    ssh(lab, "mx1", "service postfix stop >/dev/null 2>&1")
    fooled = ssh(lab, "mx1", "(for i in $(seq 600); do postfix status >/dev/null 2>&1; done) & n=0; "
                 f"for i in $(seq 20); do {confirmed('postfix status')} >/dev/null 2>&1 && n=$((n+1)); done; "
                 "kill $! 2>/dev/null; wait; echo $n").stdout.strip()
    assert fooled == "0", f"the confirmed status said 'running' {fooled} times of 20 while Postfix was stopped"
