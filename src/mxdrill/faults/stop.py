"""The `stop` fault: the MTA stopped cleanly with the host's own command; heal = start it again."""

from __future__ import annotations

from dataclasses import dataclass, field

from mxdrill.faults import deadman
from mxdrill.mta import Mta
from mxdrill.remote import Remote
from mxdrill.waiting import wait_for


@dataclass
class StopService(deadman.Switched):
    """Stop the MTA over SSH; it counts as stopped (and started) only when the MTA itself says so."""

    remote: Remote
    mta: Mta
    settle_seconds: float = 30.0
    name: str = "stop"
    switch: deadman.DeadMan | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return self.mta.heal_command()

    def describe(self) -> str:
        return f"run `{self.mta.stop_command()}`"

    def inject(self) -> None:
        self.mta.stop()
        wait_for(lambda: not self.mta.running(), self.settle_seconds, f"{self.host}: the MTA stopping")

    def heal(self) -> None:
        if not self.mta.running():
            self.mta.start()
            wait_for(self.mta.running, self.settle_seconds, f"{self.host}: the MTA starting")
