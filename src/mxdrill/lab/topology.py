"""Who lives in the lab: hosts, roles, addresses and names.

The lab reproduces seed 003's "Configuration complète 2 MX": two MX hosts of priority 10 and 20,
shared mailbox storage, an authoritative DNS, and a sending MTA that really falls back from MX 10
to MX 20. A second backup MX (mx3, priority 30) can join it (`lab up --backups 2`), so that drills
over several (primary, backup) pairs have something real to run against. More mail domains can join
it too (`lab up --domains N`): each its own MX pair (MX 10, MX 20, no VIP) in the same DNS, sharing the
store, the DNS host and the sender of the first, so that a fleet of domains can be drilled at once.
Everything here is pure data so that configs and tests can be derived from one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# shared: both MXs deliver into one shared store (seed 003 Scénario 1); relay: the backup queues for the
# primary; store: both MXs only relay, over TLS with SASL, to an internal mail store that delivers with
# Dovecot's LMTP (Scénario 3).
Topology = Literal["shared", "relay", "store"]
TOPOLOGIES: tuple[Topology, ...] = ("shared", "relay", "store")

# How the MX hosts and the sender boot: Debian's init scripts under tini (the default, quick), or
# systemd 252 as PID 1 with the journal as the only log, as a fresh Debian 12 host runs. The DNS and
# storage hosts serve the drill but are not under test: they keep the init-script style in both.
Init = Literal["initscripts", "systemd"]
INITS: tuple[Init, ...] = ("initscripts", "systemd")
DEFAULT_INIT: Init = "initscripts"

DOMAIN = "example.test"
DEFAULT_PREFIX = ipaddress.IPv4Network("198.51.100.0/24")
# The lab's IPv6 net, on the bridge only like the IPv4 one: a /64 of the documentation prefix
# 2001:db8::/32 (RFC 3849), so that an MX name has an AAAA as well as an A, each answering SMTP.
PREFIX6 = ipaddress.IPv6Network("2001:db8:51:100::/64")
NAMESPACE_PREFIX = "mxd-"
BRIDGE = "mxd-br0"
RUN_DIR = Path("/run/mxdrill-lab")
VMAIL_ID = 5000
STORAGE_EXPORT = "/srv/vhosts"
MAILBOX_BASE = "/var/mail/vhosts"
RECIPIENT_USERS = ("probe", "postmaster")
VMAIL_HOME = "/var/vmail"  # the mail store's Dovecot mailboxes: VMAIL_HOME/<domain>/<user>, Maildir
# The SASL account the MXs relay to the mail store with (a lab secret: it sits in the MXs' map files and
# in Dovecot's passdb on the store, never in an inventory or a report).
RELAY_USER = "relay@example.test"
RELAY_PASSWORD = "lab-relay-secret"

# Where the MXs look their domains and users up (`lab up --userdb`): files (texthash maps on each MX, the
# default) or mysql (seed 003 Scénario 2: MariaDB on the userdb host, `mysql:` maps on both MXs).
UserDb = Literal["files", "mysql"]
USERDBS: tuple[UserDb, ...] = ("files", "mysql")
DEFAULT_USERDB: UserDb = "files"

# How the first domain publishes its MX records (`lab up --mx-priorities`): distinct (MX 10 mx1, MX 20 mx2, the
# seed's primary and backup) or equal (both at MX 10: seed 003 "Load Balancing avec Round-Robin DNS").
Priorities = Literal["distinct", "equal"]
PRIORITIES: tuple[Priorities, ...] = ("distinct", "equal")
DEFAULT_PRIORITIES: Priorities = "distinct"
USERDB_NAME = "mail"
USERDB_USER = "postfix"
USERDB_PASSWORD = "lab-userdb-secret"  # in the MXs' map files (0640, group postfix) only, never in a report
RECIPIENTS = tuple(f"{user}@{DOMAIN}" for user in RECIPIENT_USERS)

# Host number inside the prefix for the machine's end of the bridge and for the VIP.
GATEWAY_OFFSET = 1
VIP_OFFSET = 10


@dataclass(frozen=True)
class LabHost:
    """One lab host: its short name (also its namespace suffix), role and address offset.

    `vrrp`: the host runs keepalived and may hold the VIP. `relay_backup`: in the relay topology this
    MX queues mail for the domain and relays it to the primary instead of delivering it itself.
    `domain`: the mail domain it is named in and, for an MX, serves; `label`: its name in that domain
    when the short name must differ (mx1.example2.test is `mx1-d2`: short names are unique in the lab).
    """

    name: str
    role: Literal["dns", "storage", "mailstore", "userdb", "mx", "sender"]
    offset: int
    mx_priority: int | None = None
    vrrp: bool = False
    relay_backup: bool = False
    domain: str = DOMAIN
    label: str | None = None

    @property
    def fqdn(self) -> str:
        return f"{self.label or self.name}.{self.domain}"

    @property
    def namespace(self) -> str:
        return NAMESPACE_PREFIX + self.name

    def address(self, prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
        return str(prefix[self.offset])

    def address6(self, prefix6: ipaddress.IPv6Network = PREFIX6) -> str:
        """Its IPv6 address: mx1 (198.51.100.11) is 2001:db8:51:100::11."""
        return str(prefix6[ipv6_offset(self.offset)])


def ipv6_offset(offset: int) -> int:
    """An IPv4 host number read as hex digits, so that the IPv6 address ends as the IPv4 one does (.11 → ::11)."""
    return int(str(offset), 16)


# Every host of the first domain's lab (EVERY_HOST below adds the further domains' MXs). Boot order
# matters only for readiness: MXs wait for storage's sshd before mounting.
ALL_HOSTS: tuple[LabHost, ...] = (
    LabHost("dns", "dns", 53),
    LabHost("storage", "storage", 20),
    LabHost("mailstore", "mailstore", 25),
    LabHost("userdb", "userdb", 26),
    LabHost("mx1", "mx", 11, mx_priority=10, vrrp=True),
    LabHost("mx2", "mx", 12, mx_priority=20, vrrp=True, relay_backup=True),
    LabHost("mx3", "mx", 13, mx_priority=30),
    LabHost("sender", "sender", 30),
)
BACKUP_CHOICES: tuple[int, ...] = (1, 2)
DEFAULT_BACKUPS = 1

# Mail domains: the first is the lab above; domain K (2..MAX_DOMAINS) is exampleK.test, served by its
# own MX pair at .1K1 (MX 10) and .1K2 (MX 20) — example2.test: 198.51.100.121 and .122 — clear of the
# first domain's .1-.53. MAX_DOMAINS is what has been booted and checked on this machine.
DEFAULT_DOMAINS = 1
MAX_DOMAINS = 8
DOMAIN_OFFSET_BASE = 100
DOMAIN_OFFSET_STEP = 10


def domain_name(number: int) -> str:
    """The name of mail domain `number`: example.test for the first, exampleK.test for domain K."""
    return DOMAIN if number == 1 else DOMAIN.replace(".", f"{number}.", 1)


def mail_domains(domains: int = DEFAULT_DOMAINS) -> tuple[str, ...]:
    """The names of the first `domains` mail domains, the first domain first."""
    return tuple(domain_name(number) for number in range(1, domains + 1))


def recipients(domain: str) -> tuple[str, ...]:
    """The lab's mailboxes in a domain: probe@ and postmaster@ (RECIPIENTS for the first)."""
    return tuple(f"{user}@{domain}" for user in RECIPIENT_USERS)


