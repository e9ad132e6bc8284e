"""The fault modes a drill can run, by name: adding a mode is one entry here.

Each mode makes the host fault for one host from that host's seams and the time the MTA is given to
stop or start (the inventory's `mxdrill_mta_settle`); a scenario's fault applies
the mode to every host it takes down (the primary, and the backups preferred over the one under
test), as one composed `Faults`.
"""

from __future__ import annotations

from collections.abc import Callable

from mxdrill.faults import Faults, HostFault
from mxdrill.faults.firewall import FirewallSmtp
from mxdrill.faults.kill import KillMaster
from mxdrill.faults.stop import StopService
from mxdrill.mailhost import MailHost

MODES: dict[str, Callable[[MailHost, float], HostFault]] = {
    "stop": lambda host, settle: StopService(host.remote, host.mta, settle_seconds=settle),
    "kill": lambda host, settle: KillMaster(host.remote, host.mta, settle_seconds=settle),
    "reject": lambda host, settle: FirewallSmtp(host.remote, "reject", name="reject"),
    "blackhole": lambda host, settle: FirewallSmtp(host.remote, "drop", name="blackhole"),
}
DEFAULT_MODES = ("stop",)  # what a drill runs unless --faults / ini mxdrill_faults say otherwise


def build(mode: str, hosts: list[MailHost], settle: float = StopService.settle_seconds) -> Faults:
    return Faults([MODES[mode](host, settle) for host in hosts])
