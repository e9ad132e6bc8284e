"""Booting, finding and stopping lab hosts (one PID namespace each).

A host is `ip netns exec NS unshare --mount --uts --pid --fork --kill-child --mount-proc boot.sh init`;
a systemd host also gets a cgroup namespace rooted in a cgroup of its own (`cgroups`).
Processes are found through their network namespace (`ip netns pids`) and, for systemd hosts, their
cgroup — never through state files, so a crash halfway, or a deleted run directory, still leaves
everything findable and removable. Each boot records the digest of what the host was booted with, so
`lab up` can tell which running hosts a new configuration would leave unchanged.

Stopping a systemd host is a clean poweroff first (`SIGRTMIN+4` to its PID 1; systemd ignores SIGTERM),
bounded, then SIGKILL for whatever is left, as for the init-script hosts.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from importlib import resources
from pathlib import Path

from mxdrill.lab import cgroups, configs, units
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError
from mxdrill.lab.topology import Init, LabHost, Topology

POWEROFF = signal.SIGRTMIN + 4  # systemd's "poweroff" signal: a clean shutdown of the host
POWEROFF_SECONDS = 10.0


def run_dir(lab_host: LabHost) -> Path:
    return topo.RUN_DIR / lab_host.name


def boot_log(lab_host: LabHost) -> Path:
    return run_dir(lab_host) / "boot.log"


def _digest_file(lab_host: LabHost) -> Path:
    return run_dir(lab_host) / "config.sha256"


def namespace_pids(namespace: str) -> list[int]:
    """Every process whose network namespace is `namespace`: exactly the processes the lab made there."""
    proc = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=15)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def init_pid(lab_host: LabHost) -> int | None:
    """The host's PID 1 as seen from the machine (the process whose innermost PID is 1)."""
    return init_pid_of(lab_host.namespace)


def init_pid_of(namespace: str) -> int | None:
    """The PID 1 of the host in this network namespace, if one runs."""
    for pid in namespace_pids(namespace):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == "1" and len(line.split()) > 2:
                return pid
    return None


# Postfix reads main.cf and texthash maps only once their mtime is a second or two old (a guard
# against half-written files), dozing 300 ms at a time until then: on files written just before
# boot that cost every MX ~1.8 s. The lab's files are complete before the host exists, so they are
# dated this much in the past.
LAYER_FILE_AGE_SECONDS = 60


def _write_layer(lab_host: LabHost, files: list[configs.LabFile]) -> None:
    base = run_dir(lab_host)
    for layer in ("etc.upper", "etc.work", "var.upper", "var.work"):
        (base / layer).mkdir(parents=True, exist_ok=True)
    written = time.time() - LAYER_FILE_AGE_SECONDS
    for lab_file in files:
        top, _, rest = lab_file.path.lstrip("/").partition("/")
        target = base / f"{top}.upper" / rest
        target.parent.mkdir(parents=True, exist_ok=True)
        if lab_file.link is not None:
            target.unlink(missing_ok=True)
            target.symlink_to(lab_file.link)
            continue
        target.write_text(lab_file.content)
        target.chmod(lab_file.mode)
        os.utime(target, (written, written))


def _boot_script() -> str:
    return resources.files("mxdrill.lab").joinpath("boot.sh").read_text()


