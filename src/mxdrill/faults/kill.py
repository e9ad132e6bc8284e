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
        """Kill, then wait until Postfix says it is down and nothing listens on port 25 any more: the
        master's children hold the listening socket until they notice their master is gone."""
        self.remote.check(self.mta.kill_command())
        wait_for(lambda: not self.mta.running() and not self.mta.listening(), self.settle_seconds,
                 f"{self.host}: the MTA dying and port 25 closing")
