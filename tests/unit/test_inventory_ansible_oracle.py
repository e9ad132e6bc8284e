"""mxdrill reads an inventory the way Ansible does, checked against Ansible itself.

For each inventory below (YAML, JSON, INI, group_vars/ files and directories, host_vars/, nested
groups, the surprising parts of Ansible's precedence, the reference hosts.yml in three layouts, and
what `mxdrill lab inventory --ansible-dir` writes for both lab profiles),
`ansible-inventory --list` runs once, and for every host in an mxdrill role, every variable mxdrill
knows (`mxdrill_*` and the `ansible_*` it reads) must have the value mxdrill merged — or be absent
from both; and each role group must hold the same hosts for both. Ansible runs with its home, temp
and config pointed into tmp_path, so it writes nothing outside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from layouts import REFERENCE, reference_as_ini, split_reference, write_files

from mxdrill.inventory import KNOWN_VARS, ROLE_GROUPS, load_inventory, merged_vars
from mxdrill.lab import ansible_inventory
from mxdrill.lab import topology as topo

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
ABSENT = "<absent>"

MXS_YAML = """\
all:
  vars:
    mxdrill_domain: example.test
    mxdrill_recipients: [probe@example.test]
  children:
    mxdrill_primary:
      hosts:
        mx1.example.test:
          ansible_host: 192.0.2.11
          mxdrill_mx_priority: 10
    mxdrill_backup:
      hosts:
        mx2.example.test:
          ansible_host: 192.0.2.12
          mxdrill_mx_priority: 20