def _boot_inputs(
    lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network, keys: configs.LabKeys, backups: int,
    init: Init, domains: int, userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> tuple[list[configs.LabFile], dict[str, str]]:
    enabled = units.enabled_on_machine() if topo.runs_systemd(lab_host, init) else frozenset()
    files = configs.host_files(lab_host, topology, prefix, keys, backups, init, enabled, domains, userdb, priorities)
    files.append(configs.LabFile("/etc/mxdrill-lab/boot.sh", _boot_script(), 0o755))
    env = configs.boot_environment(lab_host, topology, prefix, init) | {"LAB_RUN": str(run_dir(lab_host))}
    return files, env


def config_digest(
    lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network, keys: configs.LabKeys, backups: int,
    init: Init = topo.DEFAULT_INIT, domains: int = topo.DEFAULT_DOMAINS, userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> str:
    """The digest the host would be booted with in this configuration."""
    return configs.boot_digest(*_boot_inputs(lab_host, topology, prefix, keys, backups, init, domains, userdb, priorities))


def booted_digest(lab_host: LabHost) -> str | None:
    """The digest the running host was booted with (None: unknown, so it must be rebooted to be sure)."""
    try:
        return _digest_file(lab_host).read_text().strip() or None
    except OSError:
        return None


def boot(
    lab_host: LabHost,
    topology: Topology,
    prefix: ipaddress.IPv4Network,
    keys: configs.LabKeys,
    backups: int = topo.DEFAULT_BACKUPS,
    init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
    userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> None:
    """Write the host's layers and start it in the background; readiness is checked by the caller."""
    base = run_dir(lab_host)
    if base.exists():
        shutil.rmtree(base)
    files, env = _boot_inputs(lab_host, topology, prefix, keys, backups, init, domains, userdb, priorities)
    script = next(f.content for f in files if f.path == "/etc/mxdrill-lab/boot.sh")
    _write_layer(lab_host, files)
    _digest_file(lab_host).write_text(configs.boot_digest(files, env) + "\n")
    # boot.sh init reads itself from an open file, so hiding /run behind a tmpfs later is harmless.
    init_script = base / "boot.sh"
    init_script.write_text(script)
    systemd = topo.runs_systemd(lab_host, init)
    namespaces = ["--mount", "--uts", "--pid", *(["--cgroup"] if systemd else []), "--fork", "--kill-child",
                  "--mount-proc", "--propagation", "private"]
    argv = ["ip", "netns", "exec", lab_host.namespace, "unshare", *namespaces, "/bin/sh", str(init_script), "init"]
    if systemd:
        argv = _in_own_cgroup(lab_host, argv)
    with open(boot_log(lab_host), "ab") as log:
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd="/",
        )


def _in_own_cgroup(lab_host: LabHost, argv: list[str]) -> list[str]:
    """argv run from inside the host's own, new cgroup, so that its cgroup namespace is rooted there."""
    procs = cgroups.create(lab_host.name) / "cgroup.procs"
    return ["/bin/sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "join-cgroup", str(procs), *argv]


def pid1_is_systemd(pid: int) -> bool:
    """Whether this host PID 1 is systemd (read from the process itself: no state file needed)."""
    try:
        return Path(f"/proc/{pid}/exe").resolve().name == "systemd"
    except OSError:
        return False


def stop(lab_host_namespaces: list[str], timeout: float = POWEROFF_SECONDS) -> list[int]:
    """Stop the hosts in these namespaces: systemd ones power off cleanly (bounded), then SIGKILL for the rest.

    Returns the processes still alive after SIGKILL. The hosts' cgroups are removed by the caller
    (`cgroups.remove_all` for the whole lab, `remove_cgroup` for one host).
    """
    firsts = [pid for pid in (init_pid_of(ns) for ns in lab_host_namespaces) if pid is not None and pid1_is_systemd(pid)]
    for pid in firsts:
        try:
            os.kill(pid, POWEROFF)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while firsts and time.monotonic() < deadline:
        _reap_children()
        firsts = [pid for pid in firsts if _exists(pid)]
        if firsts:
            time.sleep(0.02)
    return kill(lab_host_namespaces)


def remove_cgroup(lab_host: LabHost) -> None:
    """Kill what is left in one host's cgroup and remove it (nothing to do for an init-script host)."""
    path = next((p for p in cgroups.host_cgroups() if p.name == lab_host.name), None)
    if path is not None:
        cgroups.kill([path])
        left = cgroups.remove([path])
        if left:
            raise LabError(f"cgroup {left[0]} of lab host {lab_host.name} cannot be removed; check `cat {left[0]}/cgroup.procs`")


def kill(lab_host_namespaces: list[str], timeout: float = 5.0) -> list[int]:
    """SIGKILL every process in the given namespaces and wait until they are gone; returns survivors."""
    pids = [pid for ns in lab_host_namespaces for pid in namespace_pids(ns)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        _reap_children()
        alive = [pid for pid in alive if _exists(pid)]
        if alive:
            time.sleep(0.02)
    return alive


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _reap_children() -> None:
    """Collect exit statuses of hosts started by this very process (tests call up and down in one process)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def nsenter_argv(lab_host: LabHost, command: list[str]) -> list[str]:
    """argv that runs `command` inside the host, as if logged in at its console (every namespace of its PID 1)."""
    pid = init_pid(lab_host)
    if pid is None:
        raise LabError(f"lab host {lab_host.name} is not running; start the lab with `mxdrill lab up`")
    return ["nsenter", "-t", str(pid), "-a", "--wd=/", "--", *command]


SYSTEM_STATE_SECONDS = 5.0


def system_state(lab_host: LabHost) -> tuple[str, list[str]]:
    """`systemctl is-system-running` on a systemd host and its failed units; ("down", []) when it does not answer."""
    try:
        argv = nsenter_argv(lab_host, ["sh", "-c", "systemctl is-system-running; "
                                       "systemctl list-units --failed --plain --no-legend | awk '{print $1}'"])
        output = subprocess.run(argv, capture_output=True, text=True, timeout=SYSTEM_STATE_SECONDS).stdout.split()
    except (LabError, subprocess.TimeoutExpired, OSError):
        return "down", []
    return (output[0], output[1:]) if output else ("down", [])
