"""The ways in: `load_inventory` reads, checks and resolves an inventory in one go (`load_fleet` one of
several mail domains, into one Inventory per domain), `check_files`
later makes sure the local files it names can be read, and `merged_vars` shows each host's variables
as merged, before any check, the way `ansible-inventory --list` shows them (to compare the two).

Loading runs the stages in the order their errors make sense to a user: the file itself (YAML, or
INI when it is INI-shaped), then the Ansible structure (with mxdrill's names vetted as they are
read), group_vars/ and host_vars/ beside it, the roles, each role host's variables, the mail
domains and their variables, and last the rules across hosts (the timing of the dead-man's switch
among them). The first problem stops it, as one InventoryError at its file and line. Hosts without
an mxdrill role are the user's own and are left alone.
"""

import os
import ssl
from pathlib import Path
from typing import Any

from mxdrill.inventory import ssh_args
from mxdrill.inventory.ansible import Collector, Layout, collect
from mxdrill.inventory.checks import Loaded, check_host_names, role_members
from mxdrill.inventory.domains import Domain, check_domain_not_shadowed, check_domains, split_domains
from mxdrill.inventory.model import Fleet, Host, Inventory, ServiceControl, SshSettings
from mxdrill.inventory.ini import is_ini, read_ini
from mxdrill.inventory.schema import OPTIONAL_ROLES, ROLE_GROUPS, HostVars, validate, vet_group, vet_var
from mxdrill.inventory.source import InventoryError, KeyPath, Source, dotted, parse_document, read_text
from mxdrill.inventory.vars_dirs import attach

LOCAL_PATH_VARS = ("ansible_ssh_private_key_file", "mxdrill_known_hosts")
"""The variables naming files on this machine: check_files needs to know where each was declared."""


def read_layout(path: str | Path) -> Layout:
    """The inventory file (YAML or INI) and the group_vars/ and host_vars/ beside it, vetted as read."""
    file = Path(path)
    source = Source(str(path))
    text = read_text(file, source.name)
    if is_ini(file, text):
        source.syntax = "ini"
        collector = Collector(source, vet_group, vet_var)
        read_ini(text, collector)
        layout = collector.layout()
    else:
        layout = collect(parse_document(text, source), source, vet_group, vet_var)
    attach(layout, file, vet_group, vet_var)
    return layout


def merged_vars(path: str | Path) -> dict[str, dict[str, Any]]:
    """Every host's variables as Ansible merges them, raw (no type checked, no default filled in)."""
    layout = read_layout(path)
    return {name: {var: v.value for var, v in layout.effective_vars(entry).items()}
            for name, entry in layout.hosts.items()}


def load_fleet(path: str | Path) -> Fleet:
    """Load, validate and resolve an inventory of one or more mail domains, one Inventory per domain;
    raise InventoryError (file:line: key: message) if broken. See `domains` for how MXs find their domain."""
    domains, loaded = _load_domains(path)
    return Fleet(path=Path(path), domains=[_inventory(path, domain, loaded) for domain in domains],
                 hosts={name: item.host for name, item in loaded.items()})


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve an inventory; raise InventoryError (file:line: key: message) if broken.

    An inventory of several mail domains (a fleet, see `load_fleet`) is refused, not cut to its first
    domain: every caller drills one domain, and drilling the first of four would report the drill
    passed while three domains went untested, or stop example.test's primary for a user who meant
    example2.test. The error names the domains, at the primary that made the inventory a fleet.
    """
    domains, loaded = _load_domains(path)
    if len(domains) > 1:
        second = domains[1].primary
        names = ", ".join(domain.name for domain in domains)
        raise second.inventory.error(second.listed, f"this inventory holds {len(domains)} mail domains ({names}) "
                                                    "and this command drills one: use a fleet-aware command, "
                                                    "or an inventory of one domain")
    return _inventory(path, domains[0], loaded)


def _load_domains(path: str | Path) -> tuple[list[Domain], dict[str, Loaded]]:
    """Every stage of loading but the last: the checked domains, and every role host by name in file order."""
    layout = read_layout(path)
    members = role_members(layout, layout.source)
    check_host_names(members, layout.source)
    loaded = _role_hosts(layout, members, Path(path).absolute().parent)
    primaries = [loaded[name] for name in members["mxdrill_primary"]]
    if len(primaries) > 1:
        check_domain_not_shadowed(layout, primaries)
    domains = split_domains(primaries, [loaded[name] for name in members["mxdrill_backup"]])
    check_domains(domains, list(loaded.values()))
    return domains, loaded


def _role_hosts(layout: Layout, members: dict[str, dict[str, KeyPath]], base: Path) -> dict[str, Loaded]:
    """Each host with an mxdrill role, its variables merged and validated; the user's other hosts are left alone."""
    loaded: dict[str, Loaded] = {}
    for name, entry in layout.hosts.items():
        roles = frozenset(ROLE_GROUPS[g] for g, hosts in members.items() if name in hosts)
        if not roles:
            continue  # one of the user's own Ansible hosts
        variables = layout.effective_vars(entry)
        listed = next(hosts[name] for g, hosts in members.items() if name in hosts)
        settings = validate(HostVars, variables, layout.source, listed)
        loaded[name] = Loaded(_build_host(name, roles, settings, base), variables, listed, layout.source)
    return loaded


SHARED_ROLES = frozenset(ROLE_GROUPS[group] for group in OPTIONAL_ROLES)
"""The roles a host plays for every domain of a fleet: storage, DNS, sender."""


