"""The Ansible layouts people already have: group_vars/ and host_vars/ beside the inventory, INI
inventories, and a jump host in ansible_ssh_common_args / ansible_ssh_extra_args. Each loads like the
reference hosts.yml, and each kind of mistake in them is one line naming its own file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from layouts import REFERENCE, reference_as_ini, split_reference, write_files

from mxdrill.inventory import InventoryError, check_files, load_inventory, merged_vars
from mxdrill.inventory.ini import is_ini
from mxdrill.inventory.ssh_args import proxy_command

# The minimal valid inventory of test_inventory.py, its all.vars moved to group_vars/all.yml.
HOSTS = """\
all:
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
ALL_YML = """\
# the domain under test
mxdrill_domain: example.test
mxdrill_recipients:
  - probe@example.test
"""

VALID_INI = """\
[all:vars]
mxdrill_domain=example.test
mxdrill_recipients=['probe@example.test']

[mxdrill_primary]
mx1.example.test ansible_host=192.0.2.11 mxdrill_mx_priority=10

[mxdrill_backup]
mx2.example.test ansible_host=192.0.2.12 mxdrill_mx_priority=20
"""
MX1 = "mxdrill_primary.hosts.mx1.example.test"
MX2 = "mxdrill_backup.hosts.mx2.example.test"


def layout(tmp_path: Path, files: dict[str, str | None], inventory: str = "hosts.yml") -> Path:
    """The valid layout (HOSTS, group_vars/all.yml) with files added, replaced, or left out (None)."""
    merged = {"hosts.yml": HOSTS, "group_vars/all.yml": ALL_YML, **files}
    write_files(tmp_path, {name: text for name, text in merged.items() if text is not None})
    return tmp_path / inventory


def load_error(path: Path) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and "pydantic" not in message
    return caught.value


def comparable(path: Path) -> dict:
    """The inventory as data, its local paths made relative to the inventory's directory."""
    data = load_inventory(path).model_dump(mode="json", exclude={"path"})
    for host in data["hosts"].values():
        for field in ("key_file", "known_hosts"):
            host["ssh"][field] = str(Path(host["ssh"][field]).relative_to(path.parent))
    if data["tls_ca"] is not None:
        data["tls_ca"] = str(Path(data["tls_ca"]).relative_to(path.parent))
    return data


# --- the reference inventory in the other layouts ------------------------------------------------

def test_reference_split_into_group_vars_and_host_vars_loads_the_same(tmp_path: Path) -> None:
    split = split_reference(tmp_path)
    assert "mxdrill_domain" not in split.read_text()
    assert comparable(split) == comparable(REFERENCE)


@pytest.mark.parametrize("name", ["hosts", "hosts.ini", "inventory"])
def test_reference_as_ini_loads_the_same(tmp_path: Path, name: str) -> None:
    assert comparable(reference_as_ini(tmp_path, name)) == comparable(REFERENCE)


def test_group_vars_and_host_vars_precedence(tmp_path: Path) -> None:
    path = layout(tmp_path, {
        "hosts.yml": HOSTS.replace("    mxdrill_backup:\n", "    mxdrill_backup:\n      vars:\n        ansible_user: inline\n"),
        "group_vars/all.yml": ALL_YML + "ansible_user: group-vars-all\nansible_port: 2200\n",
        "group_vars/mxdrill_primary.yml": "ansible_port: 2201\n",
        "host_vars/mx1.example.test.yml": "ansible_port: 2202\n",
    })
    inv = load_inventory(path)
    mx1, mx2 = inv.hosts["mx1.example.test"], inv.hosts["mx2.example.test"]
    assert mx2.ssh.user == "group-vars-all"  # group_vars/all beats inline group vars, as in Ansible
    assert (mx1.ssh.port, mx2.ssh.port) == (2202, 2200)  # host_vars > group_vars/<group> > group_vars/all


