"""Heals still owed, on disk: what `mxdrill restore` reads after a run that died before healing.

The file is written before each fault is injected and rewritten after each heal, so at any instant
it lists every fault that might still be in effect, each with the run that owes it. It lives
beside the inventory, named after the inventory's whole file name (`hosts.yml` and `hosts.yaml`
have a file each). Every change is a read-modify-write under an exclusive lock, written to a
private temporary file and renamed into place, so two processes never lose each other's entries
and a kill mid-write never leaves half a file. `restore` runs the heal text it holds, so the file
must be the user's own and writable by nobody else; anything else is refused in one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path


class PendingError(Exception):
    """The pending-heals file cannot be trusted or read; the message says what to do."""


@dataclass(frozen=True)
class PendingHeal:
    host: str
    fault: str
    heal: str
    deadman_kind: str | None
    deadman_tag: str | None
    injected_at: float
    run: str = ""  # the drill that owes it: another run's entry is never overwritten

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.run, self.host, self.fault)


def state_file(inventory_path: Path) -> Path:
    return inventory_path.resolve().parent / ".mxdrill-state" / f"{inventory_path.name}.pending.json"


def load(path: Path) -> list[PendingHeal]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return []
    _check_trusted(path, info)
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, list):
            raise TypeError(f"expected a list of heals, got {type(raw).__name__}")
        names = {f.name for f in fields(PendingHeal)}
        return [PendingHeal(**{k: v for k, v in entry.items() if k in names}) for entry in raw]
    except (ValueError, TypeError, AttributeError, OSError) as error:
        raise PendingError(
            f"{path}: not a readable pending-heals file ({type(error).__name__}: {error}); it may list primaries "
            "still down: read it, heal those hosts by hand (or fix the file), then move it aside") from None


def _check_trusted(path: Path, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise PendingError(f"{path}: owned by uid {info.st_uid}, not by you (uid {os.geteuid()}); mxdrill runs the heal "
                           "commands it holds, so it refuses: check it, then `chown` it or move it aside")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PendingError(f"{path}: writable by others (mode {stat.S_IMODE(info.st_mode):o}); mxdrill runs the heal "
                           f"commands it holds, so it refuses: check it, then `chmod 600 {path}`")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save(path: Path, heals: list[PendingHeal]) -> None:
    """Atomic replace from a private temporary file (0600), so a kill mid-write hides no pending heal."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps([asdict(h) for h in heals], indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add(path: Path, heal: PendingHeal) -> None:
    """Record (or update) the heal this run owes for this host and fault."""
    with _locked(path):
        save(path, [*(h for h in load(path) if h.key != heal.key), heal])


def remove(path: Path, host: str, fault: str, run: str = "") -> None:
    with _locked(path):
        save(path, [h for h in load(path) if h.key != (run, host, fault)])


def owed_by_others(path: Path, run: str) -> list[PendingHeal]:
    """Heals an earlier (dead) run still owes: its dead-man's switch may fire in the middle of ours."""
    return [h for h in load(path) if h.run != run]
