"""The systemd profile (`mxdrill lab up --init systemd`): the MXs and the sender boot systemd 252 as
PID 1, log to the journal only and refuse root over SSH, as fresh Debian 12 hosts do. The drill must
pass there as it would on such hosts — as `drill` through sudo, from an inventory in Ansible's
layout, with the journal as the only mail log, the Postfix unit found on the host, and a dead-man's
switch that is a transient systemd timer. The profile is booted once for the module (the topology
switch reboots mx2 only), and a module fixture puts the default profile back at its end, so no other
test inherits it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mxdrill import pending
from mxdrill.lab import cgroups, hosts, manager
from mxdrill.lab import topology as topo

from lab_helpers import REPO, send_via_sender, ssh, wait_until
from test_drill import kinds, run_drill
from test_harness_faults import end_drill_at, seconds_until_primary_runs

pytestmark = pytest.mark.parametrize("init", ["systemd"])

SYSTEMD_HOSTS = ("mx1", "mx2", "sender")
DEADMAN_WINDOW = 6
TIMER_SLACK = 0.5  # the transient timer is armed with AccuracySec=100ms
KILL_RESULTS: list[tuple[str, float, float]] = []  # step, armed → timer fired, SIGKILL → Postfix running


@pytest.fixture(scope="module", autouse=True)
def default_profile_afterwards(lab_session: manager.LabPaths):
    """Whatever happens in this module, the lab goes back to the default profile at its end."""
    yield
    manager.up("shared", topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None)
    write_kill_table()


def in_host(name: str, command: str) -> subprocess.CompletedProcess[str]:
    """Run a shell command as root inside a lab host (through its PID 1's namespaces, not SSH)."""
    argv = hosts.nsenter_argv(topo.host(name), ["sh", "-c", command])
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def ansible_dir(lab: manager.LabPaths, directory: Path) -> Path:
    """`mxdrill lab inventory --ansible-dir DIR`, as a user would run it; returns DIR/hosts.yml."""
    argv = [sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(lab.state_dir),
            "--ansible-dir", str(directory)]
    made = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return directory / "hosts.yml"


# --- the hosts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SYSTEMD_HOSTS)
def test_pid_1_is_systemd_and_the_system_is_running(init: str, lab: manager.LabPaths, name: str) -> None:
    pid = hosts.init_pid(topo.host(name))
    assert pid is not None and hosts.pid1_is_systemd(pid)
    state, failed = hosts.system_state(topo.host(name))
    assert (state, failed) == ("running", []), f"{name}: {state}, failed: {failed}"
    for other in ("dns", "storage"):  # they keep the init-script style
        assert not hosts.pid1_is_systemd(hosts.init_pid(topo.host(other)) or 0)


def test_status_shows_how_each_host_booted_and_what_systemd_says(init: str, lab: manager.LabPaths) -> None:
    state, services = manager.status(topo.DEFAULT_PREFIX)
    assert state is not None and state.init == "systemd"
    booted = {s.host: s.detail for s in services if s.service == "host"}
    assert booted == {"dns": "init scripts (tini)", "storage": "init scripts (tini)", "mailstore": "init scripts (tini)",
                      "userdb": "init scripts (tini)", "mx1": "systemd", "mx2": "systemd", "sender": "systemd"}
    assert {(s.host, s.up, s.detail) for s in services if s.service == "systemd"} == {
        (name, True, "running") for name in SYSTEMD_HOSTS}
    shown = subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "status"], cwd=REPO, capture_output=True,
                           text=True, timeout=60, env=os.environ | {"COLUMNS": "200"})
    assert shown.returncode == 0 and "running" in shown.stdout and "systemd" in shown.stdout, shown.stdout


@pytest.mark.parametrize("name", SYSTEMD_HOSTS)
def test_the_journal_is_the_only_log(init: str, lab: manager.LabPaths, name: str) -> None:
    found = in_host(name, "ls /var/log/mail.log /var/log/syslog 2>/dev/null; pgrep -x rsyslogd; "
                          "systemctl is-enabled rsyslog.service")
    assert found.stdout.split() == ["masked"], found.stdout