def domain_group(domain: str) -> str:
    """The inventory group of a further domain: its first label (example2 for example2.test)."""
    return domain.split(".", 1)[0]


def domain_mxs(number: int) -> tuple[LabHost, LabHost]:
    """Domain `number`'s (2 or more) MX pair: mx1 (MX 10) and mx2 (MX 20, the relay topology's queueing backup)."""
    domain, base = domain_name(number), DOMAIN_OFFSET_BASE + DOMAIN_OFFSET_STEP * number
    return (
        LabHost(f"mx1-d{number}", "mx", base + 1, mx_priority=10, domain=domain, label="mx1"),
        LabHost(f"mx2-d{number}", "mx", base + 2, mx_priority=20, relay_backup=True, domain=domain, label="mx2"),
    )


# The further domains' MXs, and every host any lab can run (keys are made for all of them).
DOMAIN_HOSTS: tuple[LabHost, ...] = tuple(h for number in range(2, MAX_DOMAINS + 1) for h in domain_mxs(number))
EVERY_HOST: tuple[LabHost, ...] = ALL_HOSTS + DOMAIN_HOSTS


def _primary_priority() -> int:
    return min(h.mx_priority or 0 for h in ALL_HOSTS if h.role == "mx")


def _size_problem(backups: int, domains: int) -> str | None:
    """What is out of range in a lab of `backups` backup MXs and `domains` mail domains, and what to pass instead."""
    if backups not in BACKUP_CHOICES:
        return (f"the lab runs {' or '.join(map(str, BACKUP_CHOICES))} backup MXs, not {backups}: "
                f"pass --backups {' or --backups '.join(map(str, BACKUP_CHOICES))}")
    if not DEFAULT_DOMAINS <= domains <= MAX_DOMAINS:
        return (f"the lab runs {DEFAULT_DOMAINS} to {MAX_DOMAINS} mail domains, not {domains}: "
                f"pass --domains {DEFAULT_DOMAINS} to {MAX_DOMAINS}")
    return None


