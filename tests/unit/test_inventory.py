"""The inventory loader: the reference hosts.yml, Ansible precedence, and one-line errors that point
at the right line and key for every kind of broken inventory."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mxdrill.inventory import Inventory, InventoryError, check_files, load_inventory
from mxdrill.inventory import schema

REFERENCE = Path(__file__).resolve().parents[2] / "hosts.yml"

# A minimal valid inventory; the cases below edit it line by line, so these numbers are the truth.
VALID = """\
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
PRIMARY = "all.children.mxdrill_primary"
BACKUP = "all.children.mxdrill_backup"
MX1 = f"{PRIMARY}.hosts.mx1.example.test"
MX2 = f"{BACKUP}.hosts.mx2.example.test"


def edit(changes: dict[int, str]) -> str:
    """VALID with 1-based lines replaced (by one or more lines) or deleted (by "")."""
    lines = VALID.splitlines()
    for number in sorted(changes, reverse=True):
        replacement = changes[number].splitlines()
        lines[number - 1:number] = replacement
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "hosts.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path: Path, text: str) -> InventoryError:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return caught.value


# --- the reference inventory ---------------------------------------------------------------------

def test_reference_inventory_loads() -> None:
    inv = load_inventory(REFERENCE)
    assert inv.primary.name == "mx1.example.test"
    assert inv.primary.address == "198.51.100.11"
    assert inv.primary.mx_priority == 10
    assert [h.name for h in inv.backups] == ["mx2.example.test"]
    assert inv.backups[0].mx_priority == 20
    assert inv.storage is not None and inv.storage.name == "storage.example.test"
    assert inv.storage.export == "/srv/vhosts"
    assert inv.dns is not None and inv.dns.address == "198.51.100.53"
    assert inv.sender is not None and inv.sender.name == "sender.example.test"
    assert inv.vip == "198.51.100.10"
    assert inv.domain == "example.test"
    assert inv.recipients == ["probe@example.test"]
    assert inv.nameserver == "198.51.100.53"
    assert inv.storage_fstype == "fuse.sshfs"
    assert inv.mailbox_format == "maildir"
    assert inv.primary.ssh.key_file == REFERENCE.parent / ".lab/ssh/id_ed25519"
    assert inv.primary.ssh.known_hosts == REFERENCE.parent / ".lab/ssh/known_hosts"
    assert inv.primary.service.stop == "service postfix stop"
    assert inv.primary.service.status == "postfix status"
    assert inv.primary.roles == frozenset({"primary"})
    assert [(p.name, b.name) for p, b in inv.pairs()] == [("mx1.example.test", "mx2.example.test")]
    assert [h.name for h in inv.mxs] == ["mx1.example.test", "mx2.example.test"]


def test_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    host = inv.primary
    assert (host.ssh.user, host.ssh.port, host.ssh.sudo, host.ssh.key_file, host.ssh.password) == ("root", 22, False, None, None)
    assert host.ssh.known_hosts == Path("~/.ssh/known_hosts").expanduser()
    # stop/start left out: the MTA finds the unit on the host (Debian's postfix.service is a dummy)
    assert (host.service.stop, host.service.start, host.service.status) == (None, None, "postfix status")
    assert host.log_source == "auto"
    assert (host.mailbox_base, host.mail_log) == ("/var/mail/vhosts", "/var/log/mail.log")
    assert (inv.nameserver, inv.vip, inv.storage, inv.dns, inv.sender) == (None, None, None, None, None)
    assert (inv.storage_fstype, inv.keep_probes, inv.command_timeout, inv.drain_deadline) == ("nfs4", False, 30.0, 120.0)
    assert inv.path == tmp_path / "hosts.yml"


def test_yaml_booleans_and_numbers_are_accepted(tmp_path: Path) -> None:
    text = edit({4: "    mxdrill_recipients: [probe@example.test]\n    ansible_become: yes\n"
                    "    mxdrill_keep_probes: true\n    mxdrill_command_timeout: 2.5\n    mxdrill_drain_deadline: 60"})
    inv = load_inventory(write(tmp_path, text))
    assert inv.primary.ssh.sudo is True
    assert inv.keep_probes is True
    assert (inv.command_timeout, inv.drain_deadline) == (2.5, 60.0)


