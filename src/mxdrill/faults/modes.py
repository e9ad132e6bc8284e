"""The fault modes a drill can run, by name: adding a mode is one entry here.

A mode makes a scenario's host faults from the scenario's hosts (`FaultTargets`): the hosts it takes
down (the primary, and the backups preferred over the one under test), the backup under test, the
time the MTA is given to stop or start (the inventory's `mxdrill_mta_settle`) and the domain's VIP.
Most modes do the same harm to every host taken down; `vip` takes the address from the primary only,
`storage` adds the loss of the shared store on the backup to a stopped primary, `mailstore` stops
the mail store the MXs relay to and `userdb` the database they look users up in (their scenario's
`down` is that host, not the primary). The result is one
composed `Faults`, done in order and healed in reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mxdrill.faults import Faults, HostFault
from mxdrill.faults.firewall import FirewallSmtp
from mxdrill.faults.kill import KillMaster
from mxdrill.faults.stop import StopService
from mxdrill.faults.storage import StorageLoss
from mxdrill.faults.userdb import UserDbDown
from mxdrill.faults.vip import VipLoss
from mxdrill.mailhost import MailHost
from mxdrill.remote import Remote


@dataclass(frozen=True)
class FaultTargets:
    down: list[MailHost]  # the primary first
    backup: MailHost
    settle: float = StopService.settle_seconds
    vip: str | None = None
    userdb: Remote | None = None  # the user database host (`mxdrill_userdb`): not a mail host, only a target


Mode = Callable[[FaultTargets], list[HostFault]]


def _each_down(make: Callable[[MailHost, float], HostFault]) -> Mode:
    return lambda t: [make(host, t.settle) for host in t.down]


_stop = _each_down(lambda host, settle: StopService(host.remote, host.mta, settle_seconds=settle))


def _vip(t: FaultTargets) -> list[HostFault]:
    if t.vip is None:
        raise ValueError("the vip fault needs the domain's keepalived address: declare mxdrill_vip")
    return [VipLoss(t.down[0].remote, t.vip, t.settle)]


def _userdb(t: FaultTargets) -> list[HostFault]:
    if t.userdb is None:
        raise ValueError("the userdb fault needs the database the MXs look users up in: declare it in mxdrill_userdb")
    return [UserDbDown(t.userdb, t.settle)]


def _storage(t: FaultTargets) -> list[HostFault]:
    return [*_stop(t), StorageLoss(t.backup.remote, t.backup.host.mailbox_base)]


MODES: dict[str, Mode] = {
    "stop": _stop,
    "kill": _each_down(lambda host, settle: KillMaster(host.remote, host.mta, settle_seconds=settle)),
    "reject": _each_down(lambda host, settle: FirewallSmtp(host.remote, "reject", name="reject")),
    "blackhole": _each_down(lambda host, settle: FirewallSmtp(host.remote, "drop", name="blackhole")),
    "vip": _vip,
    "storage": _storage,
    # the mail store the MXs relay to (seed 003 Scénario 3): its Postfix stopped, the MXs up and queueing
    "mailstore": _stop,
    # the user database (seed 003 Scénario 2) stopped: every MX up, answering 4xx until it returns
    "userdb": _userdb,
}
DEFAULT_MODES = ("stop",)  # what a drill runs unless --faults / ini mxdrill_faults say otherwise
MTA_STAYS_UP = frozenset({"vip", "mailstore", "userdb"})  # the primary's MTA still runs: no sender fails over
# drilled once per domain, with its first backup: VRRP runs between the primary and it; one mail store, one database
FIRST_BACKUP_ONLY = frozenset({"vip", "mailstore", "userdb"})
EVERY_MX_QUEUES = frozenset({"mailstore"})  # the primary and the backup both take the outage's probes and queue them
# fault modes whose target is not the primary but the host of another role (`Scenario.down` holds it)
TAKES_DOWN: dict[str, str] = {"mailstore": "mailstore", "userdb": "userdb"}
TEMPFAILS = frozenset({"userdb"})  # every MX answers the outage's probes 4xx: senders keep them, none is taken


def build(mode: str, targets: FaultTargets) -> Faults:
    return Faults(MODES[mode](targets))
