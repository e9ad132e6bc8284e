"""The ways in: `load_inventory` reads, checks and resolves an inventory in one go, `check_files`
later makes sure the local files it names can be read, and `merged_vars` shows each host's variables
as merged, before any check, the way `ansible-inventory --list` shows them (to compare the two).

Loading runs the stages in the order their errors make sense to a user: the file itself (YAML, or
INI when it is INI-shaped), then the Ansible structure (with mxdrill's names vetted as they are
read), group_vars/ and host_vars/ beside it, the roles, each role host's variables, the domain's
variables, and last the rules across hosts (the timing of the dead-man's switch among them). The first problem stops it, as one InventoryError at its
file and line. Hosts without an mxdrill role are the user's own and are left alone.
"""

import os
from pathlib import Path
from typing import Any

from mxdrill.inventory import ssh_args
from mxdrill.inventory.ansible import ALL_VARS, Collector, Layout, collect
from mxdrill.inventory.checks import (
    Loaded,
    check_distinct_addresses,
    check_domain_vars_agree,
    check_host_names,
    check_mx_priorities,
    check_timing,
    role_members,
)
from mxdrill.inventory.model import Host, Inventory, ServiceControl, SshSettings
from mxdrill.inventory.ini import is_ini, read_ini
from mxdrill.inventory.schema import ROLE_GROUPS, DomainVars, HostVars, validate, vet_group, vet_var
from mxdrill.inventory.source import InventoryError, Source, dotted, parse_document, read_text
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


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve an inventory; raise InventoryError (file:line: key: message) if broken."""
    layout = read_layout(path)
    source = layout.source
    members = role_members(layout, source)
    check_host_names(members, source)
    base = Path(path).absolute().parent

    loaded: dict[str, Loaded] = {}
    for name, entry in layout.hosts.items():
        roles = frozenset(ROLE_GROUPS[g] for g, hosts in members.items() if name in hosts)
        if not roles:
            continue  # one of the user's own Ansible hosts
        variables = layout.effective_vars(entry)
        listed = next(hosts[name] for g, hosts in members.items() if name in hosts)
        settings = validate(HostVars, variables, source, listed)
        loaded[name] = Loaded(_build_host(name, roles, settings, base), variables, listed, source)

    primary = loaded[next(iter(members["mxdrill_primary"]))]
    backups = [loaded[name] for name in members["mxdrill_backup"]]
    domain = validate(DomainVars, primary.variables, source, ALL_VARS)
    check_domain_vars_agree(primary, [h for h in loaded.values() if h is not primary])
    check_mx_priorities(primary, backups)
    check_distinct_addresses([primary, *backups])
    check_timing(domain, primary)

    inventory = Inventory(
        path=Path(path), domain=domain.mxdrill_domain, recipients=domain.mxdrill_recipients,
        nameserver=domain.mxdrill_nameserver, mailbox_format=domain.mxdrill_mailbox_format,
        storage_fstype=domain.mxdrill_storage_fstype, vip=domain.mxdrill_vip,
        keep_probes=domain.mxdrill_keep_probes, command_timeout=domain.mxdrill_command_timeout,
        drain_deadline=domain.mxdrill_drain_deadline, mta_settle=domain.mxdrill_mta_settle,
        maintenance_window=domain.mxdrill_maintenance_window, deadman_window=domain.mxdrill_deadman_window,
        drill_deadline=domain.mxdrill_drill_deadline,
        hosts={name: item.host for name, item in loaded.items()},
    )
    inventory._declared = _declared_paths(loaded)
    return inventory


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
