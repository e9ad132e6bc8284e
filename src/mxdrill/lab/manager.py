"""`mxdrill lab up | down | status | exec`: the lab's life cycle.

`up` is idempotent and cheap: a healthy lab of the same configuration is left alone, and a change of
topology, of the number of backup MXs or of mail domains, or of init reboots only the hosts whose
rendered configuration differs (each domain's mx2 for a topology switch; mx3 and the DNS host for a
change of backups; the DNS host for a change of domains; the MXs and the sender for a change of init),
boots the hosts that are new and stops the ones no longer wanted.
`down` removes everything found by name (namespaces, cgroups, mounts, processes), and both hold a
lock so two invocations never interleave.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from mxdrill.lab import cgroups, configs, hosts, network, readiness, tls
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError, LabUsageError
from mxdrill.lab.topology import Init, Topology

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
    "dovecot": "dovecot-core",  # the mail store (it boots in every lab)
    "sievec": "dovecot-sieve",
    "mariadbd": "mariadb-server",  # the user database (it boots in every lab)
}
# What only the systemd profile needs besides: systemd itself, and sudo for the `drill` login user.
SYSTEMD_PROGRAMS = {"/lib/systemd/systemd": "systemd", "sudo": "sudo", "systemd-run": "systemd"}
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOPOLOGY_FILE = topo.RUN_DIR / "topology"
BACKUPS_FILE = topo.RUN_DIR / "backups"
DOMAINS_FILE = topo.RUN_DIR / "domains"
PRIORITIES_FILE = topo.RUN_DIR / "mx-priorities"
USERDB_FILE = topo.RUN_DIR / "user-lookups"  # not "userdb": that is the userdb host's run directory
INIT_FILE = topo.RUN_DIR / "init"
PREFIX_FILE = topo.RUN_DIR / "prefix"
KEYS_FILE = topo.RUN_DIR / "keys.sha256"
STATE_DIR_FILE = topo.RUN_DIR / "state-dir"  # where its keys are: `mxdrill init` finds the lab from anywhere
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

    @property
    def tls_dir(self) -> Path:
        """The lab CA (ca.pem, ca.key) and each MX's certificate and key (<fqdn>.pem, <fqdn>.key)."""
        return self.state_dir / "tls"

    @property
    def tls_ca(self) -> Path:
        """The lab CA's certificate: what the inventory's `mxdrill_tls_ca` names."""
        return tls.ca_path(self.tls_dir)


# --- preconditions ------------------------------------------------------------------------------

def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, bridge, mounts): run it with sudo or as root")


def missing_packages(init: Init = topo.DEFAULT_INIT) -> list[str]:
    """Debian packages whose programs are not installed, each named once."""
    wanted = REQUIRED_PROGRAMS | (SYSTEMD_PROGRAMS if init == "systemd" else {})
    missing = []
    for program, package in wanted.items():
        if shutil.which(program, path=SBIN_PATH) is None and package not in missing:
            missing.append(package)
    return missing


def require_packages(init: Init = topo.DEFAULT_INIT) -> None:
    missing = missing_packages(init)
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


def _host_key(paths: LabPaths, lab_host: topo.LabHost) -> Path:
    return paths.host_keys_dir / f"{lab_host.name}_ed25519"


def ensure_keys(paths: LabPaths) -> configs.LabKeys:
    """Make (once) the client key and a stable host key for every host the lab can run, mx3 and all domains' MXs too,
    and the lab CA with a certificate for every such MX (renewed only when it nears its end).

    Keys for hosts that are not running are made too, so that the key set — and the fingerprint the
    running lab records — is the same whatever the number of backups or of domains.
    """
    client = paths.ssh_dir / "id_ed25519"
    _keygen(client, "mxdrill-lab")
    host_private, host_public = {}, {}
    for lab_host in topo.EVERY_HOST:
        key = _host_key(paths, lab_host)
        _keygen(key, lab_host.fqdn)
        host_private[lab_host.name] = key.read_text()
        host_public[lab_host.name] = key.with_suffix(".pub").read_text()
    return configs.LabKeys(
        client_public=client.with_suffix(".pub").read_text(),
        client_private=client.read_text(),
        host_private=host_private,
        host_public=host_public,
        tls=tls.ensure(paths.tls_dir),
    )


