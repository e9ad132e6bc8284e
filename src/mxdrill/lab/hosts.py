"""Booting, finding and stopping lab hosts (one PID namespace each).

A host is `ip netns exec NS unshare --mount --uts --pid --fork --kill-child --mount-proc boot.sh init`.
Processes are found through their network namespace (`ip netns pids`), never through state files,
so a crash halfway — or a deleted run directory — still leaves everything findable and removable.
Each boot records the digest of what the host was booted with, so `lab up` can tell which running
hosts a new configuration would leave unchanged.
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

from mxdrill.lab import configs
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError
from mxdrill.lab.topology import LabHost, Topology


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
    for pid in namespace_pids(lab_host.namespace):
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
        target.write_text(lab_file.content)
        target.chmod(lab_file.mode)
        os.utime(target, (written, written))


def _boot_script() -> str:
    return resources.files("mxdrill.lab").joinpath("boot.sh").read_text()


def _boot_inputs(
    lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network, keys: configs.LabKeys, backups: int
) -> tuple[list[configs.LabFile], dict[str, str]]:
    files = configs.host_files(lab_host, topology, prefix, keys, backups)
    files.append(configs.LabFile("/etc/mxdrill-lab/boot.sh", _boot_script(), 0o755))
    env = configs.boot_environment(lab_host, topology, prefix) | {"LAB_RUN": str(run_dir(lab_host))}
    return files, env


def config_digest(
    lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network, keys: configs.LabKeys, backups: int
) -> str:
    """The digest the host would be booted with in this configuration."""
    return configs.boot_digest(*_boot_inputs(lab_host, topology, prefix, keys, backups))


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
) -> None:
    """Write the host's layers and start it in the background; readiness is checked by the caller."""
    base = run_dir(lab_host)
    if base.exists():
        shutil.rmtree(base)
    files, env = _boot_inputs(lab_host, topology, prefix, keys, backups)
    script = next(f.content for f in files if f.path == "/etc/mxdrill-lab/boot.sh")
    _write_layer(lab_host, files)
    _digest_file(lab_host).write_text(configs.boot_digest(files, env) + "\n")
    # boot.sh init reads itself from an open file, so hiding /run behind a tmpfs later is harmless.
    init_script = base / "boot.sh"
    init_script.write_text(script)
    with open(boot_log(lab_host), "ab") as log:
        subprocess.Popen(
            ["ip", "netns", "exec", lab_host.namespace,
             "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
             "--propagation", "private", "/bin/sh", str(init_script), "init"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd="/",
        )


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
    """argv that runs `command` inside the host, as if logged in at its console."""
    pid = init_pid(lab_host)
    if pid is None:
        raise LabError(f"lab host {lab_host.name} is not running; start the lab with `mxdrill lab up`")
    return ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--wd=/", "--", *command]