def test_group_vars_directory_json_with_tabs_and_a_vault_file(tmp_path: Path) -> None:
    path = layout(tmp_path, {
        "group_vars/all.yml": None,
        "group_vars/all/main.yml": ALL_YML,
        "group_vars/all/timeouts.json": '{\n\t"mxdrill_command_timeout": 5,\n\t"mxdrill_drain_deadline": 60.5\n}\n',
        "group_vars/all/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n66383439383437363436\n",
    })
    inv = load_inventory(path)
    assert (inv.command_timeout, inv.drain_deadline) == (5.0, 60.5)


def test_merged_vars_shows_raw_values_for_every_host(tmp_path: Path) -> None:
    path = layout(tmp_path, {"hosts.yml": HOSTS + "    web:\n      hosts:\n        www.example.test:\n          http_port: '80'\n"})
    merged = merged_vars(path)
    assert merged["www.example.test"] == {"mxdrill_domain": "example.test", "mxdrill_recipients": ["probe@example.test"],
                                          "http_port": "80"}
    assert merged["mx1.example.test"]["mxdrill_mx_priority"] == 10


def test_check_files_names_the_group_vars_file(tmp_path: Path) -> None:
    path = layout(tmp_path, {"group_vars/all.yml": ALL_YML + "ansible_ssh_private_key_file: keys/id\n"})
    with pytest.raises(InventoryError) as caught:
        check_files(load_inventory(path))
    error = caught.value
    assert (error.file, error.line, error.key) == (str(tmp_path / "group_vars/all.yml"), 5, "ansible_ssh_private_key_file")


def test_messages_name_the_vars_file_as_the_user_names_the_inventory(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    layout(tmp_path, {"group_vars/all.yml": ALL_YML.replace("example.test\n", "-bad-.test\n", 1)})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InventoryError) as caught:
        load_inventory("hosts.yml")
    assert str(caught.value) == "group_vars/all.yml:2: mxdrill_domain: expected a DNS name such as example.com, got '-bad-.test'"


# --- INI ----------------------------------------------------------------------------------------

def test_ini_values_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(VALID_INI.replace("mx2.example.test ansible_host", "mx2.example.test:2222 ansible_host") + textwrap.dedent("""\
        [mxdrill_backup:vars]
        ansible_become=yes
        ansible_user="mail admin"
        ansible_ssh_common_args=-o ProxyJump=admin@bastion.example.test:2022 -o ServerAliveInterval=30
        [all:vars]
        mxdrill_keep_probes=True
        mxdrill_drain_deadline=60 # seconds
        ansible_become=false
        """))
    inv = load_inventory(path)
    mx1, mx2 = inv.hosts["mx1.example.test"], inv.hosts["mx2.example.test"]
    assert (mx1.mx_priority, mx2.mx_priority, mx2.ssh.port) == (10, 20, 2222)
    assert (mx1.ssh.sudo, mx2.ssh.sudo) == (False, True)  # Ansible's boolean strings, in INI
    assert mx2.ssh.user == "mail admin"  # in :vars, all after = is the value, here a Python string literal
    assert inv.drain_deadline == 60.0 and inv.keep_probes is True
    assert mx2.ssh.proxy_command == "ssh -W %h:%p -p 2022 admin@bastion.example.test"
    assert mx1.ssh.proxy_command is None


@pytest.mark.parametrize(("name", "text", "ini"), [
    ("hosts", "all:\n  children:\n", False),
    ("hosts", "# comment\n---\nall:\n", False),
    ("hosts", '{"all": {}}', False),
    ("hosts", "; comment\n[mxdrill_primary]\nmx1\n", True),
    ("inventory", "mx1.example.test ansible_host=192.0.2.11\n", True),
    ("inventory", "mx1.example.test:2222\n", True),
    ("hosts.ini", "all:\n", True),
    ("hosts.yml", "[mxdrill_primary]\n", False),
])
def test_ini_or_yaml(name: str, text: str, ini: bool) -> None:
    assert is_ini(Path(name), text) is ini


# --- ProxyJump and ProxyCommand -------------------------------------------------------------------