# --- Ansible semantics ---------------------------------------------------------------------------

PRECEDENCE = """\
all:
  vars:
    mxdrill_domain: example.test
    mxdrill_recipients: [probe@example.test]
    ansible_user: from-all
    ansible_port: 2200
    mxdrill_mail_log: /var/log/all.log
    mxdrill_keep_probes: true
    site_owner: ignored            # the user's own Ansible variable
    ansible_python_interpreter: /usr/bin/python3
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
    first:
      vars:
        mxdrill_mail_log: /var/log/first.log
      hosts:
        mx2.example.test:
          ansible_host: 192.0.2.12
    second:
      vars:
        mxdrill_mail_log: /var/log/second.log
      hosts:
        mx2.example.test:
          mxdrill_mx_priority: 30
"""


def test_ansible_precedence(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, PRECEDENCE))
    mx1, mx2, mx3 = (inv.hosts[f"mx{n}.example.test"] for n in (1, 2, 3))
    assert mx1.ssh.user == "from-host"  # host var > child group > parent group > all.vars
    assert mx2.ssh.user == "from-europe"  # parent group > all.vars
    assert mx1.ssh.port == 2201
    assert mx1.mail_log == "/var/log/all.log"
    assert mx2.mail_log == "/var/log/second.log"  # siblings: the later one in the file wins
    assert mx2.address == "192.0.2.12" and mx2.mx_priority == 30  # vars merged from two listings
    assert mx3.address == "mx3.example.test"  # default: the inventory hostname
    assert [h.name for h in inv.backups] == ["mx3.example.test", "mx2.example.test"]  # by priority
    assert inv.keep_probes is True
    assert set(inv.hosts) == {"mx1.example.test", "mx2.example.test", "mx3.example.test"}


def test_role_through_a_child_group_and_a_top_level_group(tmp_path: Path) -> None:
    text = VALID + textwrap.dedent("""\
        mxdrill_storage:
          children:
            nas:
              hosts:
                nas.example.test:
                  mxdrill_export: /export/mail
        """)
    inv = load_inventory(write(tmp_path, text))
    assert inv.storage is not None and inv.storage.export == "/export/mail"
    assert inv.storage.roles == frozenset({"storage"})


def test_yaml_merge_keys(tmp_path: Path) -> None:
    text = VALID.replace("  vars:\n", "  vars: &common\n").replace(
        "          mxdrill_mx_priority: 20\n", "          mxdrill_mx_priority: 20\n          <<: *common\n")
    inv = load_inventory(write(tmp_path, text))
    assert inv.backups[0].mx_priority == 20


def test_relative_and_home_paths(tmp_path: Path) -> None:
    text = edit({4: "    mxdrill_recipients: [probe@example.test]\n"
                    "    ansible_ssh_private_key_file: keys/id_ed25519\n    mxdrill_known_hosts: ~/kh"})
    path = write(tmp_path, text)
    inv = load_inventory(path)
    assert inv.primary.ssh.key_file == tmp_path / "keys/id_ed25519"
    assert inv.primary.ssh.key_file.is_absolute()
    assert inv.primary.ssh.known_hosts == Path.home() / "kh"


# --- malformed inventories -----------------------------------------------------------------------

