"""The two ways in: `load_inventory` reads, checks and resolves a hosts.yml in one go, and
`check_files` later makes sure the local files it names can be read.

Loading runs the stages in the order their errors make sense to a user: the YAML itself, then the
Ansible structure (with mxdrill's names vetted as they are read), the roles, each role host's
variables, the domain's variables, and last the rules across hosts. The first problem stops it, as
one InventoryError at its line. Hosts without an mxdrill role are the user's own and are left alone.
"""

import os
from pathlib import Path

from mxdrill.inventory import ssh_args
from mxdrill.inventory.ansible import ALL_VARS, collect
from mxdrill.inventory.checks import (
    Loaded,
    check_distinct_addresses,
    check_domain_vars_agree,
    check_mx_priorities,
    role_members,
)
from mxdrill.inventory.model import Host, Inventory, ServiceControl, SshSettings
from mxdrill.inventory.schema import ROLE_GROUPS, DomainVars, HostVars, validate, vet_group, vet_var
from mxdrill.inventory.source import InventoryError, Source, dotted, read_document

LOCAL_PATH_VARS = ("ansible_ssh_private_key_file", "mxdrill_known_hosts")
"""The variables naming files on this machine: check_files needs to know where each was declared."""


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve an inventory; raise InventoryError (file:line: key: message) if broken."""
    source = Source(str(path))
    layout = collect(read_document(Path(path), source), source, vet_group, vet_var)
    members = role_members(layout, source)
    base = Path(path).absolute().parent

    loaded: dict[str, Loaded] = {}
    for name, entry in layout.hosts.items():
        roles = frozenset(ROLE_GROUPS[g] for g, hosts in members.items() if name in hosts)
        if not roles:
            continue  # one of the user's own Ansible hosts
        variables = layout.effective_vars(entry)
        listed = next(hosts[name] for g, hosts in members.items() if name in hosts)
        settings = validate(HostVars, variables, source, listed)
        loaded[name] = Loaded(_build_host(name, roles, settings, base), variables, listed)

    primary = loaded[next(iter(members["mxdrill_primary"]))]
    backups = [loaded[name] for name in members["mxdrill_backup"]]
    domain = validate(DomainVars, primary.variables, source, ALL_VARS)
    check_domain_vars_agree(primary, [h for h in loaded.values() if h is not primary], source)
    check_mx_priorities(primary, backups, source)
    check_distinct_addresses([primary, *backups], source)

    inventory = Inventory(
        path=Path(path), domain=domain.mxdrill_domain, recipients=domain.mxdrill_recipients,
        nameserver=domain.mxdrill_nameserver, mailbox_format=domain.mxdrill_mailbox_format,
        storage_fstype=domain.mxdrill_storage_fstype, vip=domain.mxdrill_vip,
        keep_probes=domain.mxdrill_keep_probes, command_timeout=domain.mxdrill_command_timeout,
        drain_deadline=domain.mxdrill_drain_deadline,
        maintenance_window=domain.mxdrill_maintenance_window, deadman_window=domain.mxdrill_deadman_window,
        drill_deadline=domain.mxdrill_drill_deadline,
        hosts={name: item.host for name, item in loaded.items()},
    )
    inventory._declared = _declared_paths(loaded, source)
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
        mail_log=v.mxdrill_mail_log, mailbox_base=v.mxdrill_mailbox_base,
        mx_priority=v.mxdrill_mx_priority, export=v.mxdrill_export,
    )


def _declared_paths(loaded: dict[str, Loaded], source: Source) -> dict[tuple[str, str], tuple[str, int | None]]:
    declared = {}
    for name, item in loaded.items():
        for var in LOCAL_PATH_VARS:
            key = item.key_of(var)
            declared[(name, var)] = (dotted(key), source.line(key))
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
                key, line = inv._declared.get((host.name, var), (f"{host.name}.{var}", None))
                raise InventoryError(str(inv.path), line, key, f"{local} {problem} (host {host.name})")


def _unreadable(path: Path) -> str | None:
    """Why `path` cannot serve as a key file or known_hosts, or None if it can."""
    if not path.exists():
        return "does not exist: create it or fix the path"
    if not path.is_file():
        return "is not a file"
    if not os.access(path, os.R_OK):
        return "is not readable by this user"
    return None
