"""Who lives in the lab: hosts, roles, addresses and names.

The lab reproduces seed 003's "Configuration complète 2 MX": two MX hosts of priority 10 and 20,
shared mailbox storage, an authoritative DNS, and a sending MTA that really falls back from MX 10
to MX 20. Everything here is pure data so that configs and tests can be derived from one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Topology = Literal["shared", "relay"]
TOPOLOGIES: tuple[Topology, ...] = ("shared", "relay")

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
    """One lab host: its short name (also its namespace suffix), role and address offset."""

    name: str
    role: Literal["dns", "storage", "mx", "sender"]
    offset: int
    mx_priority: int | None = None

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def namespace(self) -> str:
        return NAMESPACE_PREFIX + self.name

    def address(self, prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
        return str(prefix[self.offset])


# Boot order matters only for readiness: MXs wait for storage's sshd before mounting.
HOSTS: tuple[LabHost, ...] = (
    LabHost("dns", "dns", 53),
    LabHost("storage", "storage", 20),
    LabHost("mx1", "mx", 11, mx_priority=10),
    LabHost("mx2", "mx", 12, mx_priority=20),
    LabHost("sender", "sender", 30),
)


def host(name: str) -> LabHost:
    """Look a lab host up by short name or FQDN; raise KeyError naming the known hosts."""
    for candidate in HOSTS:
        if name in (candidate.name, candidate.fqdn):
            return candidate
    known = ", ".join(h.name for h in HOSTS)
    raise KeyError(f"no lab host {name!r}; the lab has: {known}")


def gateway(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The machine's own address on the lab bridge (where the harness runs from)."""
    return str(prefix[GATEWAY_OFFSET])


def vip(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The keepalived virtual address, held by mx1 (MASTER) or mx2 (BACKUP)."""
    return str(prefix[VIP_OFFSET])


def mounts_shared_storage(lab_host: LabHost, topology: Topology) -> bool:
    """MX hosts that deliver into the shared store; in the relay topology mx2 only queues."""
    if lab_host.role != "mx":
        return False
    return topology == "shared" or lab_host.mx_priority == min(
        h.mx_priority or 0 for h in HOSTS if h.role == "mx"
    )