def lab_hosts(backups: int = DEFAULT_BACKUPS, domains: int = DEFAULT_DOMAINS) -> tuple[LabHost, ...]:
    """The hosts of a lab with `backups` backup MXs (the lowest-priority ones first) and `domains` mail
    domains, in boot order: the first domain's lab, then each further domain's MX pair."""
    problem = _size_problem(backups, domains)
    if problem is not None:
        raise ValueError(problem)
    backup_mxs = sorted(
        (h for h in ALL_HOSTS if h.role == "mx" and h.mx_priority != _primary_priority()),
        key=lambda h: h.mx_priority or 0,
    )
    dropped = {h.name for h in backup_mxs[backups:]}
    further = tuple(h for number in range(2, domains + 1) for h in domain_mxs(number))
    return tuple(h for h in ALL_HOSTS if h.name not in dropped) + further


# The default lab: one backup MX, exactly seed 003's two-MX architecture.
HOSTS: tuple[LabHost, ...] = lab_hosts(DEFAULT_BACKUPS)


def _named(name: str, lab: tuple[LabHost, ...]) -> LabHost | None:
    return next((h for h in lab if name in (h.name, h.fqdn)), None)


def host(name: str, backups: int = DEFAULT_BACKUPS, domains: int = DEFAULT_DOMAINS) -> LabHost:
    """Look a host of the lab with `backups` backup MXs and `domains` mail domains up by short name or FQDN.

    KeyError names the known ones, and the `lab up` option that runs the host asked for, if one does.
    """
    found = _named(name, lab_hosts(backups, domains))
    if found is not None:
        return found
    known = ", ".join(h.name for h in lab_hosts(backups, domains))
    raise KeyError(f"no lab host {name!r}; the lab has: {known}{_runs_with(name)}")


def _runs_with(name: str) -> str:
    """' (mx3 runs with `mxdrill lab up --backups 2`)' for a host of another lab, else ''."""
    options = [f"--backups {b}" for b in BACKUP_CHOICES if _named(name, lab_hosts(b))]
    options += [f"--domains {d}" for d in range(2, MAX_DOMAINS + 1) if _named(name, lab_hosts(domains=d))]
    return f" ({name} runs with `mxdrill lab up {options[0]}`)" if options else ""


