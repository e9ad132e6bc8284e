"""The lab's Ansible inventory, rendered from the same topology the lab boots from.

One renderer produces both the committed root `hosts.yml` (with paths relative to the repository)
and what `mxdrill lab inventory` writes for the lab as it runs (with absolute paths, so the file
works wherever it is saved). A unit test renders the default lab and compares it with `hosts.yml`
byte for byte, so the two can never drift apart: a lab with a second backup MX gets an inventory
that differs from the root one only where the lab does.
"""

from __future__ import annotations

import ipaddress
import json
import re

from mxdrill.lab import topology as topo
from mxdrill.lab.topology import Topology

DEFAULT_KEY_FILE = ".lab/ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = ".lab/ssh/known_hosts"
COMMENT_COLUMN = 48  # where the trailing comments of all.vars line up

_PLAIN = re.compile(r"[A-Za-z0-9_./~+-]+\Z")


def _scalar(value: str) -> str:
    """A YAML scalar for a path: plain when safe, double-quoted otherwise (JSON strings are valid YAML)."""
    return value if _PLAIN.match(value) and not value.startswith("~") else json.dumps(value)


def _commented(line: str, comment: str) -> str:
    return f"{line.ljust(COMMENT_COLUMN - 1)} # {comment}"


def _is_default(topology: Topology, backups: int) -> bool:
    return topology == topo.TOPOLOGIES[0] and backups == topo.DEFAULT_BACKUPS


def up_command(topology: Topology, backups: int) -> str:
    """The `mxdrill lab up` invocation that brings this lab up, defaults left out."""
    command = "mxdrill lab up"
    if topology != topo.TOPOLOGIES[0]:
        command += f" --topology {topology}"
    if backups != topo.DEFAULT_BACKUPS:
        command += f" --backups {backups}"
    return command


def _header(topology: Topology, backups: int) -> list[str]:
    command = up_command(topology, backups)
    if _is_default(topology, backups):
        what = f"The default inventory: mxdrill's own lab (`{command}`)"
    else:
        what = f"The inventory of mxdrill's own lab as `{command}` runs it"
    extra = "" if backups == topo.DEFAULT_BACKUPS else f" with {backups} backup MXs"
    return [
        f"# {what}, the architecture of seed 003",
        f'# ("Exemple réel : Configuration complète 2 MX"){extra}. This is a plain Ansible YAML inventory:',
        "# mxdrill reads its roles from the groups named mxdrill_* and its settings from vars named mxdrill_*,",
        "# so you can add those groups and vars to the inventory you already use for Ansible.",
        f"# `mxdrill lab inventory` renders this file for the lab as it runs (here: {topo.describe(topology, backups)}).",
    ]


def _vars(prefix: ipaddress.IPv4Network, key_file: str, known_hosts: str) -> list[str]:
    vrrp = [h for h in topo.ALL_HOSTS if h.vrrp]
    master, others = vrrp[0], vrrp[1:]
    holders = f"MASTER {master.name}" + "".join(f", BACKUP {h.name}" for h in others)
    return [
        "  vars:",
        "    ansible_user: root",
        "    ansible_port: 22",
        f"    ansible_ssh_private_key_file: {_scalar(key_file)}   # relative paths are relative to this file",
        f"    mxdrill_known_hosts: {_scalar(known_hosts)}",
        f"    mxdrill_domain: {topo.DOMAIN}",
        f"    mxdrill_recipients: [{topo.RECIPIENTS[0]}]",
        f"    mxdrill_nameserver: {topo.host('dns').address(prefix)}",
        f"    mxdrill_mailbox_base: {topo.MAILBOX_BASE}",
        "    mxdrill_mailbox_format: maildir",
        "    mxdrill_storage_fstype: fuse.sshfs",
        "    mxdrill_mail_log: /var/log/mail.log",
        "    # The lab has no systemd: its hosts use Debian's init scripts. Real hosts default to systemctl.",
        "    mxdrill_service_stop: service postfix stop",
        "    mxdrill_service_start: service postfix start",
        "    mxdrill_service_status: postfix status",
        _commented("    mxdrill_maintenance_window: always", "a lab: disruptive steps may always run"),
        _commented(f"    mxdrill_vip: {topo.vip(prefix)}", f"keepalived VIP: {holders}"),
    ]


def _group(name: str, members: list[topo.LabHost], prefix: ipaddress.IPv4Network) -> list[str]:
    lines = [f"    {name}:", "      hosts:"]
    for lab_host in members:
        lines += [f"        {lab_host.fqdn}:", f"          ansible_host: {lab_host.address(prefix)}"]
        if lab_host.mx_priority is not None:
            lines.append(f"          mxdrill_mx_priority: {lab_host.mx_priority}")
        if lab_host.role == "storage":
            lines.append(f"          mxdrill_export: {topo.STORAGE_EXPORT}")
    return lines


def _children(backups: int, prefix: ipaddress.IPv4Network) -> list[str]:
    lab_hosts = topo.lab_hosts(backups)
    mxs = sorted((h for h in lab_hosts if h.role == "mx"), key=lambda h: h.mx_priority or 0)
    of_role = {role: [h for h in lab_hosts if h.role == role] for role in ("storage", "dns", "sender")}
    return [
        "  children:",
        *_group("mxdrill_primary", mxs[:1], prefix),
        *_group("mxdrill_backup", mxs[1:], prefix),
        *_group("mxdrill_storage", of_role["storage"], prefix),
        *_group("mxdrill_dns", of_role["dns"], prefix),
        *_group("mxdrill_sender", of_role["sender"], prefix),
    ]


def render(
    topology: Topology = "shared",
    backups: int = topo.DEFAULT_BACKUPS,
    prefix: ipaddress.IPv4Network = topo.DEFAULT_PREFIX,
    key_file: str = DEFAULT_KEY_FILE,
    known_hosts: str = DEFAULT_KNOWN_HOSTS,
) -> str:
    """The inventory of the lab in this configuration; with the defaults, exactly the root hosts.yml."""
    lines = [
        *_header(topology, backups),
        "all:",
        *_vars(prefix, key_file, known_hosts),
        *_children(backups, prefix),
    ]
    return "\n".join(lines) + "\n"