def write_ssh_files(paths: LabPaths, keys: configs.LabKeys, state: RunState) -> None:
    """known_hosts and ssh_config for the harness, naming the hosts of the lab as it is about to run."""
    known_hosts = configs.known_hosts_lines(keys, state.prefix, state.backups, state.domains)
    (paths.ssh_dir / "known_hosts").write_text(known_hosts)
    ssh_config = configs.ssh_config(str(paths.ssh_dir.resolve()), state.prefix, state.backups, state.init, state.domains)
    (paths.ssh_dir / "ssh_config").write_text(ssh_config)


def _fingerprint(client_public: str, host_public: dict[str, str]) -> str:
    material = client_public + "".join(host_public[h.name] for h in topo.EVERY_HOST)
    return hashlib.sha256(material.encode()).hexdigest()


def keys_fingerprint(keys: configs.LabKeys) -> str:
    """Identifies the key set a running lab was booted with (another checkout has other keys)."""
    return _fingerprint(keys.client_public, keys.host_public)


def running_with(keys: configs.LabKeys) -> bool:
    try:
        return KEYS_FILE.read_text().strip() == keys_fingerprint(keys)
    except OSError:
        return False


def booted_from(paths: LabPaths) -> bool:
    """Whether the running lab was booted with this state directory's keys (read only: makes no key)."""
    try:
        client_public = (paths.ssh_dir / "id_ed25519.pub").read_text()
        host_public = {h.name: _host_key(paths, h).with_suffix(".pub").read_text() for h in topo.EVERY_HOST}
        return KEYS_FILE.read_text().strip() == _fingerprint(client_public, host_public)
    except OSError:
        return False


# --- run state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunState:
    """What the running lab was brought up as: read back by `up` (what to change), `status` and `inventory`."""

    topology: Topology
    backups: int
    prefix: ipaddress.IPv4Network
    init: Init = topo.DEFAULT_INIT
    domains: int = topo.DEFAULT_DOMAINS
    userdb: topo.UserDb = topo.DEFAULT_USERDB
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES

    def describe(self) -> str:
        return topo.describe(self.topology, self.backups, self.init, self.domains, self.userdb, self.priorities)

    @property
    def lab_hosts(self) -> tuple[topo.LabHost, ...]:
        return topo.lab_hosts(self.backups, self.domains)

    def digest(self, lab_host: topo.LabHost, keys: configs.LabKeys) -> str:
        """What `lab_host` would boot with in this lab, as a digest to compare with what it booted with."""
        return hosts.config_digest(lab_host, self.topology, self.prefix, keys, self.backups, self.init, self.domains,
                                   self.userdb, self.priorities)

    def probes(self, only: list[str] | None = None) -> list[readiness.Probe]:
        """The readiness probes of this lab (or of the named hosts)."""
        return readiness.probes(self.topology, self.prefix, only=only, backups=self.backups, init=self.init,
                                domains=self.domains)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def current_topology() -> str | None:
    return _read(TOPOLOGY_FILE)


def run_state() -> RunState | None:
    """The running lab's state, or None if there is none (or it is unreadable: then `up` rebuilds)."""
    topology = current_topology()
    if topology not in topo.TOPOLOGIES:
        return None
    backups_text = _read(BACKUPS_FILE) or str(topo.DEFAULT_BACKUPS)  # a lab from before --backups has one
    domains_text = _read(DOMAINS_FILE) or str(topo.DEFAULT_DOMAINS)  # and one before --domains
    try:
        backups, domains = int(backups_text), int(domains_text)
        prefix = ipaddress.IPv4Network(_read(PREFIX_FILE) or str(topo.DEFAULT_PREFIX))
    except ValueError:
        return None
    init = _read(INIT_FILE) or topo.DEFAULT_INIT  # a lab from before --init ran init scripts
    userdb = _read(USERDB_FILE) or topo.DEFAULT_USERDB  # and one before --userdb kept its users in files
    priorities = _read(PRIORITIES_FILE) or topo.DEFAULT_PRIORITIES
    if (init not in topo.INITS or userdb not in topo.USERDBS or priorities not in topo.PRIORITIES
            or topo.refusal(backups, init, domains, topology, userdb, priorities) is not None):
        return None
    return RunState(topology, backups, prefix, init, domains, userdb, priorities)  # type: ignore[arg-type]


def _write_state(state: RunState, keys: configs.LabKeys) -> None:
    topo.RUN_DIR.mkdir(parents=True, exist_ok=True)
    TOPOLOGY_FILE.write_text(state.topology + "\n")
    BACKUPS_FILE.write_text(f"{state.backups}\n")
    DOMAINS_FILE.write_text(f"{state.domains}\n")
    USERDB_FILE.write_text(f"{state.userdb}\n")
    PRIORITIES_FILE.write_text(f"{state.priorities}\n")
    INIT_FILE.write_text(f"{state.init}\n")
    PREFIX_FILE.write_text(f"{state.prefix}\n")
    KEYS_FILE.write_text(keys_fingerprint(keys) + "\n")


