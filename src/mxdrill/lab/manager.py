"""`mxdrill lab up | down | status | exec`: the lab's life cycle.

`up` is idempotent (a healthy lab of the same topology is left alone; a topology change reboots only
mx2, the one host that differs), `down` removes everything found by name, and both hold a lock so two
invocations never interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mxdrill.lab import configs, hosts, network, readiness
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError
from mxdrill.lab.topology import Topology

# Debian package that provides each program the lab runs.
REQUIRED_PROGRAMS = {
    "postfix": "postfix",
    "knotd": "knot",
    "sshfs": "sshfs",
    "keepalived": "keepalived",
    "tini": "tini",
    "rsyslogd": "rsyslog",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "ip": "iproute2",
}
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOPOLOGY_FILE = topo.RUN_DIR / "topology"
KEYS_FILE = topo.RUN_DIR / "keys.sha256"
LOCK_FILE = Path("/run/mxdrill-lab.lock")
UP_DEADLINE_SECONDS = 60.0

Say = Callable[[str], None]


def _print(message: str) -> None:
    print(f"lab: {message}", flush=True)


@dataclass(frozen=True)
class LabPaths:
    """Where the harness finds the lab's SSH material (git-ignored state directory)."""

    state_dir: Path

    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def host_keys_dir(self) -> Path:
        return self.state_dir / "hostkeys"


# --- preconditions ------------------------------------------------------------------------------

def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, bridge, mounts): run it with sudo or as root")


def missing_packages() -> list[str]:
    """Debian packages whose programs are not installed, each named once."""
    missing = []
    for program, package in REQUIRED_PROGRAMS.items():
        if shutil.which(program, path=SBIN_PATH) is None and package not in missing:
            missing.append(package)
    return missing


def require_packages() -> None:
    missing = missing_packages()
    if missing:
        raise LabError(
            f"missing Debian package(s): {' '.join(missing)}; install with "
            f"`apt-get update && apt-get install -y {' '.join(missing)}` (or run the README's setup command)"
        )


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One lab operation at a time on this machine."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --- keys ---------------------------------------------------------------------------------------

def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True, capture_output=True, timeout=30,
        )


def ensure_keys(paths: LabPaths, prefix: ipaddress.IPv4Network) -> configs.LabKeys:
    """Make (once) the client key and stable host keys, and write known_hosts and ssh_config for the harness."""
    client = paths.ssh_dir / "id_ed25519"
    _keygen(client, "mxdrill-lab")
    host_private, host_public = {}, {}
    for lab_host in topo.HOSTS:
        key = paths.host_keys_dir / f"{lab_host.name}_ed25519"
        _keygen(key, lab_host.fqdn)
        host_private[lab_host.name] = key.read_text()
        host_public[lab_host.name] = key.with_suffix(".pub").read_text()
    keys = configs.LabKeys(
        client_public=client.with_suffix(".pub").read_text(),
        client_private=client.read_text(),
        host_private=host_private,
        host_public=host_public,
    )
    (paths.ssh_dir / "known_hosts").write_text(configs.known_hosts_lines(keys, prefix))
    (paths.ssh_dir / "ssh_config").write_text(configs.ssh_config(str(paths.ssh_dir.resolve()), prefix))
    return keys


def keys_fingerprint(keys: configs.LabKeys) -> str:
    """Identifies the key set a running lab was booted with (another checkout has other keys)."""
    material = keys.client_public + "".join(keys.host_public[h.name] for h in topo.HOSTS)
    return hashlib.sha256(material.encode()).hexdigest()


def running_with(keys: configs.LabKeys) -> bool:
    try:
        return KEYS_FILE.read_text().strip() == keys_fingerprint(keys)
    except OSError:
        return False


# --- up -----------------------------------------------------------------------------------------

def current_topology() -> str | None:
    try:
        return TOPOLOGY_FILE.read_text().strip() or None
    except OSError:
        return None


