"""The `vip` fault: the keepalived MASTER loses the virtual address — keepalived stopped on it — and the
VRRP BACKUP must take it over (seed 003, "Alternative : Postfix avec Keepalived (VIP)").

The MTA keeps running: what fails is the address senders use. What the drill measures is the takeover
(seconds until the backup holds the VIP), that mail sent to the VIP lands on the new holder, and that
afterwards exactly one host holds it: keepalived killed without a clean stop, or a VRRP link cut both
ways, leaves it on both (split brain), and then half the senders reach a host that may not be ready.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from mxdrill.faults import deadman
from mxdrill.remote import Remote
from mxdrill.waiting import wait_for

SERVICE = "keepalived"


def service_command(action: str) -> str:
    """The host's own way to start or stop keepalived: systemd where it runs, else its init script."""
    return (f"if [ -d /run/systemd/system ]; then systemctl {action} {SERVICE}; "
            f"else service {SERVICE} {action}; fi")


def holds_command(vip: str) -> str:
    """Exits 0 when this host has the VIP on an interface."""
    return f"ip -o addr show to {shlex.quote(vip)} | grep -q ."


def start_command() -> str:
    """Start keepalived unless it runs; retried for a few seconds, since right after a stop Debian's
    `service keepalived start` fails while the old process is still exiting."""
    start = service_command("start")
    return (f"for _ in 1 2 3 4 5 6 7 8 9 10; do pidof {SERVICE} >/dev/null && exit 0; "
            f"{start} >/dev/null 2>&1; sleep 0.5; done; pidof {SERVICE} >/dev/null")


def holders(remotes: Iterable[Remote], vip: str) -> list[str]:
    """The hosts that hold the VIP now (exactly one is right)."""
    return [r.host.name for r in remotes if r.run(holds_command(vip)).rc == 0]


@dataclass
class VipLoss(deadman.Switched):
    """Stop keepalived on the VIP's holder; heal = start it again (it preempts and takes the VIP back)."""

    remote: Remote
    vip: str
    settle_seconds: float = 30.0
    name: str = "vip"
    switch: deadman.DeadMan | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return start_command()

    def describe(self) -> str:
        return f"run `{service_command('stop')}` (keepalived gives up the VIP {self.vip})"

    def inject(self) -> None:
        """Stop keepalived; done once the host no longer has the VIP (a clean stop removes it) and the old
        process has exited: a heal that found it still exiting would take it for running, and start nothing."""
        self.remote.check(service_command("stop"))
        wait_for(lambda: self.remote.run(f"! pidof {SERVICE} >/dev/null && ! {{ {holds_command(self.vip)}; }}").rc == 0,
                 self.settle_seconds, f"{self.host}: keepalived exiting and giving up the VIP {self.vip}")

    def heal(self) -> None:
        self.remote.check(self.heal_command())