CASES = [
    # id, inventory text, line, key, a fragment of the message
    ("yaml-syntax", edit({3: "    mxdrill_domain: example.test: oops"}), 3, "", "invalid YAML"),
    ("yaml-unclosed-flow", edit({4: "    mxdrill_recipients: [probe@example.test"}), 5, "", "invalid YAML"),
    ("top-level-list", "- all\n", 1, "", "expected a mapping starting with all:"),
    ("no-all", "ungrouped:\n  hosts:\n", 1, "all", "starts with all:"),
    ("all-is-a-list", "all:\n  - mx1\n", 1, "all", "expected a group"),
    ("group-is-a-list", edit({11: "    mxdrill_backup: [mx2.example.test]", 12: "", 13: "", 14: "", 15: ""}),
     11, BACKUP, "got a list"),
    ("hosts-is-a-list", edit({12: "      hosts: [mx2.example.test]", 13: "", 14: "", 15: ""}),
     12, f"{BACKUP}.hosts", "expected a mapping of host names"),
    ("host-vars-scalar", edit({13: "        mx2.example.test: 192.0.2.12", 14: "", 15: ""}),
     13, MX2, "got '192.0.2.12'"),
    ("vars-not-mapping", edit({12: "      vars: [mxdrill_mx_priority]\n      hosts:"}),
     12, f"{BACKUP}.vars", "expected a mapping of variable names"),
    ("children-is-a-list", edit({5: "  children: [mxdrill_primary]", **{n: "" for n in range(6, 16)}}),
     5, "all.children", "expected a mapping of group names"),
    ("unknown-group-section", edit({12: "      host:"}), 12, f"{BACKUP}.host", "did you mean hosts?"),
    ("unknown-mxdrill-var", edit({3: "    mxdrill_domian: example.test"}),
     3, "all.vars.mxdrill_domian", "did you mean mxdrill_domain?"),
    ("unknown-mxdrill-host-var", edit({10: "          mxdrill_priority: 10"}),
     10, f"{MX1}.mxdrill_priority", "did you mean mxdrill_mx_priority?"),
    ("unknown-mxdrill-var-no-match", edit({3: "    mxdrill_domain: example.test\n    mxdrill_xyzzy: 1"}),
     4, "all.vars.mxdrill_xyzzy", "known: mxdrill_cert_min_days"),
    ("unknown-mxdrill-group", edit({11: "    mxdrill_backups:"}),
     11, "all.children.mxdrill_backups", "did you mean mxdrill_backup?"),
    ("missing-primary", edit({6: "    web:"}), 5, PRIMARY, "add a group mxdrill_primary"),
    ("empty-primary", edit({7: "      hosts:", 8: "", 9: "", 10: ""}), 6, PRIMARY, f"under {PRIMARY}.hosts"),
    ("two-primaries", edit({10: "          mxdrill_mx_priority: 10\n        mx3.example.test:\n          mxdrill_mx_priority: 5"}),
     11, f"{PRIMARY}.hosts.mx3.example.test", "exactly one host"),
    ("no-backup", edit({11: "", 12: "", 13: "", 14: "", 15: ""}), 5, BACKUP, "add a group mxdrill_backup"),
    ("empty-backup", edit({12: "      hosts: {}", 13: "", 14: "", 15: ""}), 11, BACKUP, f"under {BACKUP}.hosts"),
    ("primary-and-backup", edit({13: "        mx1.example.test:", 14: ""}),
     13, f"{BACKUP}.hosts.mx1.example.test", "either primary or backup"),
    ("duplicate-host", edit({15: "          mxdrill_mx_priority: 20\n        mx2.example.test:\n          mxdrill_mx_priority: 30"}),
     16, MX2, "duplicate key, already on line 13"),
    ("duplicate-var", edit({4: "    mxdrill_recipients: [probe@example.test]\n    mxdrill_domain: example.org"}),
     5, "all.vars.mxdrill_domain", "duplicate key, already on line 3"),
    ("duplicate-address", edit({14: "          ansible_host: 192.0.2.11"}),
     14, f"{MX2}.ansible_host", "mx1.example.test's already"),
    ("missing-priority", edit({15: ""}), 13, f"{MX2}.mxdrill_mx_priority", "every MX needs mxdrill_mx_priority"),
    ("backup-priority-below", edit({15: "          mxdrill_mx_priority: 5"}),
     15, f"{MX2}.mxdrill_mx_priority", "no lower than the primary mx1.example.test's (10), got 5"),
    ("priority-not-integer", edit({10: "          mxdrill_mx_priority: ten"}),
     10, f"{MX1}.mxdrill_mx_priority", "expected an integer 0-65535, got 'ten'"),
    ("priority-out-of-range", edit({15: "          mxdrill_mx_priority: 70000"}),
     15, f"{MX2}.mxdrill_mx_priority", "got 70000"),
    ("recipient-outside-domain", edit({4: "    mxdrill_recipients: [probe@example.org]"}),
     4, "all.vars.mxdrill_recipients.0", "not in mxdrill_domain"),
    ("second-recipient-outside-domain",
     edit({4: "    mxdrill_recipients:\n      - probe@example.test\n      - other@example.org"}),
     6, "all.vars.mxdrill_recipients.1", "'other@example.org' is not in mxdrill_domain"),
    ("recipient-not-an-address", edit({4: "    mxdrill_recipients: [probe]"}),
     4, "all.vars.mxdrill_recipients.0", "expected an e-mail address"),
    ("recipients-empty", edit({4: "    mxdrill_recipients: []"}), 4, "all.vars.mxdrill_recipients", "got an empty list"),
    ("recipients-not-a-list", edit({4: "    mxdrill_recipients: probe@example.test"}),
     4, "all.vars.mxdrill_recipients", "expected a non-empty list"),
    ("missing-domain", edit({3: ""}), 2, "all.vars.mxdrill_domain", "missing: set mxdrill_domain"),
    ("missing-recipients", edit({4: ""}), 2, "all.vars.mxdrill_recipients", "missing: set mxdrill_recipients"),
    ("bad-domain", edit({3: "    mxdrill_domain: -bad-.test"}), 3, "all.vars.mxdrill_domain", "expected a DNS name"),
    ("bad-nameserver", edit({3: "    mxdrill_domain: example.test\n    mxdrill_nameserver: 300.1.1.1"}),
     4, "all.vars.mxdrill_nameserver", "expected an IP address"),
    ("bad-vip", edit({3: "    mxdrill_domain: example.test\n    mxdrill_vip: mx.example.test"}),
     4, "all.vars.mxdrill_vip", "got 'mx.example.test'"),
    ("relative-mailbox-base", edit({3: "    mxdrill_domain: example.test\n    mxdrill_mailbox_base: var/mail"}),
     4, "all.vars.mxdrill_mailbox_base", "absolute path"),
    ("relative-mail-log", edit({14: "          mxdrill_mail_log: mail.log"}),
     14, f"{MX2}.mxdrill_mail_log", "absolute path"),
    ("port-out-of-range", edit({9: "          ansible_port: 70000"}), 9, f"{MX1}.ansible_port", "integer 1-65535"),
    ("port-zero", edit({9: "          ansible_port: 0"}), 9, f"{MX1}.ansible_port", "got 0"),
    ("port-quoted", edit({9: '          ansible_port: "22"'}), 9, f"{MX1}.ansible_port", "got '22'"),
    ("become-string", edit({9: '          ansible_become: "yes"'}), 9, f"{MX1}.ansible_become", "YAML boolean"),
    ("keep-probes-string", edit({3: '    mxdrill_domain: example.test\n    mxdrill_keep_probes: "true"'}),
     4, "all.vars.mxdrill_keep_probes", "got 'true'"),
    ("mailbox-format", edit({3: "    mxdrill_domain: example.test\n    mxdrill_mailbox_format: mbox"}),
     4, "all.vars.mxdrill_mailbox_format", "expected maildir"),
    ("timeout-zero", edit({3: "    mxdrill_domain: example.test\n    mxdrill_command_timeout: 0"}),
     4, "all.vars.mxdrill_command_timeout", "positive number of seconds"),
    ("deadline-with-unit", edit({3: "    mxdrill_domain: example.test\n    mxdrill_drain_deadline: 2m"}),
     4, "all.vars.mxdrill_drain_deadline", "got '2m'"),
    ("user-not-a-string", edit({9: "          ansible_user: 42"}), 9, f"{MX1}.ansible_user", "got 42"),
    ("jinja-template", edit({14: '          ansible_host: "{{ inventory_hostname }}"'}),
     14, f"{MX2}.ansible_host", "Jinja"),
    ("vault-value", edit({9: "          ansible_password: !vault |\n            $ANSIBLE_VAULT;1.1;AES256"}),
     9, f"{MX1}.ansible_password", "!vault"),
    ("domain-var-on-backup", edit({14: "          mxdrill_domain: example.org"}),
     14, f"{MX2}.mxdrill_domain", "domain-wide"),
    ("two-storage-hosts", VALID + "    mxdrill_storage:\n      hosts:\n        nas1.example.test:\n        nas2.example.test:\n",
     19, "all.children.mxdrill_storage.hosts.nas2.example.test", "exactly one host"),
    ("group-cycle", edit({12: "      children:\n        all:\n      hosts:"}),
     13, f"{BACKUP}.children.all", "group cycle"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_inventory(tmp_path: Path, text: str, line: int, key: str, fragment: str) -> None:
    error = load_error(tmp_path, text)
    message = str(error)
    path = str(tmp_path / "hosts.yml")
    assert message.startswith(f"{path}:{line}: {key + ': ' if key else ''}"), message
    assert (error.file, error.line, error.key) == (path, line, key)
    assert fragment in message
    assert "\n" not in message
    assert "Traceback" not in message and "pydantic" not in message


def test_at_least_thirty_malformed_cases() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_error_format_matches_the_documented_example(tmp_path: Path) -> None:
    path = write(tmp_path, edit({10: "          mxdrill_mx_priority: ten"}))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value) == (f"{path}:10: all.children.mxdrill_primary.hosts.mx1.example.test.mxdrill_mx_priority: "
                                 "expected an integer 0-65535, got 'ten'")


def test_file_name_is_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit({10: "          mxdrill_mx_priority: ten"}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InventoryError) as caught:
        load_inventory("hosts.yml")
    assert str(caught.value).startswith("hosts.yml:10: ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.line is None
    assert str(caught.value) == f"{path}: cannot read the inventory: No such file or directory"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: cannot read the inventory")


def test_empty_file(tmp_path: Path) -> None:
    error = load_error(tmp_path, "")
    assert "empty" in str(error) and "\n" not in str(error)


def test_secret_never_echoed_in_type_errors(tmp_path: Path) -> None:
    error = load_error(tmp_path, edit({9: "          ansible_password: 987654"}))
    assert error.line == 9 and error.key == f"{MX1}.ansible_password"
    assert "987654" not in str(error)


def test_users_own_ansible_vars_and_hosts_are_ignored(tmp_path: Path) -> None:
    text = VALID + textwrap.dedent("""\
        webservers:
          vars:
            http_port: not-a-number
            ansible_connection: local
          hosts:
            www.example.test:
              ansible_port: not-checked-either
        """)
    inv = load_inventory(write(tmp_path, text))
    assert "www.example.test" not in inv.hosts


# --- local files, secrets ------------------------------------------------------------------------

def test_check_files_names_where_the_missing_key_file_was_declared(tmp_path: Path) -> None:
    text = edit({4: "    mxdrill_recipients: [probe@example.test]\n"
                    "    ansible_ssh_private_key_file: keys/id_ed25519\n    mxdrill_known_hosts: keys/known_hosts"})
    path = write(tmp_path, text)
    inv = load_inventory(path)  # loading does not look at the files: the lab creates them later
    with pytest.raises(InventoryError) as caught:
        check_files(inv)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(path), 5, "all.vars.ansible_ssh_private_key_file")
    assert str(tmp_path / "keys/id_ed25519") in str(error) and "\n" not in str(error)

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/id_ed25519").write_text("key\n")
    with pytest.raises(InventoryError) as caught:
        check_files(inv)
    assert (caught.value.line, caught.value.key) == (6, "all.vars.mxdrill_known_hosts")

    (tmp_path / "keys/known_hosts").write_text("")
    check_files(inv)


def test_a_ca_file_that_holds_no_pem_certificate_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    text = edit({4: "    mxdrill_recipients: [probe@example.test]\n    mxdrill_known_hosts: known_hosts\n    mxdrill_tls_ca: ca.pem"})
    inv = load_inventory(write(tmp_path, text))
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "ca.pem").write_text("this is not a certificate\n")
    with pytest.raises(InventoryError) as caught:
        check_files(inv)
    assert caught.value.key == "mxdrill_tls_ca" and "holds no CA certificate in PEM form" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_redacted_hides_the_password(tmp_path: Path) -> None:
    text = edit({9: '          ansible_password: "s3cret-pw"'})
    inv = load_inventory(write(tmp_path, text))
    assert inv.primary.ssh.password is not None
    assert inv.primary.ssh.password.get_secret_value() == "s3cret-pw"
    data = inv.redacted()
    assert data["hosts"]["mx1.example.test"]["ssh"]["password"] == "***"
    assert data["hosts"]["mx2.example.test"]["ssh"]["password"] is None
    assert data["hosts"]["mx1.example.test"]["roles"] == ["primary"]
    assert "s3cret-pw" not in json.dumps(data)


