"""A cgroup v2 subtree of its own for each systemd lab host, found and removed by name.

systemd as PID 1 manages the cgroup tree it sees. A host booted in a cgroup namespace whose root
is the machine's root cgroup would make every host's systemd create `system.slice/...` in the
same place, and stopping a unit in one host would act on another's processes. So each systemd
host joins `<cgroup2 mount>/mxdrill-lab/<host>` before unsharing its cgroup namespace: that
directory is the root of the tree its systemd sees. `down` kills whatever is left in these
directories (`cgroup.kill`) and removes them deepest first, by name, like the lab's namespaces:
a crash halfway leaves nothing that `down` cannot find. Hosts booted with init scripts get none.
"""

from __future__ import annotations

import time
from pathlib import Path

from mxdrill.lab.errors import LabError

PARENT = "mxdrill-lab"


def cgroup2_mount(mounts: str | None = None) -> Path | None:
    """Where the machine mounts its cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified in hybrid mode)."""
    text = Path("/proc/self/mounts").read_text() if mounts is None else mounts
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def parent() -> Path | None:
    mount = cgroup2_mount()
    return mount / PARENT if mount is not None else None


def create(host: str) -> Path:
    """The empty cgroup a systemd host is started in; LabError if the machine has no cgroup v2."""
    base = parent()
    if base is None:
        raise LabError("systemd lab hosts need a cgroup v2 hierarchy on this machine: "
                       "mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) or use `--init initscripts`")
    path = base / host
    if path.exists():  # left by a host that was killed: nothing of it may survive into the new boot
        kill([path])
        if remove([path]):
            raise LabError(f"cgroup {path} of an earlier {host} cannot be removed; run `mxdrill lab down` first")
    path.mkdir(parents=True)
    return path


def host_cgroups() -> list[Path]:
    """The lab's host cgroups now present (none if the machine has no cgroup v2 or no systemd host ran)."""
    base = parent()
    if base is None or not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir())


def leftovers() -> list[Path]:
    """The lab's parent cgroup and everything under it, deepest first (the order they can be removed in)."""
    base = parent()
    if base is None or not base.is_dir():
        return []
    return sorted([base, *(p for p in base.rglob("*") if p.is_dir())], key=lambda p: len(p.parts), reverse=True)


def populated(path: Path) -> bool:
    try:
        return "populated 1" in (path / "cgroup.events").read_text()
    except OSError:
        return False


def kill(paths: list[Path], timeout: float = 5.0) -> list[Path]:
    """SIGKILL every process left in these cgroups and their children; returns the ones still populated."""
    for path in paths:
        try:
            (path / "cgroup.kill").write_text("1\n")
        except OSError:
            pass  # gone already, or a kernel before 5.14: the namespace's SIGKILL has done the work
    deadline = time.monotonic() + timeout
    busy = [p for p in paths if populated(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.02)
        busy = [p for p in busy if populated(p)]
    return busy


def remove(paths: list[Path]) -> list[Path]:
    """Remove these cgroups and everything under them, deepest first; returns what could not be removed."""
    doomed = sorted({d for p in paths if p.is_dir() for d in [p, *p.rglob("*")] if d.is_dir()},
                    key=lambda p: len(p.parts), reverse=True)
    kept = []
    for path in doomed:
        try:
            path.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            kept.append(path)
    return kept


def remove_all(timeout: float = 5.0) -> list[Path]:
    """Kill and remove every cgroup the lab made, the parent too; returns what is left (empty when clean)."""
    hosts = host_cgroups()
    kill(hosts, timeout)
    base = parent()
    left = remove([*hosts, *([base] if base is not None and base.is_dir() else [])])
    return left