"""
"""The smallest valid inventory; cases add files beside it."""


def with_groups(extra: str) -> str:
    """MXS_YAML with more groups under all.children."""
    return MXS_YAML + textwrap.indent(textwrap.dedent(extra), "    ")


CASES: dict[str, tuple[str, dict[str, str]]] = {
    # id: (the inventory file, {relative path: text})
    "yaml-nested-children-and-siblings": ("hosts.yml", {"hosts.yml": """\
        all:
          vars:
            mxdrill_domain: example.test
            mxdrill_recipients: [probe@example.test]
            ansible_user: from-all
            ansible_port: 2200
            mxdrill_mail_log: /var/log/all.log
          children:
            europe:
              vars:
                ansible_user: from-europe
                ansible_port: 2201
              children:
                mxdrill_primary:
                  vars:
                    ansible_user: from-primary-group
                  hosts:
                    mx1.example.test:
                      ansible_user: from-host
                      mxdrill_mx_priority: 10
                mxdrill_backup:
                  hosts:
                    mx2.example.test:
                    mx3.example.test:
                      mxdrill_mx_priority: 15
            zeta:
              vars:
                mxdrill_mail_log: /var/log/zeta.log
              hosts:
                mx2.example.test:
                  ansible_host: 192.0.2.12
            alpha:
              vars:
                mxdrill_mail_log: /var/log/alpha.log
              hosts:
                mx2.example.test:
                  mxdrill_mx_priority: 30
        """}),
    "yaml-group-priority": ("hosts.yml", {"hosts.yml": with_groups("""\
            low:
              vars:
                ansible_group_priority: 10
                ansible_user: from-low
              hosts:
                mx1.example.test:
            high:
              vars:
                ansible_user: from-high
              hosts:
                mx1.example.test:
        """)}),
    "json-inventory": ("hosts.json", {"hosts.json": json.dumps({"all": {
        "vars": {"mxdrill_domain": "example.test", "mxdrill_recipients": ["probe@example.test"], "ansible_become": True},
        "children": {
            "mxdrill_primary": {"hosts": {"mx1.example.test": {"mxdrill_mx_priority": 10, "ansible_port": 2222}}},
            "mxdrill_backup": {"hosts": {"mx2.example.test": {"mxdrill_mx_priority": 20}}}}}}, indent="\t")}),
    "group-vars-all-overrides-inline-group-vars": ("hosts.yml", {
        "hosts.yml": MXS_YAML.replace("    mxdrill_backup:\n", "    mxdrill_backup:\n      vars:\n"
                                      "        ansible_user: from-inline-backup-group\n"),
        "group_vars/all.yml": "ansible_user: from-group-vars-all\nmxdrill_mail_log: /var/log/gv.log\n",
    }),
    "group-vars-group-over-all-host-over-group": ("hosts.yml", {
        "hosts.yml": MXS_YAML.replace("          ansible_host: 192.0.2.12\n",
                                      "          ansible_host: 192.0.2.12\n          ansible_user: from-inline-host\n"),
        "group_vars/all.yml": "ansible_user: from-all\nansible_port: 2200\nmxdrill_mail_log: /var/log/all.log\n",
        "group_vars/mxdrill_backup.yaml": "ansible_user: from-backup\nansible_port: 2201\n",
        "group_vars/mxdrill_primary": "ansible_port: 2202\n",
        "host_vars/mx2.example.test.yml": "ansible_port: 2203\n",
        "host_vars/mx1.example.test.json": '{\n\t"mxdrill_mail_log": "/var/log/mx1.log"\n}\n',
    }),
    "group-vars-directories": ("hosts.yml", {
        "hosts.yml": MXS_YAML.replace("    mxdrill_domain: example.test\n    mxdrill_recipients: [probe@example.test]\n", ""),
        "group_vars/all/10-domain.yml": "mxdrill_domain: example.test\nmxdrill_recipients: [probe@example.test]\n",
        "group_vars/all/20-ssh.yml": "ansible_user: first\nansible_port: 2200\n",
        "group_vars/all/30-more/a.yml": "ansible_user: from-subdirectory\n",
        "group_vars/all/40-later": "mxdrill_mail_log: /var/log/no-extension.log\n",
        "group_vars/all/50.json": '{"mxdrill_command_timeout": 12.5}',
        # each sets a variable nothing else sets: Ansible skips all three
        "group_vars/all/.hidden.yml": "mxdrill_service_status: hidden\n",
        "group_vars/all/60.yml~": "mxdrill_service_start: backup-file\n",
        "group_vars/all/70.txt": "mxdrill_export: /other-extension\n",
        "group_vars/all/75.d/x.yml": "mxdrill_vip: 192.0.2.99\n",
        "group_vars/all/80-empty.yml": "",
        "host_vars/mx2.example.test/ssh.yml": "ansible_port: 2022\n",
    }),
    "group-vars-for-a-parent-group": ("hosts.yml", {
        "hosts.yml": """\
            all:
              vars:
                mxdrill_domain: example.test
                mxdrill_recipients: [probe@example.test]
              children:
                mail:
                  children:
                    mxdrill_primary:
                      hosts:
                        mx1.example.test: {mxdrill_mx_priority: 10}
                    mxdrill_backup:
                      vars: {ansible_user: inline-backup}
                      hosts:
                        mx2.example.test: {mxdrill_mx_priority: 20}
            """,
        "group_vars/mail.yml": "ansible_user: from-mail\nmxdrill_service_stop: postfix stop\n",
        "group_vars/mxdrill_backup.yml": "mxdrill_service_stop: systemctl stop postfix@-\n",
    }),
    "ini-sections-children-vars": ("hosts", {"hosts": """\
        # an INI inventory, as many still are
        [mxdrill_primary]
        mx1.example.test ansible_host=192.0.2.11 mxdrill_mx_priority=10 ansible_user="admin user"
        [mxdrill_backup]
        mx2.example.test:2222 ansible_host=192.0.2.12 mxdrill_mx_priority="20" ansible_become=True
        mx3.example.test ansible_host=192.0.2.13 mxdrill_mx_priority=30 ansible_become=yes  # a comment

        [mail:children]
        mxdrill_primary
        mxdrill_backup

        [mail:vars]
        ansible_user=mail-admin
        mxdrill_command_timeout=2.5
        mxdrill_drain_deadline=60 # Python's comment: the value is 60
        mxdrill_service_stop=service postfix stop ; not a comment here
        ansible_ssh_common_args=-o ProxyJump=bastion.example.test

        [all:vars]
        mxdrill_domain=example.test
        mxdrill_recipients=['probe@example.test']
        mxdrill_keep_probes=True
        ansible_port=2200
        """}),
    "ini-children-declared-later-and-ungrouped": ("hosts.ini", {"hosts.ini": """\
        mx1.example.test mxdrill_mail_log=/var/log/ungrouped.log
        [ungrouped:vars]
        ansible_user=from-ungrouped
        mxdrill_service_start=not-for-mx1: Ansible takes it out of ungrouped, being in a group
        [top:children]
        middle
        [middle:children]
        mxdrill_primary
        [middle:vars]
        ansible_user=from-middle
        [top:vars]
        ansible_user=from-top
        ansible_port=2201
        [mxdrill_primary]
        mx1.example.test mxdrill_mx_priority=10
        [mxdrill_backup]
        mx2.example.test mxdrill_mx_priority=20 ansible_ssh_extra_args='-J jump@bastion:2222'
        [all:vars]
        mxdrill_domain=example.test
        mxdrill_recipients=["probe@example.test"]
        """}),
    "ini-with-group-and-host-vars": ("inventory/hosts", {
        "inventory/hosts": """\
            [mxdrill_primary]
            mx1.example.test ansible_host=192.0.2.11 ansible_user=inline-host

            [mxdrill_backup]
            mx2.example.test ansible_host=192.0.2.12

            [mxdrill_backup:vars]
            ansible_user=inline-backup
            """,
        "inventory/group_vars/all.yml": "mxdrill_domain: example.test\nmxdrill_recipients: [probe@example.test]\n"
                                        "ansible_user: group-vars-all\n",
        "inventory/group_vars/mxdrill_primary.yml": "mxdrill_mx_priority: 10\n",
        "inventory/group_vars/mxdrill_backup.yml": "mxdrill_mx_priority: 20\n",
        "inventory/host_vars/mx1.example.test.yml": "ansible_user: host-vars-file\n",
    }),
    "host-in-several-groups": ("hosts.yml", {"hosts.yml": with_groups("""\
            web:
              vars: {mxdrill_mail_log: /var/log/web.log}
              hosts:
                mx1.example.test: {ansible_port: 2201}
            mxdrill_dns:
              hosts:
                mx1.example.test: {ansible_port: 2202}
        """)}),
}


def _reference_copy(root: Path) -> Path:
    path = root / "hosts.yml"
    path.write_text(REFERENCE.read_text())
    return path


def _lab_ansible_dir(init: topo.Init) -> Any:
    """The lab's inventory as `mxdrill lab inventory --ansible-dir` writes it (two backups, so mx3 is in it too)."""
    def build(root: Path) -> Path:
        write_files(root, ansible_inventory.render_dir(
            "shared", 2, topo.DEFAULT_PREFIX, str(root / "ssh/id_ed25519"), str(root / "ssh/known_hosts"), init))
        return root / "hosts.yml"
    return build