def _record_state_dir(paths: LabPaths) -> None:
    STATE_DIR_FILE.write_text(f"{paths.state_dir.resolve()}\n")


def running_state_dir() -> Path | None:
    """The state directory the running lab was brought up with (its SSH key and known_hosts)."""
    text = _read(STATE_DIR_FILE)
    return Path(text) if text and run_state() is not None else None


def require_running(paths: LabPaths) -> RunState:
    """The running lab's state, checked to belong to this state directory; LabError otherwise."""
    state = run_state()
    if state is None or not network.lab_namespaces():
        raise LabError("the lab is not up: run `mxdrill lab up` first")
    if not booted_from(paths):
        raise LabError(
            f"the running lab was booted with other keys than those in {paths.state_dir}: "
            "pass the --state-dir it was brought up with"
        )
    return state


# --- up -----------------------------------------------------------------------------------------

def failing(
    topology: Topology, prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
) -> list[readiness.Probe]:
    return [probe for probe in RunState(topology, backups, prefix, init, domains).probes() if not probe.check()]


def _refuse_unsupported(state: RunState) -> None:
    """LabUsageError, before anything is touched, for a lab the lab does not run (`--domains 9`, `--backups 3`)."""
    refused = topo.refusal(state.backups, state.init, state.domains, state.topology, state.userdb, state.priorities)
    if refused is not None:
        raise LabUsageError(refused)


@dataclass(frozen=True)
class Change:
    """What turns the running lab into the wanted one: hosts to (re)boot and hosts to stop."""

    boot: list[topo.LabHost]
    stop: list[topo.LabHost]
    running: frozenset[str]  # namespaces present before the change

    def describe(self) -> str:
        parts = []
        rebooted = [h.name for h in self.boot if h.namespace in self.running]
        booted = [h.name for h in self.boot if h.namespace not in self.running]
        if rebooted:
            parts.append(f"rebooting {', '.join(rebooted)}")
        if booted:
            parts.append(f"booting {', '.join(booted)}")
        if self.stop:
            parts.append(f"stopping {', '.join(h.name for h in self.stop)}")
        return "; ".join(parts)


def plan_change(state: RunState | None, wanted: RunState, keys: configs.LabKeys) -> Change | None:
    """The hosts to touch to go from the running lab to `wanted`, or None if it must be rebuilt from scratch.

    A host is rebooted only if what it would boot with differs from what it was booted with (a
    topology switch touches mx2; a change of backups touches mx3 and the DNS zones). The hosts kept
    must all answer, else nothing is trusted and the lab is rebuilt, as before.
    """
    if state is None or state.prefix != wanted.prefix or not network.bridge_exists():
        return None
    running = frozenset(network.lab_namespaces())
    hosts_wanted = wanted.lab_hosts
    stop = [h for h in topo.EVERY_HOST if h.namespace in running and h not in hosts_wanted]
    boot = [h for h in hosts_wanted if h.namespace not in running or hosts.booted_digest(h) != wanted.digest(h, keys)]
    kept = [h.name for h in hosts_wanted if h not in boot]
    vip_moves = any(h.vrrp for h in boot)  # the VIP's holder is checked once the rebooted VRRP peer is back
    if not all(probe.check() for probe in wanted.probes(only=kept) if not (vip_moves and probe.service == "vip-smtp")):
        return None
    return Change(boot, stop, running)