def test_a_probe_mail_shows_in_the_journal_with_its_queue_id(init: str, lab: manager.LabPaths) -> None:
    """Debian's chrooted smtpd and cleanup reach the journal (they open /dev/log before their chroot)."""
    message_id = send_via_sender("lab: systemd journal")
    journal = "journalctl -u 'postfix*' -o short-iso-precise -q --no-pager"

    def cleanup_line() -> str:
        return next((line for line in in_host("mx1", journal).stdout.splitlines()
                     if "postfix/cleanup[" in line and f"message-id=<{message_id}>" in line), "")

    queue_id = str(wait_until(cleanup_line, 20, "mx1's cleanup line in the journal")).split(": ")[1]
    lines = [line for line in in_host("mx1", journal).stdout.splitlines() if f" {queue_id}: " in line]
    programs = {line.split()[2].split("[")[0] for line in lines}
    assert {"postfix/smtpd", "postfix/cleanup", "postfix/qmgr"} <= programs, lines


def test_root_may_not_log_in_and_drill_becomes_root_with_sudo(init: str, lab: manager.LabPaths) -> None:
    for name in SYSTEMD_HOSTS:
        refused = subprocess.run(
            ["ssh", "-F", str(lab.ssh_dir / "ssh_config"), "-o", "BatchMode=yes", "-l", "root", name, "true"],
            capture_output=True, text=True, timeout=30)
        assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
        drill = ssh(lab, name, "id -un && sudo -n true && sudo -n id -un")
        assert drill.stdout.split() == ["drill", "root"]


@pytest.mark.parametrize("name", SYSTEMD_HOSTS)
def test_usr_and_the_rest_of_the_machine_are_read_only(init: str, lab: manager.LabPaths, name: str) -> None:
    tried = in_host(name, "chmod -x /usr/sbin/postfix; touch /usr/.mxdrill-write /opt/.mxdrill-write /srv/.mxdrill-write")
    assert tried.stderr.count("Read-only file system") == 4, tried.stderr
    assert os.access("/usr/sbin/postfix", os.X_OK)
    assert in_host(name, "touch /etc/.mxdrill-write /var/tmp/.mxdrill-write").returncode == 0  # its own layers


# --- the drill --------------------------------------------------------------------------------------