def _inventory(path: str | Path, served: Domain, loaded: dict[str, Loaded]) -> Inventory:
    """One domain's Inventory: its MXs and the shared hosts, in file order, its settings from its primary.

    Another domain's MX that is also, say, the DNS host is there as the DNS host only: in this
    domain's drill it is no MX.
    """
    mxs = {mx.host.name for mx in served.mxs}
    hosts = {name: item for name, item in loaded.items() if name in mxs or item.host.roles & SHARED_ROLES}
    domain = served.settings
    inventory = Inventory(
        path=Path(path), domain=domain.mxdrill_domain, recipients=domain.mxdrill_recipients,
        nameserver=domain.mxdrill_nameserver, mailbox_format=domain.mxdrill_mailbox_format,
        storage_fstype=domain.mxdrill_storage_fstype, vip=domain.mxdrill_vip,
        keep_probes=domain.mxdrill_keep_probes, command_timeout=domain.mxdrill_command_timeout,
        drain_deadline=domain.mxdrill_drain_deadline, mta_settle=domain.mxdrill_mta_settle,
        maintenance_window=domain.mxdrill_maintenance_window, deadman_window=domain.mxdrill_deadman_window,
        drill_deadline=domain.mxdrill_drill_deadline, min_mx_ttl=domain.mxdrill_min_mx_ttl,
        min_queue_lifetime=domain.mxdrill_min_queue_lifetime, cert_min_days=domain.mxdrill_cert_min_days,
        tls_ca=_local_path(domain.mxdrill_tls_ca, Path(path).parent) if domain.mxdrill_tls_ca else None,
        hosts={name: _as_seen_by(mxs, item.host) for name, item in hosts.items()},
    )
    inventory._declared = _declared_paths(hosts)
    return inventory


def _as_seen_by(mxs: set[str], host: Host) -> Host:
    """The host as a domain with these MXs sees it: another domain's MX keeps only its shared roles."""
    if host.name in mxs or host.roles <= SHARED_ROLES:
        return host
    return host.model_copy(update={"roles": host.roles & SHARED_ROLES})


def _local_path(value: str, base: Path) -> Path:
    """A path on this machine: ~ expanded, relative paths taken from the inventory's directory."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _build_host(name: str, roles: frozenset[str], v: HostVars, base: Path) -> Host:
    key_file = v.ansible_ssh_private_key_file
    ssh = SshSettings(
        user=v.ansible_user, port=v.ansible_port, sudo=v.ansible_become,
        key_file=_local_path(key_file, base) if key_file else None,
        known_hosts=_local_path(v.mxdrill_known_hosts, base),
        password=v.ansible_password or v.ansible_ssh_pass,
        proxy_command=ssh_args.proxy_command(v.ansible_ssh_common_args, v.ansible_ssh_extra_args),
    )
    service = ServiceControl(stop=v.mxdrill_service_stop, start=v.mxdrill_service_start, status=v.mxdrill_service_status)
    return Host(
        name=name, address=v.ansible_host or name, roles=roles, ssh=ssh, service=service,
        mail_log=v.mxdrill_mail_log, log_source=v.mxdrill_log_source, mailbox_base=v.mxdrill_mailbox_base,
        mx_priority=v.mxdrill_mx_priority, export=v.mxdrill_export,
    )


def _declared_paths(loaded: dict[str, Loaded]) -> dict[tuple[str, str], tuple[str, str, int | None]]:
    declared = {}
    for name, item in loaded.items():
        for var in LOCAL_PATH_VARS:
            source, key = item.where(var)
            declared[(name, var)] = (source.name, dotted(key), source.line(key))
    return declared


# --- local files -----------------------------------------------------------------------------------

def check_files(inv: Inventory) -> None:
    """Fail if a host's SSH key file or known_hosts is missing or unreadable on this machine.

    Not part of load_inventory: the lab writes these files after the inventory is read. The error
    names the line where the path was declared (or where the host is listed, for the default).
    """
    for host in inv.hosts.values():
        for var, local in (("ansible_ssh_private_key_file", host.ssh.key_file), ("mxdrill_known_hosts", host.ssh.known_hosts)):
            if local is None:
                continue
            problem = _unreadable(local)
            if problem:
                file, key, line = inv._declared.get((host.name, var), (str(inv.path), f"{host.name}.{var}", None))
                raise InventoryError(file, line, key, f"{local} {problem} (host {host.name})")
    problem = _unreadable(inv.tls_ca) if inv.tls_ca is not None else None
    if inv.tls_ca is not None and not problem:
        try:
            ssl.create_default_context(cafile=str(inv.tls_ca))
        except (ssl.SSLError, OSError, ValueError) as error:
            problem = f"holds no CA certificate in PEM form ({error}): give the CA's certificate, -----BEGIN CERTIFICATE-----"
    if problem:
        raise InventoryError(str(inv.path), None, "mxdrill_tls_ca", f"{inv.tls_ca} {problem}")


def _unreadable(path: Path) -> str | None:
    """Why `path` cannot serve as a key file or known_hosts, or None if it can."""
    try:
        if not path.exists():
            return "does not exist: create it or fix the path"
    except OSError as error:  # a name longer than the system takes, a loop of symlinks...
        return f"cannot be looked up ({error.strerror or error}): fix the path"
    if not path.is_file():
        return "is not a file"
    if not os.access(path, os.R_OK):
        return "is not readable by this user"
    return None
