"""The lab's Ansible inventory, rendered from the same topology the lab boots from.

One renderer produces both the committed root `hosts.yml` (with paths relative to the repository)
and what `mxdrill lab inventory` writes for the lab as it runs (with absolute paths, so the file
works wherever it is saved). A unit test renders the default lab and compares it with `hosts.yml`
byte for byte, so the two can never drift apart: a lab with a second backup MX gets an inventory
that differs from the root one only where the lab does.

The same lines also come in the layout Ansible users keep inventories in (`render_dir`, for
`mxdrill lab inventory --ansible-dir DIR`): `hosts.yml` with the groups and their hosts only,
the shared variables in `group_vars/all.yml`, each host's own in `host_vars/<host>.yml`.

A lab of several mail domains (`lab up --domains N`) renders as a fleet: every domain's MXs in the
role groups (`mxdrill_primary` holds each domain's MX 10, `mxdrill_backup` each MX 20), all.vars
about the first domain, and each further domain a child group of `all` (`example2`) whose vars name
its domain and recipients (and no VIP) and whose hosts are that domain's two MXs.

The systemd profile's inventory is what a Debian 12 host needs: `drill` logs in and becomes root
with sudo, and neither the Postfix unit nor the mail log is declared — each host is looked at (the
unit `postfix@-.service`, the journal). Its DNS and storage hosts still boot init scripts and take
root logins: they say so in their host variables.
"""

from __future__ import annotations

import ipaddress
import json
import re

from mxdrill.lab import topology as topo
from mxdrill.lab import units
from mxdrill.lab.topology import Init, Topology

DEFAULT_KEY_FILE = ".lab/ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = ".lab/ssh/known_hosts"
DEFAULT_TLS_CA = ".lab/tls/ca.pem"
COMMENT_COLUMN = 48  # where the trailing comments of all.vars line up

_PLAIN = re.compile(r"[A-Za-z0-9_./~+-]+\Z")


def _scalar(value: str) -> str:
    """A YAML scalar for a path: plain when safe, double-quoted otherwise (JSON strings are valid YAML)."""
    return value if _PLAIN.match(value) and not value.startswith("~") else json.dumps(value)


def _commented(line: str, comment: str) -> str:
    return f"{line.ljust(COMMENT_COLUMN - 1)} # {comment}"


