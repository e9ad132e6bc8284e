"""The `kill` fault: the MTA's master process killed with SIGKILL — no clean shutdown, as a crash or the
OOM killer leaves it; heal = start it again, exactly as after `stop`."""

from __future__ import annotations

from dataclasses import dataclass

from mxdrill.faults.stop import StopService
from mxdrill.waiting import wait_for


@dataclass
class KillMaster(StopService):
    """Like `stop`, but the harm is `kill -KILL` of the master named by the MTA's own pid file."""

    name: str = "kill"

    def describe(self) -> str:
        return f"run `{self.mta.kill_command()}`"

    def inject(self) -> None:
        self.remote.check(self.mta.kill_command())
        wait_for(lambda: not self.mta.running(), self.settle_seconds, f"{self.host}: the MTA dying")
