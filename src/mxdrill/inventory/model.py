"""The validated inventory as the rest of mxdrill sees it: hosts with roles, every default filled in.

These models are frozen: once `load_inventory` has checked an inventory, nothing in a drill may change
which host is the primary or where it is reached. They hold resolved values (a local Path rather than
the string the user wrote, the host name when ansible_host is not set), never YAML positions; only
`Inventory` keeps, privately, where its local paths were declared, so that `check_files` can point
there.

No `from __future__ import annotations` here: pydantic reads these annotations at runtime.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, field_serializer

from mxdrill.inventory.schema import default


class SshSettings(BaseModel):
    """How to reach a host: mxdrill runs its remote commands over SSH, with verified host keys."""

    model_config = ConfigDict(frozen=True)

    user: str
    port: int
    key_file: Path | None
    known_hosts: Path
    sudo: bool  # ansible_become: run remote commands through `sudo -n`
    password: SecretStr | None  # SecretStr so that it never ends up in a log or a report
    # The OpenSSH ProxyCommand to reach the host through (from a ProxyJump, -J or ProxyCommand in
    # ansible_ssh_common_args / ansible_ssh_extra_args), its %h and %p not yet expanded; None: direct.
    proxy_command: str | None = None


class ServiceControl(BaseModel):
    """The shell commands that stop, start and check the MTA: the 'service down' fault uses them.

    `stop` and `start` are None unless declared: the MTA module then finds them on the host (on
    systemd, the unit that really runs Postfix — Debian's `postfix.service` is a dummy).
    """

    model_config = ConfigDict(frozen=True)

    stop: str | None
    start: str | None
    status: str


class Host(BaseModel):
    """One inventory host with an mxdrill role, with every default filled in."""

    model_config = ConfigDict(frozen=True)

    name: str  # the inventory hostname
    address: str  # ansible_host, or the inventory hostname
    roles: frozenset[str]  # among "primary", "backup", "storage", "mailstore", "userdb", "dns", "sender"
    ssh: SshSettings
    service: ServiceControl
    mail_log: str
    log_source: str  # auto, file or journald
    mailbox_base: str
    mx_priority: int | None
    export: str | None

    @field_serializer("roles", when_used="json")
    def _sorted_roles(self, roles: frozenset[str]) -> list[str]:
        """Reports must not change from run to run with set ordering."""
        return sorted(roles)


class Inventory(BaseModel):
    """The validated inventory: the domain under test and the hosts that serve it.

    `load_inventory` guarantees exactly one primary, at least one backup with an MX priority no lower,
    and at most one storage, DNS and sender host; so does each domain of a `Fleet`.
    """

    model_config = ConfigDict(frozen=True)

    path: Path  # as the user gave it, so that messages name the file the way the user does
    domain: str
    recipients: list[str]
    nameserver: str | None  # None: the system resolver
    mailbox_format: str
    storage_fstype: str
    vip: str | None
    keep_probes: bool
    command_timeout: float
    drain_deadline: float
    mta_settle: float = default("mxdrill_mta_settle")  # the MTA's time to stop, and to start again
    # "always" or "HH:MM-HH:MM" (UTC, daily)
    maintenance_window: str | None = default("mxdrill_maintenance_window")
    # the host heals itself this long after a fault if the harness is gone
    deadman_window: float = default("mxdrill_deadman_window")
    drill_deadline: float = default("mxdrill_drill_deadline")  # the whole drill, all steps
    min_mx_ttl: int = default("mxdrill_min_mx_ttl")  # below: a warning (every outage sends senders back to DNS)
    min_queue_lifetime: float = default("mxdrill_min_queue_lifetime")  # a queueing backup keeps mail this long
    tls_ca: Path | None = None  # the CA the MXs' certificates chain to; None: this machine's trust store
    cert_min_days: int = default("mxdrill_cert_min_days")  # a certificate expiring sooner is a warning
    hosts: dict[str, Host]  # inventory hostname -> host, in file order

    # (host name, variable) -> (file, dotted key, line) where a local path was declared, for check_files.
    _declared: dict[tuple[str, str], tuple[str, str, int | None]] = PrivateAttr(default_factory=dict)

    def _with_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles]

    @property
    def primary(self) -> Host:
        """The MX with the lowest preference: the one each drill takes down."""
        return self._with_role("primary")[0]

    @property
    def backups(self) -> list[Host]:
        """Backup MXs in the order a sender tries them (lowest MX priority first)."""
        return sorted(self._with_role("backup"), key=lambda h: h.mx_priority or 0)

    @property
    def mxs(self) -> list[Host]:
        """Every MX, in DNS preference order."""
        return [self.primary, *self.backups]

    @property
    def peers(self) -> list[Host]:
        """The MXs at the primary's own priority, the primary first: senders share the mail between them
        (seed 003's round-robin); a single host when every backup has a greater priority."""
        return self.peers_of(self.primary)

    def peers_of(self, mx: Host) -> list[Host]:
        """`mx` and the other MXs at its own priority, `mx` first."""
        return [mx, *(other for other in self.mxs if other.mx_priority == mx.mx_priority and other.name != mx.name)]

    @property
    def storage(self) -> Host | None:
        """The shared mailbox store, when the MXs deliver into one."""
        return next(iter(self._with_role("storage")), None)

    @property
    def mailstore(self) -> Host | None:
        """The internal mail store the MXs relay the domain to (Postfix + Dovecot), when they deliver nowhere themselves."""
        return next(iter(self._with_role("mailstore")), None)

    @property
    def mailstore_marks(self) -> tuple[str, str] | None:
        """The mail store's name and address: how an MX's transport_maps entry may name it."""
        store = self.mailstore
        return (store.name, store.address) if store is not None else None

    @property
    def userdb(self) -> Host | None:
        """The database server the MXs look their domains and users up in (Postfix mysql: maps), when declared."""
        return next(iter(self._with_role("userdb")), None)

    @property
    def dns(self) -> Host | None:
        return next(iter(self._with_role("dns")), None)

    @property
    def sender(self) -> Host | None:
        return next(iter(self._with_role("sender")), None)

    def pairs(self) -> list[tuple[Host, Host]]:
        """(primary, backup) for each backup: one drill scenario family per pair."""
        return [(self.primary, backup) for backup in self.backups]

    def redacted(self) -> dict[str, Any]:
        """The inventory as plain JSON-able data for reports, passwords replaced by "***"."""
        data = self.model_dump(mode="json")
        for name, host in self.hosts.items():
            if host.ssh.password is not None:
                data["hosts"][name]["ssh"]["password"] = "***"
        return data


class Fleet(BaseModel):
    """One inventory, many mail domains: an `Inventory` per domain, in the file order of the primaries.

    Each domain's Inventory has that domain's primary and backups and the shared storage, DNS and
    sender hosts, and its domain-wide settings from its own primary: so a drill of one domain is the
    drill of a one-domain inventory, and nothing downstream needs to know about fleets.
    """

    model_config = ConfigDict(frozen=True)

    path: Path
    domains: list[Inventory]
    # every role host once, in file order, with all its roles (a domain's Inventory shows another
    # domain's MX only for the shared role it may also play)
    hosts: dict[str, Host]

    @property
    def mxs(self) -> list[Host]:
        """Every domain's MXs, domain after domain, each in DNS preference order."""
        return [mx for inventory in self.domains for mx in inventory.mxs]

    def redacted(self) -> dict[str, Any]:
        """Each domain's inventory as plain JSON-able data for reports, passwords replaced by "***"
        (one domain: that domain's, as before fleets)."""
        if len(self.domains) == 1:
            return self.domains[0].redacted()
        return {"path": str(self.path), "domains": [inventory.redacted() for inventory in self.domains]}

    def domain(self, name: str) -> Inventory:
        """The Inventory of the mail domain `name` (compared as DNS names compare); KeyError if none."""
        wanted = name.lower().removesuffix(".")
        for inventory in self.domains:
            if inventory.domain == wanted:
                return inventory
        raise KeyError(f"no mail domain {name} in {self.path} (it has {', '.join(i.domain for i in self.domains)})")