def failing(topology: Topology, prefix: ipaddress.IPv4Network) -> list[readiness.Probe]:
    return [probe for probe in readiness.probes(topology, prefix) if not probe.check()]


def up(topology: Topology, prefix: ipaddress.IPv4Network, paths: LabPaths, say: Say = _print) -> None:
    """Bring the lab up (or leave a healthy one alone) and return once every service answers."""
    require_root()
    require_packages()
    network.check_prefix(prefix)
    with locked():
        started = time.monotonic()
        keys = ensure_keys(paths, prefix)
        running = current_topology()
        if running is not None and not running_with(keys):
            say(f"the running lab was booted with other keys (another state directory than {paths.state_dir}): rebooting it")
            _down_unlocked(say=lambda _m: None)
            running = None
        if running == topology and network.lab_namespaces() and not failing(topology, prefix):
            say(f"already up ({topology} topology), every service answers")
            return
        if running is not None and running != topology and _only_mx2_differs(running, prefix):
            say(f"switching topology {running} → {topology}: rebooting mx2")
            to_boot = [topo.host("mx2")]
            hosts.kill([topo.host("mx2").namespace])
        else:
            if network.lab_namespaces() or network.bridge_exists():
                say("a previous lab is half up: removing it first")
                _down_unlocked(say=lambda _m: None)
            to_boot = list(topo.HOSTS)
            say(f"building network {prefix} on bridge {topo.BRIDGE}")
            network.build(prefix)
        topo.RUN_DIR.mkdir(parents=True, exist_ok=True)
        TOPOLOGY_FILE.write_text(topology + "\n")
        KEYS_FILE.write_text(keys_fingerprint(keys) + "\n")
        _boot_and_wait(to_boot, topology, prefix, keys, say)
        say(f"up in {time.monotonic() - started:.1f}s ({topology} topology); ssh config: {paths.ssh_dir / 'ssh_config'}")


def reboot(host_name: str, paths: LabPaths, prefix: ipaddress.IPv4Network = topo.DEFAULT_PREFIX, say: Say = _print) -> None:
    """Restart one host from its pristine layers (undoes whatever a test broke on it)."""
    require_root()
    lab_host = topo.host(host_name)
    with locked():
        topology = current_topology()
        if topology is None:
            raise LabError("the lab is not up: run `mxdrill lab up` first")
        keys = ensure_keys(paths, prefix)
        if not running_with(keys):
            raise LabError(f"the running lab was booted with other keys than {paths.state_dir}: run `mxdrill lab up` from there")
        hosts.kill([lab_host.namespace])
        _boot_and_wait([lab_host], topology, prefix, keys, say)  # type: ignore[arg-type]


def _boot_and_wait(
    to_boot: list[topo.LabHost], topology: Topology, prefix: ipaddress.IPv4Network, keys: configs.LabKeys, say: Say
) -> None:
    for lab_host in to_boot:
        say(f"booting {lab_host.fqdn} ({lab_host.address(prefix)}, {lab_host.role})")
        hosts.boot(lab_host, topology, prefix, keys)
    pending = readiness.probes(topology, prefix, only=[h.name for h in to_boot])
    left = readiness.wait_all(
        pending, UP_DEADLINE_SECONDS,
        lambda probe, t: say(f"  {probe.host}: {probe.service} ready ({t:.1f}s)"),
    )
    if left:
        raise LabError(_not_up_message(left))


def _only_mx2_differs(running: str, prefix: ipaddress.IPv4Network) -> bool:
    """A topology switch can keep every host but mx2 if those are healthy."""
    others = [h.name for h in topo.HOSTS if h.name != "mx2"]
    probes = readiness.probes(running, prefix, only=others)  # type: ignore[arg-type]
    return all(probe.check() for probe in probes if probe.service != "vip-smtp")


