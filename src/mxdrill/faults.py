"""The nemesis: faults injected on hosts, each with its heal — registered before the harm is done.

A `Nemesis` keeps the faults whose heal is pending, in memory and in the pending-heals file.
`inject` registers the heal (list, file, and a dead-man's switch on the host) *before* running the
fault, so whatever happens next — failure, Ctrl-C, SIGTERM, SIGKILL, a cut SSH link — something will
heal it. Heals are idempotent: they check, then act.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mxdrill import deadman, pending
from mxdrill.history import History
from mxdrill.remote import Remote, RemoteError
from mxdrill.waiting import poll_until


class FaultError(Exception):
    """A fault could not be injected or healed; the message names host, command and what was seen."""


class Fault(Protocol):
    name: str

    @property
    def host(self) -> str: ...
    @property
    def heal_command(self) -> str: ...
    def describe(self) -> str: ...
    def arm(self, tag: str, window: float) -> deadman.DeadMan: ...
    def disarm(self) -> None: ...
    def inject(self) -> None: ...
    def heal(self) -> None: ...


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll until the condition holds; return the seconds it took, or raise naming what never happened."""
    held, waited = poll_until(condition, seconds, what)
    if not held:
        raise FaultError(f"{what} did not happen within {seconds:g}s")
    return waited


@dataclass
class StopService:
    """Stop the MTA over SSH with the host's declared command; heal = start it again.

    "Is it running" is asked of Postfix itself (`postfix status`), not of an init system: on Debian,
    `postfix.service` is a dummy unit that stays "active" while the real instance is down.
    """

    remote: Remote
    settle_seconds: float = 30.0
    name: str = "stop"
    switch: deadman.DeadMan | None = None

    @property
    def host(self) -> str:
        return self.remote.host.name

    @property
    def heal_command(self) -> str:
        service = self.remote.host.service
        return deadman.heal_command(service.status, service.start)

    def describe(self) -> str:
        return f"on {self.host}: `{self.remote.host.service.stop}`; heal: `{self.heal_command}`"

    def running(self) -> bool:
        return self.remote.run(self.remote.host.service.status).rc == 0

    def arm(self, tag: str, window: float) -> deadman.DeadMan:
        self.switch = deadman.arm(self.remote, tag, window)
        return self.switch

    def disarm(self) -> None:
        if self.switch is not None:
            deadman.disarm(self.remote, self.switch)

    def inject(self) -> None:
        self.remote.check(self.remote.host.service.stop)
        wait_for(lambda: not self.running(), self.settle_seconds, f"{self.host}: the MTA stopping")

    def heal(self) -> None:
        if not self.running():
            self.remote.check(self.remote.host.service.start)
            wait_for(self.running, self.settle_seconds, f"{self.host}: the MTA starting")


@dataclass
class Nemesis:
    """Injects faults and owns their pending heals; `heal_all` is safe to call any number of times."""

    history: History
    state_path: Path
    run_id: str
    window: float = deadman.DEFAULT_WINDOW_SECONDS
    pending: list[Fault] = field(default_factory=list)

    def inject(self, fault: Fault) -> None:
        # Heal registered first — in memory, on disk, and on the host — and only then the harm.
        self.pending.append(fault)
        pending.add(self.state_path, pending.PendingHeal(fault.host, fault.name, fault.heal_command, None, None, time.time()))
        switch = fault.arm(f"mxdrill-deadman-{self.run_id}-{fault.host.split('.')[0]}", self.window)
        pending.add(self.state_path, pending.PendingHeal(fault.host, fault.name, fault.heal_command, switch.kind, switch.tag, time.time()))
        self.history.append("fault.armed", host=fault.host, fault=fault.name, deadman=switch.describe())
        self.history.append("fault.injected", host=fault.host, fault=fault.name, plan=fault.describe())
        started = time.monotonic()
        fault.inject()
        self.history.append("wait", host=fault.host, what=f"{fault.name}: MTA stopping", seconds=time.monotonic() - started)

    def heal(self, fault: Fault) -> None:
        started = time.monotonic()
        fault.heal()
        self.history.append("wait", host=fault.host, what=f"{fault.name}: MTA starting", seconds=time.monotonic() - started)
        fault.disarm()
        if fault in self.pending:
            self.pending.remove(fault)
        pending.remove(self.state_path, fault.host, fault.name)
        self.history.append("fault.healed", host=fault.host, fault=fault.name)

    def heal_all(self) -> list[str]:
        """Heal every pending fault, newest first; keep going past failures and report them all."""
        problems = []
        for fault in reversed(list(self.pending)):
            try:
                self.heal(fault)
            except (FaultError, RemoteError) as error:
                problems.append(f"heal of {fault.name} on {fault.host} failed: {error}")
        return problems