@pytest.mark.parametrize(("common", "extra", "command"), [
    ("-o ProxyJump=bastion", None, "ssh -W %h:%p bastion"),
    ("-o 'ProxyJump bastion'", None, "ssh -W %h:%p bastion"),
    ("-oProxyJump=bastion", None, "ssh -W %h:%p bastion"),
    ("-J admin@bastion:2222", None, "ssh -W %h:%p -p 2222 admin@bastion"),
    ("-Jssh://bastion", None, "ssh -W %h:%p bastion"),
    ("-o ProxyJump=a,admin@b:2022", None, "ssh -J a -W %h:%p -p 2022 admin@b"),
    ('-o ProxyCommand="ssh -W %h:%p -q bastion"', None, "ssh -W %h:%p -q bastion"),
    ("-o StrictHostKeyChecking=no -C -o ServerAliveInterval=30", None, None),
    ("-o Compression -i", None, None),  # malformed, but not a proxy option: ssh's business, not ours
    ("-o ProxyJump=none -J ignored", None, None),
    ("-F -J -o ControlMaster=auto", None, None),  # -F takes "-J" as its file: no jump
    ("-o ProxyJump=first", "-J second", "ssh -W %h:%p first"),  # common args come first on Ansible's command line
    (None, "-J second", "ssh -W %h:%p second"),
    (None, None, None),
])
def test_proxy_command(common: str | None, extra: str | None, command: str | None) -> None:
    assert proxy_command(common, extra) == command


def test_proxy_command_reaches_the_host(tmp_path: Path) -> None:
    path = layout(tmp_path, {"group_vars/mxdrill_backup.yml": "ansible_ssh_extra_args: -J jump.example.test\n"})
    inv = load_inventory(path)
    assert inv.hosts["mx2.example.test"].ssh.proxy_command == "ssh -W %h:%p jump.example.test"
    assert inv.hosts["mx1.example.test"].ssh.proxy_command is None


# --- one line per mistake, at its own file and line --------------------------------------------------

VARS_CASES = [
    # id, files over the valid layout, the file at fault, line, key, a fragment of the message
    ("unknown-var-in-group-vars", {"group_vars/all.yml": ALL_YML + "mxdrill_domian: x\n"},
     "group_vars/all.yml", 5, "mxdrill_domian", "did you mean mxdrill_domain?"),
    ("bad-item-in-group-vars", {"group_vars/all.yml": ALL_YML + "  - other@example.org\n"},
     "group_vars/all.yml", 5, "mxdrill_recipients.1", "not in mxdrill_domain"),
    ("wrong-type-in-host-vars", {"host_vars/mx2.example.test.yml": "\nmxdrill_mx_priority: twenty\n"},
     "host_vars/mx2.example.test.yml", 2, "mxdrill_mx_priority", "expected an integer 0-65535, got 'twenty'"),
    ("jinja-in-host-vars", {"host_vars/mx1.example.test.yaml": 'ansible_host: "{{ inventory_hostname }}"\n'},
     "host_vars/mx1.example.test.yaml", 1, "ansible_host", "mxdrill does not evaluate Jinja templates"),
    ("vault-in-group-vars", {"group_vars/mxdrill_primary.yml": "ansible_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n"},
     "group_vars/mxdrill_primary.yml", 1, "ansible_password", "cannot read !vault values"),
    ("jinja-in-a-directory-file", {"group_vars/mxdrill_backup/10.yml": "mxdrill_mail_log: /var/log/{{ x }}\n"},
     "group_vars/mxdrill_backup/10.yml", 1, "mxdrill_mail_log", "Jinja"),
    ("invalid-yaml-in-group-vars", {"group_vars/all.yml": ALL_YML + "ansible_user: a: b\n"},
     "group_vars/all.yml", 5, "", "invalid YAML"),
    ("duplicate-in-group-vars", {"group_vars/all.yml": ALL_YML + "mxdrill_domain: example.org\n"},
     "group_vars/all.yml", 5, "mxdrill_domain", "duplicate key, already on line 2"),
    ("list-as-group-vars", {"group_vars/mxdrill_backup.yml": "\n- ansible_user: x\n"},
     "group_vars/mxdrill_backup.yml", 2, "", "expected a mapping of variable names to values, got a list"),
    ("domain-var-in-backup-host-vars", {"host_vars/mx2.example.test.yml": "mxdrill_domain: example.org\n"},
     "host_vars/mx2.example.test.yml", 1, "mxdrill_domain", "domain-wide"),
    ("address-in-host-vars", {"host_vars/mx2.example.test.yml": "ansible_host: 192.0.2.11\n"},
     "host_vars/mx2.example.test.yml", 1, "ansible_host", "mx1.example.test's already"),
    ("bad-proxy-jump", {"group_vars/all.yml": ALL_YML + "ansible_ssh_common_args: -o ProxyJump=bastion:0\n"},
     "group_vars/all.yml", 5, "ansible_ssh_common_args", "expected a port 1-65535"),
    ("unsplittable-ssh-args", {"group_vars/all.yml": ALL_YML + "ansible_ssh_extra_args: -o 'ProxyCommand=nc\n"},
     "group_vars/all.yml", 5, "ansible_ssh_extra_args", "No closing quotation"),
    ("misspelt-mxdrill-group-file", {"group_vars/mxdrill_primay.yml": "ansible_user: x\n"},
     "group_vars/mxdrill_primay.yml", None, "", "did you mean mxdrill_primary?"),
    ("directory-and-file", {"group_vars/all/main.yml": ALL_YML},
     "group_vars/all.yml", None, "", "Ansible ignores this file because"),
]