def _not_up_message(left: list[readiness.Probe]) -> str:
    first = left[0]
    lab_host = topo.host(first.host)
    log = hosts.boot_log(lab_host)
    tail = ""
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").strip().splitlines()[-3:]
        tail = " | last lines: " + " / ".join(lines) if lines else ""
    services = ", ".join(f"{p.host}:{p.service}" for p in left)
    return (
        f"host {lab_host.name} did not come up within {UP_DEADLINE_SECONDS:.0f}s (not answering: {services}); "
        f"its boot log: {log}; its mail log: `mxdrill lab exec {lab_host.name} -- tail /var/log/mail.log`{tail}"
    )


# --- down ---------------------------------------------------------------------------------------

def down(say: Say = _print) -> None:
    """Remove every namespace, veth, bridge, process and run file of the lab; fine to run any time."""
    require_root()
    with locked():
        _down_unlocked(say)


def _down_unlocked(say: Say) -> None:
    started = time.monotonic()
    namespaces = network.lab_namespaces()
    survivors = hosts.kill(namespaces)
    if survivors:
        raise LabError(f"processes {survivors} in the lab's namespaces did not exit after SIGKILL; check `ps -p`")
    network.remove()
    _unmount_leftovers()
    shutil.rmtree(topo.RUN_DIR, ignore_errors=True)
    say(f"down in {time.monotonic() - started:.1f}s: removed {len(namespaces)} namespaces, the bridge and run files")


def _unmount_leftovers() -> None:
    """Mounts live inside the hosts' own mount namespaces and die with them; this catches any that leaked."""
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target.startswith(str(topo.RUN_DIR)) or target.startswith(f"/run/netns/{topo.NAMESPACE_PREFIX}"):
            subprocess.run(["umount", "-l", target], capture_output=True, timeout=15, check=False)


def leftovers() -> list[str]:
    """What a clean `down` must leave at zero: namespaces, bridge, processes, mounts, run files."""
    found = [f"namespace {ns}" for ns in network.lab_namespaces()]
    found += [f"link {link}" for link in network.lab_links()]
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {line.split()[1]}" for line in mounts.splitlines() if "mxdrill-lab" in line or "/run/netns/mxd-" in line]
    if topo.RUN_DIR.exists():
        found.append(f"run directory {topo.RUN_DIR}")
    for pid_dir in Path("/proc").glob("[0-9]*"):
        if pid_dir.name != str(os.getpid()) and _is_lab_process(pid_dir):
            found.append(f"process {pid_dir.name}")
    return found


def _is_lab_process(pid_dir: Path) -> bool:
    """A lab process either sees a lab overlay in its mount table or was launched from a lab run directory."""
    with contextlib.suppress(OSError):
        if b"mxdrill-lab/" in (pid_dir / "cmdline").read_bytes():
            return True
        return "mxdrill-lab-" in (pid_dir / "mounts").read_text()
    return False


# --- status and exec ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceState:
    host: str
    service: str
    up: bool


def status(prefix: ipaddress.IPv4Network) -> tuple[str | None, list[ServiceState]]:
    """Each host (its PID 1) and each service probe, as up/down; one pass, no waiting."""
    topology = current_topology()
    states = []
    for lab_host in topo.HOSTS:
        states.append(ServiceState(lab_host.name, "host", hosts.init_pid(lab_host) is not None))
    for probe in readiness.probes(topology or "shared", prefix):  # type: ignore[arg-type]
        states.append(ServiceState(probe.host, probe.service, probe.check()))
    return topology, states


def exec_in(host_name: str, command: list[str]) -> int:
    """Run a command inside a lab host with the terminal attached; returns its exit code."""
    require_root()
    try:
        lab_host = topo.host(host_name)
    except KeyError as error:
        raise LabError(str(error.args[0])) from None
    if not command:
        command = ["/bin/bash", "-l"] if sys.stdin.isatty() else ["/bin/sh"]
    env = {"PATH": SBIN_PATH, "TERM": os.environ.get("TERM", "dumb"), "HOME": "/root", "LANG": "C.UTF-8"}
    return subprocess.run(hosts.nsenter_argv(lab_host, command), env=env, check=False).returncode