def up_command(topology: Topology, backups: int, init: Init = topo.DEFAULT_INIT, domains: int = topo.DEFAULT_DOMAINS,
               userdb: topo.UserDb = topo.DEFAULT_USERDB, priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> str:
    """The `mxdrill lab up` invocation that brings this lab up, defaults left out."""
    command = "mxdrill lab up"
    if topology != topo.TOPOLOGIES[0]:
        command += f" --topology {topology}"
    if backups != topo.DEFAULT_BACKUPS:
        command += f" --backups {backups}"
    if init != topo.DEFAULT_INIT:
        command += f" --init {init}"
    if domains != topo.DEFAULT_DOMAINS:
        command += f" --domains {domains}"
    if userdb != topo.DEFAULT_USERDB:
        command += f" --userdb {userdb}"
    if priorities != topo.DEFAULT_PRIORITIES:
        command += f" --mx-priorities {priorities}"
    return command


def _header(topology: Topology, backups: int, init: Init, domains: int, userdb: topo.UserDb = topo.DEFAULT_USERDB,
            priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> list[str]:
    command = up_command(topology, backups, init, domains, userdb, priorities)
    if command == up_command(topo.TOPOLOGIES[0], topo.DEFAULT_BACKUPS):
        what = f"The default inventory: mxdrill's own lab (`{command}`)"
    else:
        what = f"The inventory of mxdrill's own lab as `{command}` runs it"
    extra = "" if backups == topo.DEFAULT_BACKUPS else f" with {backups} backup MXs"
    extra += "" if domains == topo.DEFAULT_DOMAINS else f" for each of {domains} mail domains"
    return [
        f"# {what}, the architecture of seed 003",
        f'# ("Exemple réel : Configuration complète 2 MX"){extra}. This is a plain Ansible YAML inventory:',
        "# mxdrill reads its roles from the groups named mxdrill_* and its settings from vars named mxdrill_*,",
        "# so you can add those groups and vars to the inventory you already use for Ansible.",
        "# `mxdrill lab inventory` renders this file for the lab as it runs "
        f"(here: {topo.describe(topology, backups, init, domains, userdb, priorities)}).",
    ]


# A variable's line and its trailing comment ("": none), before indentation: comments line up in one column.
Line = tuple[str, str]


def _lines(entries: list[Line], indent: int) -> list[str]:
    pad = " " * indent
    return [_commented(pad + text, comment) if comment else pad + text for text, comment in entries]


def _login_vars(init: Init) -> list[Line]:
    if init == "systemd":
        return [(f"ansible_user: {units.LOGIN_USER}", "root may not log in: drill becomes root with sudo"),
                ("ansible_become: true", "")]
    return [("ansible_user: root", "")]


def _service_vars(init: Init) -> list[Line]:
    if init == "systemd":
        return [
            ("# Debian 12 hosts: the journal is the only mail log, and the unit that runs Postfix (postfix@-.service)", ""),
            ("# is found on each host, so neither is declared.", ""),
        ]
    return [
        ("mxdrill_mail_log: /var/log/mail.log", ""),
        ("# The lab has no systemd: its hosts use Debian's init scripts. Real hosts default to systemctl.", ""),
        ("mxdrill_service_stop: service postfix stop", ""),
        ("mxdrill_service_start: service postfix start", ""),
        ("mxdrill_service_status: postfix status", ""),
    ]


def _domain_vars(domain: str) -> list[Line]:
    """The variables that name a domain under test: all.vars for the first, a domain group's vars for the others."""
    return [(f"mxdrill_domain: {domain}", ""), (f"mxdrill_recipients: [{topo.recipients(domain)[0]}]", "")]


def shared_vars(
    prefix: ipaddress.IPv4Network, key_file: str, known_hosts: str, init: Init = topo.DEFAULT_INIT,
    relative_to: str = "this file", tls_ca: str = DEFAULT_TLS_CA,
) -> list[Line]:
    """all.vars: the variables every host shares (`relative_to`: where relative paths start, for the comment)."""
    vrrp = [h for h in topo.ALL_HOSTS if h.vrrp]
    master, others = vrrp[0], vrrp[1:]
    holders = f"MASTER {master.name}" + "".join(f", BACKUP {h.name}" for h in others)
    return [
        *_login_vars(init),
        ("ansible_port: 22", ""),
        (f"ansible_ssh_private_key_file: {_scalar(key_file)}   # relative paths are relative to {relative_to}", ""),
        (f"mxdrill_known_hosts: {_scalar(known_hosts)}", ""),
        (f"mxdrill_tls_ca: {_scalar(tls_ca)}", "the lab CA: every MX's certificate chains to it"),
        *_domain_vars(topo.DOMAIN),
        (f"mxdrill_nameserver: {topo.host('dns').address(prefix)}", ""),
        (f"mxdrill_mailbox_base: {topo.MAILBOX_BASE}", ""),
        ("mxdrill_mailbox_format: maildir", ""),
        ("mxdrill_storage_fstype: fuse.sshfs", ""),
        *_service_vars(init),
        ("mxdrill_maintenance_window: always", "a lab: disruptive steps may always run"),
        (f"mxdrill_vip: {topo.vip(prefix)}", f"keepalived VIP: {holders}"),
    ]


def host_vars(lab_host: topo.LabHost, prefix: ipaddress.IPv4Network, init: Init = topo.DEFAULT_INIT,
              priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> list[Line]:
    """One host's own variables."""
    lines = [(f"ansible_host: {lab_host.address(prefix)}", "")]
    if lab_host.mx_priority is not None:
        lines.append((f"mxdrill_mx_priority: {topo.published_priority(lab_host, priorities)}", ""))
    if lab_host.role == "storage":
        lines.append((f"mxdrill_export: {topo.STORAGE_EXPORT}", ""))
    if init == "systemd" and not topo.runs_systemd(lab_host, init):
        lines += [("ansible_user: root", "this lab host boots init scripts, root logs in"),
                  ("ansible_become: false", "")]
    return lines


def _domain_mxs(domain: str, backups: int, domains: int) -> list[topo.LabHost]:
    """A domain's MXs by priority: its primary first."""
    return sorted((h for h in topo.lab_hosts(backups, domains) if h.role == "mx" and h.domain == domain),
                  key=lambda h: h.mx_priority or 0)


def groups(backups: int, domains: int = topo.DEFAULT_DOMAINS, topology: Topology = "shared",
           userdb: topo.UserDb = topo.DEFAULT_USERDB) -> list[tuple[str, list[topo.LabHost]]]:
    """mxdrill's role groups in order, each with its hosts: every domain's primary, then every domain's backups.

    The store topology's MXs mount no shared storage: it declares the mail store they relay to instead.
    With --userdb mysql it declares the database host the MXs look their users up in (`mxdrill_userdb`).
    """
    lab_hosts = topo.lab_hosts(backups, domains)
    mxs = [_domain_mxs(domain, backups, domains) for domain in topo.mail_domains(domains)]
    of_role = {role: [h for h in lab_hosts if h.role == role] for role in ("storage", "mailstore", "userdb", "dns", "sender")}
    store = ("mxdrill_mailstore", of_role["mailstore"]) if topology == "store" else ("mxdrill_storage", of_role["storage"])
    users = [("mxdrill_userdb", of_role["userdb"])] if userdb == "mysql" else []
    return [
        ("mxdrill_primary", [pair[0] for pair in mxs]),
        ("mxdrill_backup", [h for pair in mxs for h in pair[1:]]),
        store,
        *users,
        ("mxdrill_dns", of_role["dns"]),
        ("mxdrill_sender", of_role["sender"]),
    ]


def domain_group_vars(domain: str) -> list[Line]:
    """A further domain's group vars: its name and recipients, and no VIP (keepalived runs for the first domain only)."""
    return [*_domain_vars(domain), ("mxdrill_vip: null", f"no VIP: keepalived runs for {topo.DOMAIN} only")]


def _domain_groups(backups: int, domains: int, with_vars: bool) -> list[str]:
    """The further domains' groups under all.children, their hosts as `{}` (their variables are in the role groups)."""
    lines = []
    for domain in topo.mail_domains(domains)[1:]:
        lines.append(f"    {topo.domain_group(domain)}:")
        if with_vars:
            lines += ["      vars:", *_lines(domain_group_vars(domain), 8)]
        lines += ["      hosts:", *(f"        {h.fqdn}: {{}}" for h in _domain_mxs(domain, backups, domains))]
    return lines


def _children(backups: int, prefix: ipaddress.IPv4Network | None, init: Init, domains: int,
              topology: Topology = "shared", userdb: topo.UserDb = topo.DEFAULT_USERDB,
              priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> list[str]:
    """all.children; with `prefix` None, the hosts without their variables (they are in host_vars/ and group_vars/)."""
    lines = ["  children:"]
    for name, members in groups(backups, domains, topology, userdb):
        lines += [f"    {name}:", "      hosts:"]
        for lab_host in members:
            lines.append(f"        {lab_host.fqdn}:")
            if prefix is not None:
                lines += _lines(host_vars(lab_host, prefix, init, priorities), 10)
    return lines + _domain_groups(backups, domains, with_vars=prefix is not None)


def render(
    topology: Topology = "shared",
    backups: int = topo.DEFAULT_BACKUPS,
    prefix: ipaddress.IPv4Network = topo.DEFAULT_PREFIX,
    key_file: str = DEFAULT_KEY_FILE,
    known_hosts: str = DEFAULT_KNOWN_HOSTS,
    init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
    tls_ca: str = DEFAULT_TLS_CA,
    userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> str:
    """The inventory of the lab in this configuration; with the defaults, exactly the root hosts.yml."""
    lines = [
        *_header(topology, backups, init, domains, userdb, priorities),
        "all:",
        "  vars:",
        *_lines(shared_vars(prefix, key_file, known_hosts, init, tls_ca=tls_ca), 4),
        *_children(backups, prefix, init, domains, topology, userdb, priorities),
    ]
    return "\n".join(lines) + "\n"


def render_dir(
    topology: Topology,
    backups: int,
    prefix: ipaddress.IPv4Network,
    key_file: str,
    known_hosts: str,
    init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
    tls_ca: str = DEFAULT_TLS_CA,
    userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> dict[str, str]:
    """The same inventory in Ansible's directory layout: {relative path: text} for hosts.yml, group_vars/, host_vars/.

    A further domain's vars are in group_vars/<its group>.yml.
    """
    hosts_yml = [*_header(topology, backups, init, domains, userdb, priorities),
                 "# Each host's own variables are in host_vars/<host>.yml, the shared ones in group_vars/all.yml.",
                 "all:", *_children(backups, None, init, domains, topology, userdb, priorities)]
    files = {
        "hosts.yml": "\n".join(hosts_yml) + "\n",
        "group_vars/all.yml": _file(shared_vars(prefix, key_file, known_hosts, init, "hosts.yml's directory", tls_ca)),
    }
    for domain in topo.mail_domains(domains)[1:]:
        files[f"group_vars/{topo.domain_group(domain)}.yml"] = _file(domain_group_vars(domain))
    for _group, members in groups(backups, domains, topology, userdb):
        for lab_host in members:
            files[f"host_vars/{lab_host.fqdn}.yml"] = _file(host_vars(lab_host, prefix, init, priorities))
    return files


def _file(entries: list[Line]) -> str:
    return "\n".join(_lines(entries, 0)) + "\n"