BUILT = {"reference-hosts-yml": _reference_copy, "reference-split-into-vars-dirs": split_reference,
         "reference-as-ini": reference_as_ini, "lab-ansible-dir-initscripts": _lab_ansible_dir("initscripts"),
         "lab-ansible-dir-systemd": _lab_ansible_dir("systemd")}


def ansible_env(tmp_path: Path) -> dict[str, str]:
    """The environment without the user's Ansible settings, everything Ansible writes kept in tmp_path."""
    home = tmp_path / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    config = home / "ansible.cfg"
    config.write_text("")
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env.update(
        HOME=str(home), ANSIBLE_HOME=str(home), ANSIBLE_CONFIG=str(config),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_REMOTE_TEMP=str(home / "tmp"),
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="True",
        ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
    )
    return env


def ansible_list(inventory: Path, tmp_path: Path) -> dict[str, Any]:
    if not ANSIBLE_INVENTORY.exists():
        pytest.fail(f"{ANSIBLE_INVENTORY} is missing: scripts/setup installs ansible-core (pip install -e '.[test]')")
    done = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inventory), "--list"], cwd=tmp_path,
                          env=ansible_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ansible_members(listing: dict[str, Any], group: str) -> set[str]:
    body = listing.get(group, {})
    found = set(body.get("hosts", []))
    for child in body.get("children", []):
        found |= ansible_members(listing, child)
    return found


def build(case: str, tmp_path: Path) -> Path:
    root = tmp_path / "inventory-root"
    root.mkdir()
    if case in BUILT:
        return BUILT[case](root)
    inventory, files = CASES[case]
    write_files(root, files)
    return root / inventory


def test_at_least_a_dozen_inventories() -> None:
    assert len(CASES) + len(BUILT) >= 12


@pytest.mark.parametrize("case", [*CASES, *BUILT])
def test_mxdrill_merges_variables_as_ansible_does(case: str, tmp_path: Path) -> None:
    inventory = build(case, tmp_path)
    inv = load_inventory(inventory)  # each case is a valid mxdrill inventory, too
    mine = merged_vars(inventory)
    listing = ansible_list(inventory, tmp_path)
    theirs = listing["_meta"]["hostvars"]

    for group, role in ROLE_GROUPS.items():
        expected = {name for name, host in inv.hosts.items() if role in host.roles}
        assert ansible_members(listing, group) == expected, group
    assert inv.hosts, case
    for host in inv.hosts:
        assert host in theirs, host
        for var in sorted(KNOWN_VARS):
            assert (host, var, mine[host].get(var, ABSENT)) == (host, var, theirs[host].get(var, ABSENT))