@pytest.mark.parametrize(("files", "file", "line", "key", "fragment"), [c[1:] for c in VARS_CASES],
                         ids=[c[0] for c in VARS_CASES])
def test_mistakes_in_vars_files(tmp_path: Path, files: dict[str, str], file: str, line: int | None,
                                key: str, fragment: str) -> None:
    error = load_error(layout(tmp_path, files))
    where = f"{tmp_path / file}:{line}" if line else str(tmp_path / file)
    assert str(error).startswith(f"{where}: {key + ': ' if key else ''}"), str(error)
    assert (error.file, error.line, error.key) == (str(tmp_path / file), line, key)
    assert fragment in error.message


def test_a_required_variable_missing_everywhere_names_the_inventory(tmp_path: Path) -> None:
    error = load_error(layout(tmp_path, {"group_vars/all.yml": "mxdrill_recipients: [probe@example.test]\n"}))
    assert (error.file, error.line, error.key) == (str(tmp_path / "hosts.yml"), 1, "all.vars.mxdrill_domain")
    assert "group_vars/all.yml" in error.message


INI_CASES = [
    # id, {line: replacement} over VALID_INI, line, key, a fragment of the message
    ("unknown-section-type", {8: "[mxdrill_backup:host]"}, 8, "mxdrill_backup", "unknown section type :host"),
    ("section-with-spaces", {8: "[mxdrill backup]"}, 8, "", "no spaces"),
    ("host-range", {9: "mx[2:3].example.test mxdrill_mx_priority=20"}, 9, "mxdrill_backup.hosts.mx[2:3].example.test",
     "host ranges such as mx[1:3].example.com are not supported"),
    ("host-word-without-equals", {9: "mx2.example.test ansible_host 192.0.2.12"}, 9, "mxdrill_backup.hosts",
     "expected key=value after the host name, got 'ansible_host'"),
    ("unclosed-quote", {9: "mx2.example.test ansible_user='root"}, 9, "mxdrill_backup.hosts", "No closing quotation"),
    ("vars-line-without-equals", {3: "mxdrill_recipients"}, 3, "all.vars", "expected key=value in [all:vars]"),
    ("vars-for-an-undeclared-group", {10: "[nowhere:vars]\nansible_user=x"}, 10, "nowhere.vars",
     "[nowhere:vars] for a group declared nowhere"),
    ("children-undeclared", {10: "[mail:children]\nmxdrill_primary\nrelays"}, 12, "mail.children.relays",
     "[mail:children] names relays, a group declared nowhere"),
    ("yaml-marker", {7: "---"}, 7, "", "starts a YAML document"),
    ("port-colon", {9: "mx2.example.test: mxdrill_mx_priority=20"}, 9, "mxdrill_backup.hosts.mx2.example.test:",
     "cannot end in ':'"),
    ("priority-not-integer", {6: "mx1.example.test ansible_host=192.0.2.11 mxdrill_mx_priority=ten"}, 6,
     f"{MX1}.mxdrill_mx_priority", "expected an integer 0-65535, got 'ten'"),
    ("jinja", {9: "mx2.example.test ansible_host='{{ lookup(\"dig\", inventory_hostname) }}' mxdrill_mx_priority=20"},
     9, f"{MX2}.ansible_host", "mxdrill does not evaluate Jinja templates"),
    ("recipients-not-a-python-list", {3: "mxdrill_recipients=[probe@example.test]"}, 3, "all.vars.mxdrill_recipients",
     "in INI, write a Python list: ['probe@example.com']"),
    ("become-not-a-boolean", {3: "mxdrill_recipients=['probe@example.test']\nansible_become=maybe"}, 4,
     "all.vars.ansible_become", "got 'maybe' (in INI: true, false, yes or no)"),
    ("unknown-mxdrill-var", {2: "mxdrill_domian=example.test"}, 2, "all.vars.mxdrill_domian", "did you mean mxdrill_domain?"),
    ("group-priority-not-integer", {10: "[mxdrill_backup:vars]\nansible_group_priority=high"}, 11,
     "mxdrill_backup.vars.ansible_group_priority", "expected an integer"),
    ("bad-proxy-command", {10: "[mxdrill_backup:vars]\nansible_ssh_common_args=-o ProxyCommand="}, 11,
     "mxdrill_backup.vars.ansible_ssh_common_args", "ProxyCommand needs a value"),
    ("missing-primary", {5: "[web]"}, 1, "mxdrill_primary", "add a section [mxdrill_primary] with the primary MX"),
    ("empty-backup", {9: ""}, 8, "mxdrill_backup", "no host: add a backup MX (one that must take the mail) under [mxdrill_backup]"),
    ("missing-domain", {2: ""}, 1, "all.vars.mxdrill_domain", "missing: set mxdrill_domain"),
    ("duplicate-address", {9: "mx2.example.test ansible_host=192.0.2.11 mxdrill_mx_priority=20"}, 9,
     f"{MX2}.ansible_host", "mx1.example.test's already"),
    ("group-cycle", {10: "[mxdrill_backup:children]\nmxdrill_backup"}, 11, "mxdrill_backup.children.mxdrill_backup",
     "group cycle"),
]


def edit_ini(changes: dict[int, str]) -> str:
    lines = VALID_INI.splitlines()
    lines.append("")
    for number in sorted(changes, reverse=True):
        lines[number - 1:number] = changes[number].splitlines() or [""]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("changes", "line", "key", "fragment"), [c[1:] for c in INI_CASES], ids=[c[0] for c in INI_CASES])
def test_mistakes_in_ini(tmp_path: Path, changes: dict[int, str], line: int, key: str, fragment: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(edit_ini(changes))
    error = load_error(path)
    assert str(error).startswith(f"{path}:{line}: {key + ': ' if key else ''}"), str(error)
    assert (error.file, error.line, error.key) == (str(path), line, key)
    assert fragment in error.message, error.message


def test_ini_error_format(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(edit_ini({9: "mx2.example.test ansible_host=192.0.2.12 mxdrill_mx_priority=70000"}))
    assert str(load_error(path)) == (f"{path}:9: mxdrill_backup.hosts.mx2.example.test.mxdrill_mx_priority: "
                                     "expected an integer 0-65535, got 70000")
