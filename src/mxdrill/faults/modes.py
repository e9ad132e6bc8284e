"""The fault modes a drill can run, by name: adding a mode is one entry here.

Each mode makes the host fault for one host from that host's seams; a scenario's fault applies
the mode to every host it takes down (the primary, and the backups preferred over the one under
test), as one composed `Faults`.
"""

from __future__ import annotations

from collections.abc import Callable

from mxdrill.faults import Faults, HostFault
from mxdrill.faults.stop import StopService
from mxdrill.mailhost import MailHost

MODES: dict[str, Callable[[MailHost], HostFault]] = {
    "stop": lambda host: StopService(host.remote, host.mta),
}


def build(mode: str, hosts: list[MailHost]) -> Faults:
    return Faults([MODES[mode](host) for host in hosts])