def test_secret_not_in_repr(tmp_path: Path) -> None:
    text = edit({4: '    mxdrill_recipients: [probe@example.test]\n    ansible_ssh_pass: "s3cret-pw"'})
    inv = load_inventory(write(tmp_path, text))
    assert inv.primary.ssh.password is not None  # ansible_ssh_pass is the older name of ansible_password
    for shown in (repr(inv), str(inv), repr(inv.primary), repr(inv.primary.ssh)):
        assert "s3cret-pw" not in shown


def test_inventory_is_frozen(tmp_path: Path) -> None:
    inv: Inventory = load_inventory(write(tmp_path, VALID))
    with pytest.raises(Exception):
        inv.domain = "other.test"  # type: ignore[misc]


# --- the schema: one declaration per variable ------------------------------------------------------

SCHEMA_FIELDS = [(name, info) for model in schema.VAR_MODELS for name, info in model.model_fields.items()]


def with_only_all_var(name: str, value: str) -> str:
    """VALID with `name` set once, in all.vars on line 3, and nowhere else (no host var to override it)."""
    lines = [line for line in VALID.splitlines() if not line.lstrip().startswith(f"{name}:")]
    lines.insert(2, f"    {name}: {value}")
    return "\n".join(lines) + "\n"


def test_every_variable_is_declared_once_with_a_type_a_default_and_a_hint() -> None:
    names = [name for name, _ in SCHEMA_FIELDS]
    assert len(names) == len(set(names))  # one declaration each, in one model
    assert set(names) == schema.KNOWN_VARS == set(schema.HINTS)
    assert schema.DOMAIN_VARS == set(schema.DomainVars.model_fields)
    for name, info in SCHEMA_FIELDS:
        assert info.annotation is not None, name
        assert info.description and info.description.strip(), name
        assert schema.HINTS[name] == info.description
        if info.is_required():
            assert schema.REQUIRED[name].startswith(f"set {name} "), name
        else:
            assert name not in schema.REQUIRED
            assert schema.default(name) == info.default
    assert set(schema.REQUIRED) == {name for name, info in SCHEMA_FIELDS if info.is_required()}
    assert set(schema.ITEM_HINTS) <= set(names) and all(schema.ITEM_HINTS.values())
    assert schema.SECRET_VARS == {"ansible_password", "ansible_ssh_pass"}