@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_the_drill_passes_as_drill_through_sudo_with_the_journal_only(
    init: str, topology: str, lab: manager.LabPaths, tmp_path: Path
) -> None:
    inventory = ansible_dir(lab, tmp_path / "inventory")
    result, events = run_drill(tmp_path, hosts=inventory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    facts = {e["host"]: e["data"]["log"] for e in events if e["kind"] == "host.facts"}
    assert facts == {"mx1.example.test": "auto: journald (units postfix*)", "mx2.example.test": "auto: journald (units postfix*)"}
    plans = [e["data"]["plan"] for e in events if e["kind"] == "fault.injected"]
    assert plans == ["run `systemctl stop postfix@-.service`"]
    armed = [e["data"]["deadman"] for e in events if e["kind"] == "fault.armed"]
    assert len(armed) == 1 and "(systemd-run, " in armed[0]
    assert kinds(events).count("fault.healed") == 1
    if topology == "relay":
        assert kinds(events).count("probe.queued") == 3


# --- SIGKILL during the outage: the host heals itself ------------------------------------------------

@pytest.fixture(scope="module")
def campaign_inventory(lab_session: manager.LabPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's inventory in Ansible's layout, with a short dead-man window and command bound."""
    manager.up("shared", topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None, init="systemd")
    inventory = ansible_dir(lab_session, tmp_path_factory.mktemp("campaign") / "inventory")
    with open(inventory.parent / "group_vars" / "all.yml", "a") as shared:
        shared.write(f"mxdrill_deadman_window: {DEADMAN_WINDOW}\nmxdrill_command_timeout: 5\n"
                     "mxdrill_drain_deadline: 2\nmxdrill_mta_settle: 2\n")  # the load-time timing rule
    return inventory


def deadman_units() -> str:
    return in_host("mx1", "systemctl list-timers --all --no-legend 'mxdrill-deadman-*'; "
                          "systemctl list-units --all --no-legend 'mxdrill-deadman-*'").stdout.strip()


@pytest.mark.parametrize("step", ["test_stop_primary", "test_backup_accepts_probes_during_outage"])
def test_sigkill_during_the_outage_leaves_the_primary_to_the_systemd_timer(
    init: str, step: str, campaign_inventory: Path, lab: manager.LabPaths, tmp_path: Path
) -> None:
    def armed() -> None:
        assert "mxdrill-deadman-" in deadman_units(), "no transient timer armed on mx1"

    killed_at = end_drill_at(campaign_inventory, step, signal.SIGKILL, tmp_path, at_hold=armed)
    polled_from = time.monotonic()
    try:
        back = polled_from - killed_at + seconds_until_primary_runs(DEADMAN_WINDOW + 10)
    except pytest.fail.Exception:
        pytest.fail(f"mx1's Postfix was not running {DEADMAN_WINDOW + 10}s after SIGKILL; its dead-man's units and "
                    f"Postfix in its journal:\n{switch_journal()}")
    fired = timer_fired_after_arming(tmp_path / "reports" / "latest" / "history.jsonl")
    KILL_RESULTS.append((step, fired, back))
    assert fired <= DEADMAN_WINDOW + TIMER_SLACK, f"the dead-man's timer fired {fired:.2f}s after it was armed"
    assert back <= DEADMAN_WINDOW + 5, f"Postfix ran again only {back:.2f}s after SIGKILL"
    restored = subprocess.run([sys.executable, "-m", "mxdrill.cli", "restore", "--hosts", str(campaign_inventory)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert pending.load(pending.state_file(campaign_inventory)) == []
    assert deadman_units() == "", "a dead-man's switch was left on mx1"
    assert manager.failing("shared", topo.DEFAULT_PREFIX, init="systemd") == []


def switch_journal() -> str:
    return in_host("mx1", "journalctl -q --no-pager -o short-precise -u 'mxdrill-deadman-*' -u postfix@-.service "
                          "--since=-60s | grep -v 'mail system is not running' | tail -40").stdout


def timer_fired_after_arming(history: Path) -> float:
    """Seconds from the drill arming mx1's switch (its history) to the transient timer starting the heal (mx1's journal)."""
    armed = [e["time"] for e in map(json.loads, history.read_text().splitlines())
             if e["kind"] == "fault.armed" and e["host"] == "mx1.example.test"]
    journal = in_host("mx1", "journalctl -q --no-pager -o short-unix -u 'mxdrill-deadman-*'").stdout.splitlines()
    started = [float(line.split()[0]) for line in journal if "Started mxdrill-deadman-" in line]
    assert armed and started, f"Postfix was not restarted by the dead-man's timer: {journal}"
    return started[-1] - armed[-1]


def write_kill_table() -> None:
    if not KILL_RESULTS:
        return
    lines = [f"| held after step (systemd profile, window {DEADMAN_WINDOW} s) | signal | armed → timer fired (s) "
             "| SIGKILL → mx1's Postfix running (s) |", "|---|---|---|---|"]
    lines += [f"| {step} | SIGKILL | {fired:.2f} | {back:.2f} |" for step, fired, back in KILL_RESULTS]
    out = REPO / "reports" / "kill-campaign-systemd.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


# --- down, even after a crash -----------------------------------------------------------------------

def test_down_leaves_no_cgroup_mount_or_process_even_without_the_run_directory(init: str, lab: manager.LabPaths) -> None:
    assert cgroups.host_cgroups(), "the systemd hosts run in cgroups of their own"
    shutil.rmtree(topo.RUN_DIR)  # as after a crash: nothing but names to go by
    manager.down(say=lambda _m: None)
    assert manager.leftovers() == []
    assert cgroups.leftovers() == []