def up(
    topology: Topology,
    prefix: ipaddress.IPv4Network,
    paths: LabPaths,
    say: Say = _print,
    backups: int = topo.DEFAULT_BACKUPS,
    init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
    userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> None:
    """Bring the lab up (or leave a healthy one alone) and return once every service answers."""
    wanted = RunState(topology, backups, prefix, init, domains, userdb, priorities)
    _refuse_unsupported(wanted)
    require_root()
    require_packages(init)
    network.check_prefix(prefix)
    with locked():
        started = time.monotonic()
        keys = ensure_keys(paths)
        write_ssh_files(paths, keys, wanted)
        state = run_state()
        if state is not None and not running_with(keys):
            say(f"the running lab was booted with other keys (another state directory than {paths.state_dir}): rebooting it")
            _down_unlocked(say=lambda _m: None)
            state = None
        change = plan_change(state, wanted, keys)
        if change is not None and not change.boot and not change.stop:
            _record_state_dir(paths)
            say(f"already up ({wanted.describe()}), every service answers")
            return
        if change is not None:
            old = state.describe() if state is not None else "?"
            say(f"changing {old} → {wanted.describe()}: {change.describe()}")
            for lab_host in change.stop:
                _stop_host(lab_host)
            _halt([h for h in change.boot if h.namespace in change.running])
            to_boot = change.boot
        else:
            if network.lab_namespaces() or network.bridge_exists():
                say("a previous lab is half up: removing it first")
                _down_unlocked(say=lambda _m: None)
            to_boot = list(wanted.lab_hosts)
            say(f"building network {prefix} on bridge {topo.BRIDGE}")
        network.build(prefix, wanted.lab_hosts)
        _write_state(wanted, keys)
        _record_state_dir(paths)
        _boot_and_wait(to_boot, wanted, keys, say)
        say(f"up in {time.monotonic() - started:.1f}s ({wanted.describe()}); ssh config: {paths.ssh_dir / 'ssh_config'}")


def _halt(lab_hosts: list[topo.LabHost]) -> None:
    """Stop these hosts (systemd ones power off first) and remove their cgroups, keeping their namespaces."""
    survivors = hosts.stop([h.namespace for h in lab_hosts])
    if survivors:
        raise LabError(f"processes {survivors} of lab hosts {', '.join(h.name for h in lab_hosts)} did not exit "
                       "after SIGKILL; check `ps -p`")
    for lab_host in lab_hosts:
        hosts.remove_cgroup(lab_host)


def _stop_host(lab_host: topo.LabHost) -> None:
    """Remove one host from a running lab: its processes, its cgroup, its veth and namespace, its run files."""
    _halt([lab_host])
    network.remove_host(lab_host.namespace)
    shutil.rmtree(hosts.run_dir(lab_host), ignore_errors=True)


def reboot(
    host_name: str, paths: LabPaths, prefix: ipaddress.IPv4Network | None = None, say: Say = _print
) -> None:
    """Restart one host from its pristine layers (undoes whatever a test broke on it)."""
    require_root()
    with locked():
        state = run_state()
        if state is None:
            raise LabError("the lab is not up: run `mxdrill lab up` first")
        if prefix is not None and prefix != state.prefix:
            raise LabError(f"the running lab is on {state.prefix}, not {prefix}: run `mxdrill lab up --prefix {prefix}` first")
        lab_host = _lookup(host_name, state)
        keys = ensure_keys(paths)
        if not running_with(keys):
            raise LabError(f"the running lab was booted with other keys than {paths.state_dir}: run `mxdrill lab up` from there")
        write_ssh_files(paths, keys, state)
        _halt([lab_host])
        _boot_and_wait([lab_host], state, keys, say)


def _lookup(host_name: str, state: RunState | None) -> topo.LabHost:
    """The running lab's host of that name (the default lab's when none runs); LabError naming the known ones."""
    backups, domains = (state.backups, state.domains) if state else (topo.DEFAULT_BACKUPS, topo.DEFAULT_DOMAINS)
    try:
        return topo.host(host_name, backups, domains)
    except KeyError as error:
        raise LabError(str(error.args[0])) from None


def _boot_and_wait(to_boot: list[topo.LabHost], state: RunState, keys: configs.LabKeys, say: Say) -> None:
    for lab_host in to_boot:
        init = "systemd" if topo.runs_systemd(lab_host, state.init) else "init scripts"
        say(f"booting {lab_host.fqdn} ({lab_host.address(state.prefix)}, {lab_host.role}, {init})")
        hosts.boot(lab_host, state.topology, state.prefix, keys, state.backups, state.init, state.domains, state.userdb,
                   state.priorities)
    pending = state.probes(only=[h.name for h in to_boot])
    left = readiness.wait_all(
        pending, UP_DEADLINE_SECONDS,
        lambda probe, t: say(f"  {probe.host}: {probe.service} ready ({t:.1f}s)"),
    )
    if left:
        raise LabError(_not_up_message(left, state.init))


def _not_up_message(left: list[readiness.Probe], init: Init = topo.DEFAULT_INIT) -> str:
    first = left[0]
    lab_host = next(h for h in topo.EVERY_HOST if h.name == first.host)
    log = hosts.boot_log(lab_host)
    tail = ""
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").strip().splitlines()[-3:]
        tail = " | last lines: " + " / ".join(lines) if lines else ""
    services = ", ".join(f"{p.host}:{p.service}" for p in left)
    if topo.runs_systemd(lab_host, init):
        system, failed = hosts.system_state(lab_host)
        failures = f" (failed: {', '.join(failed)})" if failed else ""
        look = f"systemd says {system}{failures}; its journal: `mxdrill lab exec {lab_host.name} -- journalctl -b -p notice`"
    else:
        look = f"its mail log: `mxdrill lab exec {lab_host.name} -- tail /var/log/mail.log`"
    return (f"host {lab_host.name} did not come up within {UP_DEADLINE_SECONDS:.0f}s (not answering: {services}); "
            f"its boot log: {log}; {look}{tail}")


# --- down ---------------------------------------------------------------------------------------

def down(say: Say = _print) -> None:
    """Remove every namespace, veth, bridge, process and run file of the lab; fine to run any time."""
    require_root()
    with locked():
        _down_unlocked(say)


def _down_unlocked(say: Say) -> None:
    started = time.monotonic()
    namespaces = network.lab_namespaces()
    survivors = hosts.stop(namespaces)
    if survivors:
        raise LabError(f"processes {survivors} in the lab's namespaces did not exit after SIGKILL; check `ps -p`")
    host_cgroups = len(cgroups.host_cgroups())
    stuck = cgroups.remove_all()
    if stuck:
        raise LabError(f"the lab's cgroup {stuck[0]} cannot be removed; see what is left in `cat {stuck[0]}/cgroup.procs`")
    network.remove()
    _unmount_leftovers()
    shutil.rmtree(topo.RUN_DIR, ignore_errors=True)
    removed = f"{len(namespaces)} namespaces" + (f", {host_cgroups} cgroups" if host_cgroups else "")
    say(f"down in {time.monotonic() - started:.1f}s: removed {removed}, the bridge and run files")


def _unmount_leftovers() -> None:
    """Mounts live inside the hosts' own mount namespaces and die with them; this catches any that leaked."""
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target.startswith(str(topo.RUN_DIR)) or target.startswith(f"/run/netns/{topo.NAMESPACE_PREFIX}"):
            subprocess.run(["umount", "-l", target], capture_output=True, timeout=15, check=False)


def leftovers() -> list[str]:
    """What a clean `down` must leave at zero: namespaces, bridge, routes into the lab's prefixes, processes, mounts,
    run files."""
    found = [f"namespace {ns}" for ns in network.lab_namespaces()]
    found += [f"link {link}" for link in network.lab_links()]
    found += [f"route {route}" for route in network.lab_routes()]
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {line.split()[1]}" for line in mounts.splitlines() if "mxdrill-lab" in line or "/run/netns/mxd-" in line]
    found += [f"cgroup {path}" for path in cgroups.leftovers()]
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
    detail: str = ""


def status(prefix: ipaddress.IPv4Network) -> tuple[RunState | None, list[ServiceState]]:
    """Each host of the running lab (its PID 1, and how it booted) and each service probe, as up/down; no waiting.

    A systemd host also shows `systemctl is-system-running` and, when it is degraded, the failed units.
    """
    state = run_state()
    shown = RunState("shared", topo.DEFAULT_BACKUPS, prefix) if state is None else dataclasses.replace(state, prefix=prefix)
    states = []
    for lab_host in shown.lab_hosts:
        pid = hosts.init_pid(lab_host)
        how = "" if pid is None else ("systemd" if hosts.pid1_is_systemd(pid) else "init scripts (tini)")
        states.append(ServiceState(lab_host.name, "host", pid is not None, how))
    for probe in shown.probes():
        if probe.service == "systemd":
            states.append(_systemd_state(_lookup(probe.host, shown)))
        else:
            states.append(ServiceState(probe.host, probe.service, probe.check()))
    return state, states


def _systemd_state(lab_host: topo.LabHost) -> ServiceState:
    system, failed = hosts.system_state(lab_host)
    detail = f"{system}; failed: {', '.join(failed)}" if failed else system
    return ServiceState(lab_host.name, "systemd", system in readiness.BOOTED, detail)


def exec_in(host_name: str, command: list[str]) -> int:
    """Run a command inside a lab host with the terminal attached; returns its exit code."""
    require_root()
    lab_host = _lookup(host_name, run_state())
    if not command:
        command = ["/bin/bash", "-l"] if sys.stdin.isatty() else ["/bin/sh"]
    env = {"PATH": SBIN_PATH, "TERM": os.environ.get("TERM", "dumb"), "HOME": "/root", "LANG": "C.UTF-8"}
    return subprocess.run(hosts.nsenter_argv(lab_host, command), env=env, check=False).returncode