@pytest.mark.parametrize("name", sorted(schema.KNOWN_VARS))
def test_a_wrong_type_quotes_the_declared_hint(tmp_path: Path, name: str) -> None:
    error = load_error(tmp_path, with_only_all_var(name, "{wrong: 1}"))
    got = "something else (not shown: it is a secret)" if name in schema.SECRET_VARS else "a mapping"
    assert str(error) == f"{tmp_path / 'hosts.yml'}:3: all.vars.{name}: expected {schema.HINTS[name]}, got {got}"


@pytest.mark.parametrize("name", sorted(schema.ITEM_HINTS))
def test_a_wrong_item_quotes_the_declared_item_hint(tmp_path: Path, name: str) -> None:
    error = load_error(tmp_path, with_only_all_var(name, "[42]"))
    assert str(error) == f"{tmp_path / 'hosts.yml'}:3: all.vars.{name}.0: expected {schema.ITEM_HINTS[name]}, got 42"


@pytest.mark.parametrize("name", sorted(schema.REQUIRED))
def test_a_missing_required_variable_says_what_to_set(tmp_path: Path, name: str) -> None:
    lines = [line for line in VALID.splitlines() if not line.lstrip().startswith(f"{name}:")]
    error = load_error(tmp_path, "\n".join(lines) + "\n")
    assert (error.line, error.key) == (2, f"all.vars.{name}")
    assert error.message == f"missing: {schema.REQUIRED[name]}"


def test_the_inventory_model_repeats_the_schema_defaults() -> None:
    for name in ("maintenance_window", "deadman_window", "drill_deadline"):
        assert Inventory.model_fields[name].default == schema.default(f"mxdrill_{name}")
