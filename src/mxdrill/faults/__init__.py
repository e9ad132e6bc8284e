"""The nemesis: faults done to hosts, each with its heal — registered before the harm is done.

A fault is small: inject, heal (idempotent: it checks, then acts), its heal as one shell command
(for the pending-heals file, `mxdrill restore` and the dead-man's switch), arm and disarm that
switch, and a line for the plan. Faults compose: `Faults` (a list of host faults) is itself a
fault, so "stop the primary and the first backup" is two `stop`s in one.

The `Nemesis` registers each part's heal — in memory, in the pending-heals file, and on the host
as a dead-man's switch — *before* injecting anything, so whatever happens next (failure, Ctrl-C,
SIGTERM, SIGKILL, a cut SSH link) something will heal it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mxdrill import pending
from mxdrill.faults import deadman
from mxdrill.faults.deadman import shown
from mxdrill.checker import INJECTED_SUFFIX
from mxdrill.history import Kind, Record
from mxdrill.remote import RemoteError
from mxdrill.waiting import WaitTimeout


class DeadManArmed(Exception):
    """A heal ran, but the host's dead-man's switch could not be confirmed cancelled."""


class HostFault(Protocol):
    """One fault on one host."""

    name: str

    @property
    def host(self) -> str: ...
    def heal_command(self) -> str: ...
    def describe(self) -> str:
        """The harm, as the plan and the history show it: "run `systemctl stop postfix`"."""
        ...
    def arm(self, tag: str, window: float) -> deadman.DeadMan: ...
    def disarm(self) -> bool:
        """Cancel the dead-man's switch; True when the host confirms none is armed any more."""
        ...
    def inject(self) -> None: ...
    def heal(self) -> None: ...


@dataclass
class Faults:
    """A list of host faults, done in order and healed in reverse: a fault like any other."""

    parts: list[HostFault]

    @property
    def name(self) -> str:
        return "+".join(dict.fromkeys(p.name for p in self.parts))

    @property
    def hosts(self) -> list[str]:
        return [p.host for p in self.parts]

    def describe(self) -> str:
        return "; ".join(f"on {p.host}: {p.describe()}" for p in self.parts)


@dataclass
class Nemesis:
    """Injects faults and owns their pending heals; `heal_all` is safe to call any number of times."""

    record: Record
    state_path: Path
    run_id: str
    window: float = deadman.DEFAULT_WINDOW_SECONDS
    pending: list[HostFault] = field(default_factory=list)

    def inject(self, faults: Faults) -> None:
        # Every heal registered first — in memory, on disk, and on the host — and only then the harm.
        for fault in faults.parts:
            self._register(fault)
        for fault in faults.parts:
            self.record.append(Kind.FAULT_INJECTED, host=fault.host, fault=fault.name, plan=fault.describe())
            started = time.monotonic()
            fault.inject()
            self.record.append(Kind.WAIT, host=fault.host, what=f"{fault.name}{INJECTED_SUFFIX}", seconds=time.monotonic() - started)

    def _register(self, fault: HostFault) -> None:
        self.pending.append(fault)
        heal = fault.heal_command()
        pending.add(self.state_path, pending.PendingHeal(fault.host, fault.name, heal, None, None, time.time(), self.run_id))
        switch = fault.arm(f"mxdrill-deadman-{self.run_id}-{fault.host.split('.')[0]}", self.window)
        pending.add(self.state_path, pending.PendingHeal(fault.host, fault.name, heal, switch.kind, switch.tag,
                                                         time.time(), self.run_id))
        self.record.append(Kind.FAULT_ARMED, host=fault.host, fault=fault.name, deadman=switch.describe())

    def heal(self, faults: Faults) -> None:
        for fault in reversed(faults.parts):
            self._heal_one(fault)

    def _heal_one(self, fault: HostFault) -> None:
        started = time.monotonic()
        fault.heal()
        self.record.append(Kind.WAIT, host=fault.host, what=f"{fault.name}: healed", seconds=time.monotonic() - started)
        cancelled = fault.disarm()
        self.record.append(Kind.FAULT_HEALED, host=fault.host, fault=fault.name, deadman_cancelled=cancelled)
        if fault in self.pending:
            self.pending.remove(fault)
        if not cancelled:  # keep the entry: `mxdrill restore` cancels it once the host answers again
            raise DeadManArmed(f"{fault.host}: the dead-man's switch is still armed after cancelling it; "
                               f"run `mxdrill restore --hosts <inventory>` (the pending heal is kept in {self.state_path})")
        pending.remove(self.state_path, fault.host, fault.name, self.run_id)

    def heal_all(self) -> list[str]:
        """Heal every pending fault, newest first; keep going past failures and report them all."""
        problems = []
        for fault in reversed(list(self.pending)):
            try:
                self._heal_one(fault)
            except (WaitTimeout, RemoteError, DeadManArmed) as error:
                problems.append(f"heal of {fault.name} on {fault.host} failed: {error}")
        return problems
