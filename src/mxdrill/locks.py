"""One drill at a time: against one inventory on this machine, and against one primary anywhere.

Two drills stopping the same primary would judge each other's outage, and one's heal would end
the other's fault early. So a drill takes two locks before anything disruptive:
- a local one, `flock` on a file beside the inventory's pending heals, held for the whole run
  (the kernel drops it when the process dies, so a dead run never blocks the next);
- one on every host it will take down, held exactly while its faults are pending (taken just before
  the first harm, given back after the heal; `mxdrill restore` gives back a dead run's): a directory
  in the host's /run (gone at reboot), holding the run id, when it was taken and by whom. Preflight
  only looks at it, so a drill refuses before anything disruptive. A second drill refuses, naming the first; a lock older
  than the stale age (the drill deadline plus the dead-man window: no live drill is that old) is
  taken over, and says so.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mxdrill.remote import Remote

HOST_LOCK = "/run/mxdrill-drill.lock"


class DrillLocked(Exception):
    """Another drill holds a lock this one needs; the message names it."""


@dataclass
class LocalLock:
    path: Path
    run: str
    _handle: IO[str] | None = field(default=None, init=False, repr=False)

    def acquire(self) -> None:
        if self._handle is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DrillLocked(f"another drill is running against this inventory ({holder}; lock {self.path}): "
                              "wait for it to finish, or end it (its heals run when it ends)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"run {self.run}, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def host_lock_command(run: str, stale_seconds: float, directory: str = HOST_LOCK) -> str:
    """One shell command: take the lock (`taken`), or say who holds it (`held RUN SINCE WHO`), or take
    over a stale one (`stale RUN SINCE WHO`). `mkdir` is atomic, so two drills never both get it."""
    who = shlex.quote(f"{socket.gethostname()}:{os.getpid()}")
    return (
        f"d={shlex.quote(directory)}; now=$(date +%s); "
        f"if mkdir \"$d\" 2>/dev/null; then echo {shlex.quote(run)} $now {who} > \"$d/owner\"; echo taken; "
        "else read r t w < \"$d/owner\" 2>/dev/null; "
        f"if [ \"$r\" = {shlex.quote(run)} ]; then echo taken; "
        f"elif [ $((now - ${{t:-0}})) -gt {int(stale_seconds)} ]; then echo {shlex.quote(run)} $now {who} > \"$d/owner\"; "
        "echo \"stale $r $t $w\"; else echo \"held $r $t $w\"; fi; fi"
    )


def host_lock_check_command(run: str, stale_seconds: float, directory: str = HOST_LOCK) -> str:
    """Like host_lock_command but only looks: `free`, or `held RUN SINCE WHO` (another live run's)."""
    return (
        f"d={shlex.quote(directory)}; now=$(date +%s); read r t w < \"$d/owner\" 2>/dev/null; "
        f"if [ -n \"$r\" ] && [ \"$r\" != {shlex.quote(run)} ] && [ $((now - ${{t:-0}})) -le {int(stale_seconds)} ]; "
        "then echo \"held $r $t $w\"; else echo free; fi"
    )


def _refuse(remote: Remote, rest: str) -> DrillLocked:
    other, since, who = (rest.split() + ["?", "?", "?"])[:3]
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(since))) if since.isdigit() else since
    return DrillLocked(f"{remote.host.name}: another drill (run {other}, from {who}, since {shown}) holds "
                       f"{HOST_LOCK}; wait for it, or if it is dead run `mxdrill restore` (or remove that directory on the host)")


def check_host_lock(remote: Remote, run: str, stale_seconds: float) -> None:
    """Refuse (DrillLocked) if another live drill holds the host; takes nothing (the fault step takes it)."""
    word, _, rest = remote.check(host_lock_check_command(run, stale_seconds)).strip().partition(" ")
    if word == "held":
        raise _refuse(remote, rest)


def take_host_lock(remote: Remote, run: str, stale_seconds: float) -> str | None:
    """Take the host's drill lock; returns a note when a stale lock was taken over, raises DrillLocked if held."""
    answer = remote.check(host_lock_command(run, stale_seconds)).strip()
    word, _, rest = answer.partition(" ")
    if word == "held":
        raise _refuse(remote, rest)
    if word == "stale":
        return f"{remote.host.name}: took over a stale drill lock ({rest})"
    return None


def release_host_lock(remote: Remote, run: str) -> None:
    """Remove the host's lock if this run holds it (never another run's)."""
    remote.run(f"d={HOST_LOCK}; read r _ < \"$d/owner\" 2>/dev/null && [ \"$r\" = {shlex.quote(run)} ] && rm -rf \"$d\"; true")
