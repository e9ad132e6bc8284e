"""Who lives in the lab: hosts, roles, addresses and names.

The lab reproduces seed 003's "Configuration complète 2 MX": two MX hosts of priority 10 and 20,
shared mailbox storage, an authoritative DNS, and a sending MTA that really falls back from MX 10
to MX 20. A second backup MX (mx3, priority 30) can join it (`lab up --backups 2`), so that drills
over several (primary, backup) pairs have something real to run against. Everything here is pure data
so that configs and tests can be derived from one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Topology = Literal["shared", "relay"]
TOPOLOGIES: tuple[Topology, ...] = ("shared", "relay")

# How the MX hosts and the sender boot: Debian's init scripts under tini (the default, quick), or
# systemd 252 as PID 1 with the journal as the only log, as a fresh Debian 12 host runs. The DNS and
# storage hosts serve the drill but are not under test: they keep the init-script style in both.
Init = Literal["initscripts", "systemd"]
INITS: tuple[Init, ...] = ("initscripts", "systemd")
DEFAULT_INIT: Init = "initscripts"

DOMAIN = "example.test"
DEFAULT_PREFIX = ipaddress.IPv4Network("198.51.100.0/24")
NAMESPACE_PREFIX = "mxd-"
BRIDGE = "mxd-br0"
RUN_DIR = Path("/run/mxdrill-lab")
VMAIL_ID = 5000
STORAGE_EXPORT = "/srv/vhosts"
MAILBOX_BASE = "/var/mail/vhosts"
RECIPIENTS = ("probe@example.test", "postmaster@example.test")

# Host number inside the prefix for the machine's end of the bridge and for the VIP.
GATEWAY_OFFSET = 1
VIP_OFFSET = 10


@dataclass(frozen=True)
class LabHost:
    """One lab host: its short name (also its namespace suffix), role and address offset.

    `vrrp`: the host runs keepalived and may hold the VIP. `relay_backup`: in the relay topology this
    MX queues mail for the domain and relays it to the primary instead of delivering it itself.
    """

    name: str
    role: Literal["dns", "storage", "mx", "sender"]
    offset: int
    mx_priority: int | None = None
    vrrp: bool = False
    relay_backup: bool = False

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def namespace(self) -> str:
        return NAMESPACE_PREFIX + self.name

    def address(self, prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
        return str(prefix[self.offset])


# Every host the lab can run. Boot order matters only for readiness: MXs wait for storage's sshd
# before mounting.
ALL_HOSTS: tuple[LabHost, ...] = (
    LabHost("dns", "dns", 53),
    LabHost("storage", "storage", 20),
    LabHost("mx1", "mx", 11, mx_priority=10, vrrp=True),
    LabHost("mx2", "mx", 12, mx_priority=20, vrrp=True, relay_backup=True),
    LabHost("mx3", "mx", 13, mx_priority=30),
    LabHost("sender", "sender", 30),
)
BACKUP_CHOICES: tuple[int, ...] = (1, 2)
DEFAULT_BACKUPS = 1


def _primary_priority() -> int:
    return min(h.mx_priority or 0 for h in ALL_HOSTS if h.role == "mx")


def lab_hosts(backups: int = DEFAULT_BACKUPS) -> tuple[LabHost, ...]:
    """The hosts of a lab with `backups` backup MXs (the lowest-priority ones first), in boot order."""
    if backups not in BACKUP_CHOICES:
        raise ValueError(f"the lab runs {' or '.join(map(str, BACKUP_CHOICES))} backup MXs, not {backups}")
    backup_mxs = sorted(
        (h for h in ALL_HOSTS if h.role == "mx" and h.mx_priority != _primary_priority()),
        key=lambda h: h.mx_priority or 0,
    )
    dropped = {h.name for h in backup_mxs[backups:]}
    return tuple(h for h in ALL_HOSTS if h.name not in dropped)


# The default lab: one backup MX, exactly seed 003's two-MX architecture.
HOSTS: tuple[LabHost, ...] = lab_hosts(DEFAULT_BACKUPS)


def host(name: str, backups: int = DEFAULT_BACKUPS) -> LabHost:
    """Look a host of the lab with `backups` backup MXs up by short name or FQDN; KeyError names the known ones."""
    for candidate in lab_hosts(backups):
        if name in (candidate.name, candidate.fqdn):
            return candidate
    known = ", ".join(h.name for h in lab_hosts(backups))
    hint = ""
    if any(name in (h.name, h.fqdn) for h in ALL_HOSTS):
        more = next(b for b in BACKUP_CHOICES if any(name in (h.name, h.fqdn) for h in lab_hosts(b)))
        hint = f" ({name} runs with `mxdrill lab up --backups {more}`)"
    raise KeyError(f"no lab host {name!r}; the lab has: {known}{hint}")


def gateway(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The machine's own address on the lab bridge (where the harness runs from)."""
    return str(prefix[GATEWAY_OFFSET])


def vip(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The keepalived virtual address, held by mx1 (MASTER) or mx2 (BACKUP); mx3 takes no part in VRRP."""
    return str(prefix[VIP_OFFSET])


def mounts_shared_storage(lab_host: LabHost, topology: Topology) -> bool:
    """MX hosts that deliver into the shared store; in the relay topology mx2 only queues, mx3 still delivers."""
    if lab_host.role != "mx":
        return False
    return topology == "shared" or not lab_host.relay_backup


def runs_systemd(lab_host: LabHost, init: Init) -> bool:
    """Whether this host boots systemd as PID 1: the MXs and the sender in the systemd profile."""
    return init == "systemd" and lab_host.role in ("mx", "sender")


def describe(topology: str, backups: int, init: str = DEFAULT_INIT) -> str:
    """How messages name a lab configuration: 'shared topology, 1 backup MX' (', systemd' in that profile)."""
    text = f"{topology} topology, {backups} backup MX{'s' if backups > 1 else ''}"
    return text if init == DEFAULT_INIT else f"{text}, {init}"