def gateway(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The machine's own address on the lab bridge (where the harness runs from)."""
    return str(prefix[GATEWAY_OFFSET])


def gateway6(prefix6: ipaddress.IPv6Network = PREFIX6) -> str:
    """The machine's own IPv6 address on the lab bridge."""
    return str(prefix6[ipv6_offset(GATEWAY_OFFSET)])


def vip(prefix: ipaddress.IPv4Network = DEFAULT_PREFIX) -> str:
    """The keepalived virtual address, held by mx1 (MASTER) or mx2 (BACKUP); mx3 takes no part in VRRP."""
    return str(prefix[VIP_OFFSET])


def mounts_shared_storage(lab_host: LabHost, topology: Topology) -> bool:
    """MX hosts that deliver into the shared store; in the relay topology mx2 only queues, mx3 still delivers;
    in the store topology every MX relays to the mail store and mounts nothing."""
    if lab_host.role != "mx" or topology == "store":
        return False
    return topology == "shared" or not lab_host.relay_backup


def relays_to_mailstore(lab_host: LabHost, topology: Topology) -> bool:
    """MX hosts that hand the domain to the mail store (transport_maps, TLS, SASL): every MX of the store topology."""
    return lab_host.role == "mx" and topology == "store"


def published_priority(lab_host: LabHost, priorities: str = "distinct") -> int | None:
    """The MX preference the lab's DNS publishes for the host: mx2 at mx1's own 10 with --mx-priorities equal."""
    if priorities == "equal" and lab_host.name == "mx2":
        return _primary_priority()
    return lab_host.mx_priority


def looks_up_in_mysql(lab_host: LabHost, userdb: str) -> bool:
    """MX hosts whose domains and users are `mysql:` tables on the userdb host: every MX, with --userdb mysql (which
    runs with the shared topology only, where every MX delivers)."""
    return userdb == "mysql" and lab_host.role == "mx"


def runs_systemd(lab_host: LabHost, init: Init) -> bool:
    """Whether this host boots systemd as PID 1: the MXs and the sender in the systemd profile."""
    return init == "systemd" and lab_host.role in ("mx", "sender")


def refusal(backups: int, init: str = DEFAULT_INIT, domains: int = DEFAULT_DOMAINS, topology: str = "shared",
            userdb: str = DEFAULT_USERDB, priorities: str = "distinct") -> str | None:
    """Why the lab will not run this combination (one line naming the option to change), or None.

    Further domains get one backup MX each and boot init scripts: mx3 and the systemd profile are about
    how one domain fails over, and are tested on the first; repeating them per domain would multiply the
    lab's hosts and profile tests for nothing a drill over a fleet of domains needs.
    """
    problem = _size_problem(backups, domains)
    if problem is not None:
        return problem
    if domains > DEFAULT_DOMAINS and backups != DEFAULT_BACKUPS:
        return f"--domains {domains} gives each domain one backup MX: --backups {backups} runs with --domains 1 only"
    if domains > DEFAULT_DOMAINS and init != DEFAULT_INIT:
        return f"--domains {domains} boots init-script hosts only: --init {init} runs with --domains 1 only"
    if domains > DEFAULT_DOMAINS and topology == "store":
        return f"the mail store serves {DOMAIN} only: --topology store runs with --domains 1 only"
    if userdb == "mysql" and (topology != "shared" or domains > DEFAULT_DOMAINS):
        return ("--userdb mysql is seed 003's Scénario 2, two MXs delivering into one store with their users in one "
                "database: it runs with --topology shared --domains 1 only")
    if priorities == "equal" and (topology != "shared" or domains > DEFAULT_DOMAINS):
        return ("--mx-priorities equal publishes mx1 and mx2 both at MX 10, sharing the mail they both deliver: "
                "it runs with --topology shared --domains 1 only")
    return None


def describe(topology: str, backups: int, init: str = DEFAULT_INIT, domains: int = DEFAULT_DOMAINS,
             userdb: str = DEFAULT_USERDB, priorities: str = "distinct") -> str:
    """How messages name a lab configuration: 'shared topology, 1 backup MX' (', systemd' in that profile,
    ', users in mysql' with the shared database, ', 4 mail domains' with more than one)."""
    text = f"{topology} topology, {backups} backup MX{'s' if backups > 1 else ''}"
    if init != DEFAULT_INIT:
        text += f", {init}"
    if userdb != DEFAULT_USERDB:
        text += f", users in {userdb}"
    if priorities != DEFAULT_PRIORITIES:
        text += f", {priorities} MX priorities"
    return text if domains == DEFAULT_DOMAINS else f"{text}, {domains} mail domains"
