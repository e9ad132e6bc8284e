"""Fleets: one inventory, many mail domains, each MX's domain its effective mxdrill_domain.

A four-domain fleet in three layouts (inline YAML vars, group_vars/ and host_vars/ files, INI) loads
to the same domains; each per-domain rule refuses its mistake at the line to change, naming the
domain; a one-domain inventory is a fleet of one equal to what load_inventory returns; and
ansible-inventory agrees with mxdrill on every host's mxdrill_domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from layouts import REFERENCE, ini_value, reference_as_ini, split_reference, write_files
from test_inventory_ansible_oracle import ansible_list, ansible_members

from mxdrill.inventory import Fleet, InventoryError, load_fleet, load_inventory, merged_vars

FLEET = """\
all:
  vars:
    ansible_user: root
    mxdrill_domain: example.test
    mxdrill_recipients: [probe@example.test]
    mxdrill_nameserver: 198.51.100.53
  children:
    mxdrill_primary:
      hosts:
        mx1.example.test: {ansible_host: 198.51.100.11, mxdrill_mx_priority: 10}
        mx1.example2.test: {ansible_host: 198.51.100.21, mxdrill_mx_priority: 10}
        mx1.example3.test: {ansible_host: 198.51.100.31, mxdrill_mx_priority: 5}
        mx1.example4.test: {ansible_host: 198.51.100.41, mxdrill_mx_priority: 10}
    mxdrill_backup:
      hosts:
        mx2.example.test: {ansible_host: 198.51.100.12, mxdrill_mx_priority: 20}
        mx2.example2.test: {ansible_host: 198.51.100.22, mxdrill_mx_priority: 20}
        mx3.example2.test: {ansible_host: 198.51.100.23, mxdrill_mx_priority: 30}
        mx2.example3.test: {ansible_host: 198.51.100.32, mxdrill_mx_priority: 8}
        mx2.example4.test: {ansible_host: 198.51.100.42, mxdrill_mx_priority: 20}
    mxdrill_storage:
      hosts:
        storage.example.test: {ansible_host: 198.51.100.60, mxdrill_export: /srv/vhosts}
    mxdrill_dns:
      hosts:
        dns.example.test: {ansible_host: 198.51.100.53}
    mxdrill_sender:
      hosts:
        sender.example.test: {ansible_host: 198.51.100.70}
    example2:
      vars:
        mxdrill_domain: example2.test
        mxdrill_recipients: [probe@example2.test, postmaster@example2.test]
        mxdrill_vip: 198.51.100.20
      hosts:
        mx1.example2.test:
        mx2.example2.test:
        mx3.example2.test:
    example3:
      vars:
        mxdrill_domain: example3.test
        mxdrill_recipients: [probe@example3.test]
        mxdrill_drain_deadline: 200
        mxdrill_deadman_window: 400
        mxdrill_drill_deadline: 1000
      hosts:
        mx1.example3.test:
        mx2.example3.test:
    customers:
      vars:
        mxdrill_domain: customers.test
        mxdrill_keep_probes: true
      children:
        example4:
          vars:
            mxdrill_domain: example4.test
            mxdrill_recipients: [probe@example4.test]
          hosts:
            mx1.example4.test:
            mx2.example4.test:
"""
"""Four domains: example.test from all.vars, example2 and example3 from their groups, example4 from a
group below `customers`, whose own mxdrill_domain it overrides (the deeper group wins) and whose
mxdrill_keep_probes it inherits. mx2.example3.test's priority 8 is above its own primary's 5 only."""

SHARED = ["storage.example.test", "dns.example.test", "sender.example.test"]
EXPECTED = {
    # domain: (primary, backups, recipients, vip, keep_probes, deadman_window)
    "example.test": ("mx1.example.test", ["mx2.example.test"], ["probe@example.test"], None, False, 300.0),
    "example2.test": ("mx1.example2.test", ["mx2.example2.test", "mx3.example2.test"],
                      ["probe@example2.test", "postmaster@example2.test"], "198.51.100.20", False, 300.0),
    "example3.test": ("mx1.example3.test", ["mx2.example3.test"], ["probe@example3.test"], None, False, 400.0),
    "example4.test": ("mx1.example4.test", ["mx2.example4.test"], ["probe@example4.test"], None, True, 300.0),
}


# --- the fleet in three layouts ------------------------------------------------------------------------

def groups(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every group below all, parents before their children, with its body."""
    pending = list(data["all"]["children"].items())
    while pending:
        name, body = pending.pop(0)
        yield name, body or {}
        pending[0:0] = list((body or {}).get("children", {}).items())


def bare(body: dict[str, Any]) -> dict[str, Any]:
    """A group with its hosts and children only: its vars and its hosts' vars left out."""
    kept: dict[str, Any] = {}
    if "hosts" in body:
        kept["hosts"] = dict.fromkeys(body["hosts"])
    if "children" in body:
        kept["children"] = {name: bare(child or {}) for name, child in body["children"].items()}
    return kept


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False)


def fleet_yaml(root: Path, text: str = FLEET) -> Path:
    write_files(root, {"hosts.yml": text})
    return root / "hosts.yml"


def fleet_split(root: Path) -> Path:
    """The fleet with every group's vars in group_vars/<group>.yml and every host's in host_vars/."""
    data = yaml.safe_load(FLEET)
    files = {"group_vars/all.yml": dump(data["all"]["vars"]),
             "hosts.yml": dump({"all": {"children": bare(data["all"])["children"]}})}
    host_vars: dict[str, dict[str, Any]] = {}
    for name, body in groups(data):
        if body.get("vars"):
            files[f"group_vars/{name}.yml"] = dump(body["vars"])
        for host, values in body.get("hosts", {}).items():
            host_vars.setdefault(host, {}).update(values or {})
    files.update({f"host_vars/{host}.yml": dump(values) for host, values in host_vars.items() if values})
    write_files(root, files)
    return root / "hosts.yml"


def ini_pairs(values: dict[str, Any] | None) -> list[str]:
    return [f"{key}={ini_value(value)}" for key, value in (values or {}).items()]


def fleet_ini(root: Path) -> Path:
    """The fleet as an INI inventory: [group] host lines, [group:vars], [group:children]."""
    data = yaml.safe_load(FLEET)
    lines = ["[all:vars]", *ini_pairs(data["all"]["vars"])]
    for name, body in groups(data):
        if "hosts" in body:
            lines += [f"[{name}]", *(" ".join([host, *ini_pairs(values)]) for host, values in body["hosts"].items())]
        if "vars" in body:
            lines += [f"[{name}:vars]", *ini_pairs(body["vars"])]
        if "children" in body:
            lines += [f"[{name}:children]", *body["children"]]
    write_files(root, {"hosts": "\n".join(lines) + "\n"})
    return root / "hosts"


LAYOUTS: dict[str, Callable[[Path], Path]] = {"yaml": fleet_yaml, "vars-files": fleet_split, "ini": fleet_ini}


def summary(fleet: Fleet) -> dict[str, tuple[Any, ...]]:
    return {inv.domain: (inv.primary.name, [b.name for b in inv.backups], inv.recipients, inv.vip,
                         inv.keep_probes, inv.deadman_window) for inv in fleet.domains}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_fleet_loads_one_inventory_per_domain(layout: str, tmp_path: Path) -> None:
    fleet = load_fleet(LAYOUTS[layout](tmp_path))
    assert summary(fleet) == EXPECTED
    assert list(fleet.hosts) == [*EXPECTED["example.test"][:1], "mx1.example2.test", "mx1.example3.test",
                                 "mx1.example4.test", "mx2.example.test", "mx2.example2.test", "mx3.example2.test",
                                 "mx2.example3.test", "mx2.example4.test", *SHARED]
    assert fleet.hosts == load_fleet(fleet_yaml(tmp_path / "yaml")).hosts  # every layout, the same hosts
    for inv in fleet.domains:
        assert inv.nameserver == "198.51.100.53"  # all.vars reaches every domain
        assert [inv.storage, inv.dns, inv.sender] == [fleet.hosts[name] for name in SHARED]
        assert set(inv.hosts) == {h.name for h in inv.mxs} | set(SHARED)
    assert fleet.domain("Example3.Test.").drain_deadline == 200.0
    assert fleet.domain("example3.test").pairs()[0][1].mx_priority == 8


def test_an_unknown_domain_is_a_key_error_naming_the_fleet_s_domains(tmp_path: Path) -> None:
    fleet = load_fleet(fleet_yaml(tmp_path))
    with pytest.raises(KeyError, match="no mail domain example5.test .*example4.test"):
        fleet.domain("example5.test")


def test_another_domain_s_mx_is_only_its_shared_role(tmp_path: Path) -> None:
    text = replace_once(FLEET, "        dns.example.test: {ansible_host: 198.51.100.53}\n", "        mx1.example.test:\n")
    fleet = load_fleet(fleet_yaml(tmp_path, text))
    assert fleet.hosts["mx1.example.test"].roles == {"primary", "dns"}
    assert fleet.domain("example.test").primary is fleet.domain("example.test").dns
    other = fleet.domain("example2.test")
    assert (other.primary.name, other.dns.name, other.dns.roles) == ("mx1.example2.test", "mx1.example.test", {"dns"})
    assert [h.name for h in other.mxs] == ["mx1.example2.test", "mx2.example2.test", "mx3.example2.test"]


# --- one domain -------------------------------------------------------------------------------------

def reference_copy(root: Path) -> Path:
    return fleet_yaml(root, REFERENCE.read_text())


@pytest.mark.parametrize("build", [reference_copy, split_reference, reference_as_ini], ids=["yaml", "vars-files", "ini"])
def test_a_one_domain_inventory_is_a_fleet_of_one(build: Callable[[Path], Path], tmp_path: Path) -> None:
    path = build(tmp_path)
    fleet, inv = load_fleet(path), load_inventory(path)
    assert fleet.domains == [inv]
    assert fleet.domains[0]._declared == inv._declared and inv._declared
    assert (fleet.path, fleet.hosts) == (inv.path, inv.hosts)


def test_load_inventory_refuses_a_fleet_naming_its_domains(tmp_path: Path) -> None:
    path = fleet_yaml(tmp_path)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value) == (
        f"{path}:{line_of(FLEET, 'mx1.example2.test: {')}: all.children.mxdrill_primary.hosts.mx1.example2.test: "
        "this inventory holds 4 mail domains (example.test, example2.test, example3.test, example4.test) "
        "and this command drills one: use a fleet-aware command, or an inventory of one domain")


# --- refusals, per domain -------------------------------------------------------------------------------

def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """The 1-based line holding `fragment`, which must be on exactly one line."""
    found = [number for number, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(found) == 1, (fragment, found)
    return found[0]


EXAMPLE5 = """\
    example5:
      vars: {mxdrill_domain: example5.test, mxdrill_recipients: [probe@example5.test]}
      hosts:
        mx9.example5.test:
"""
MX4 = "        mx1.example4.test: {ansible_host: 198.51.100.41, mxdrill_mx_priority: 10"
BACKUP = "all.children.mxdrill_backup.hosts"
EXAMPLE2_DOMAIN = "all.children.example2.vars.mxdrill_domain"
DOMAIN_LINE = line_of(FLEET, "mxdrill_domain: example.test")
EXAMPLE2_LINE = line_of(FLEET, "mxdrill_domain: example2.test")
EXAMPLE3_LINE = line_of(FLEET, "mxdrill_domain: example3.test")
MX3 = "mxdrill_mx_priority: 30}"
MX9 = "        mx9.example5.test: {ansible_host: 198.51.100.92, mxdrill_mx_priority: 20}\n"

REFUSALS = [
    # id, (old, new) edits of FLEET, the line's fragment in the edited text, key, message fragments ({path}: the file)
    ("second-primary-by-host-var", [(MX4, MX4 + ", mxdrill_domain: example2.test")],
     "mx1.example4.test: {", "all.children.mxdrill_primary.hosts.mx1.example4.test",
     ["mxdrill_primary takes one host per mail domain and has mx1.example2.test for example2.test already "
      f"(this host's mxdrill_domain is set at {{path}}:{line_of(FLEET, MX4)} "
      "all.children.mxdrill_primary.hosts.mx1.example4.test"
      ".mxdrill_domain): list mx1.example4.test in mxdrill_backup, or in a group of its own domain"]),
    ("second-primary-not-in-its-domain-group", [("        mx1.example3.test:\n", "")],
     "mx1.example3.test: {", "all.children.mxdrill_primary.hosts.mx1.example3.test",
     [f"has mx1.example.test for example.test already (this host's mxdrill_domain is set at {{path}}:{DOMAIN_LINE} "
      "all.vars.mxdrill_domain)"]),
    ("backup-of-a-domain-without-primary",
     [("    customers:\n", EXAMPLE5 + "    customers:\n"), ("    mxdrill_storage:\n", MX9 + "    mxdrill_storage:\n")],
     "example5.test, mxdrill_recipients", "all.children.example5.vars.mxdrill_domain",
     ["backup mx9.example5.test serves mail domain example5.test, which has no primary (the fleet's domains: "
      "example.test, example2.test, example3.test, example4.test): list it in the group of one of these instead, "
      "or add example5.test's primary to mxdrill_primary"]),
    ("backup-with-no-domain", [("    mxdrill_domain: example.test\n", ""),
                               ("198.51.100.11, mxdrill_mx_priority: 10}", "198.51.100.11, mxdrill_mx_priority: 10, "
                                "mxdrill_domain: example.test}")],
     "mx2.example.test: {", f"{BACKUP}.mx2.example.test.mxdrill_domain",
     ["backup mx2.example.test has no mxdrill_domain and the fleet's domains are example.test, example2.test, "
      "example3.test, example4.test: list it in the group of its domain"]),
    ("backup-naming-a-domain-without-primary", [(MX3, "mxdrill_mx_priority: 30, mxdrill_domain: example9.test}")],
     "mx3.example2.test: {", f"{BACKUP}.mx3.example2.test.mxdrill_domain",
     ["backup mx3.example2.test serves mail domain example9.test, which has no primary"]),
    ("domain-without-backup", [("            mx2.example4.test:\n", "")],
     "mxdrill_domain: example4.test", "all.children.customers.children.example4.vars.mxdrill_domain",
     ["mail domain example4.test has a primary (mx1.example4.test) but no backup: list a backup MX (one that must "
      "take the mail) in mxdrill_backup and give it this mxdrill_domain"]),
    ("backup-priority-below-its-own-primary", [("mxdrill_mx_priority: 8}", "mxdrill_mx_priority: 4}")],
     "mx2.example3.test: {", f"{BACKUP}.mx2.example3.test.mxdrill_mx_priority",
     ["a backup needs an MX priority no lower than the primary mx1.example3.test's (5), got 4"]),
    ("recipients-inherited-from-another-domain", [("        mxdrill_recipients: [probe@example3.test]\n", "")],
     "mxdrill_recipients: [probe@example.test]", "all.vars.mxdrill_recipients.0",
     ["'probe@example.test' is not in mxdrill_domain 'example3.test': probes go to the domain under test only "
      f"(mxdrill_domain is set at {{path}}:{EXAMPLE3_LINE} all.children.example3.vars.mxdrill_domain: "
      "set this domain's "
      "mxdrill_recipients there too)"]),
    ("recipient-of-another-domain-in-the-group", [("postmaster@example2.test]", "postmaster@example.test]")],
     "postmaster@example.test", "all.children.example2.vars.mxdrill_recipients.1",
     ["'postmaster@example.test' is not in mxdrill_domain 'example2.test'", EXAMPLE2_DOMAIN]),
    ("address-of-another-domain-s-mx", [("198.51.100.42", "198.51.100.11")],
     "mx2.example4.test: {", f"{BACKUP}.mx2.example4.test.ansible_host",
     ["address 198.51.100.11 is mx1.example.test's already (an MX of example.test): each MX needs its own "
      "(a shared virtual address goes in mxdrill_vip)"]),
    ("timing-of-one-domain", [("mxdrill_deadman_window: 400", "mxdrill_deadman_window: 100")],
     "mxdrill_deadman_window: 100", "all.children.example3.vars.mxdrill_deadman_window",
     ["the dead-man's switch would restart the primary in the middle of a working drill: "
      "mxdrill_deadman_window is 100s", "set mxdrill_deadman_window above 254"]),
    ("backup-disagreeing-with-its-primary", [(MX3, "mxdrill_mx_priority: 30, mxdrill_vip: 198.51.100.99}")],
     "mx3.example2.test: {", f"{BACKUP}.mx3.example2.test.mxdrill_vip",
     ["mxdrill_vip is domain-wide and taken from the primary mx1.example2.test, which has '198.51.100.20': "
      f"set it once where example2.test's mxdrill_domain is set ({{path}}:{EXAMPLE2_LINE} {EXAMPLE2_DOMAIN})"]),
    ("primary-listed-as-a-backup",
     [("        mx2.example2.test: {", "        mx1.example2.test:  # too\n        mx2.example2.test: {")],
     "# too", f"{BACKUP}.mx1.example2.test",
     ["mx1.example2.test is the primary already: a host is either primary or backup, not both"]),
]


@pytest.mark.parametrize(("edits", "fragment", "key", "messages"), [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])
def test_a_fleet_mistake_is_one_line_at_the_key_to_change(tmp_path: Path, edits: list[tuple[str, str]], fragment: str,
                                                          key: str, messages: list[str]) -> None:
    text = FLEET
    for old, new in edits:
        text = replace_once(text, old, new)
    path = fleet_yaml(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        load_fleet(path)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(path), line_of(text, fragment), key), str(error)
    for message in messages:
        assert message.format(path=path) in error.message
    assert "\n" not in str(error)


def test_every_refusal_is_tested_once() -> None:
    assert len({c[0] for c in REFUSALS}) == len(REFUSALS) >= 12


def test_group_vars_all_shadowing_a_domain_group_is_refused_at_the_group(tmp_path: Path) -> None:
    """Ansible ranks group_vars/all above inline group vars: each domain group's mxdrill_domain is lost."""
    data = yaml.safe_load(FLEET)
    files = {"group_vars/all.yml": dump(data["all"].pop("vars")), "hosts.yml": dump(data)}
    write_files(tmp_path, files)
    path = tmp_path / "hosts.yml"
    with pytest.raises(InventoryError) as caught:
        load_fleet(path)
    error = caught.value
    assert (error.file, error.key) == (str(path), EXAMPLE2_DOMAIN)
    assert error.message == (f"{tmp_path / 'group_vars/all.yml'} sets mxdrill_domain for mx1.example2.test over this "
                             "(Ansible ranks group_vars/all above a group's vars in the inventory): move this group's "
                             "vars to group_vars/example2.yml, or mxdrill_domain from group_vars/all to all.vars")
    hostvars = ansible_list(path, tmp_path)["_meta"]["hostvars"]
    assert hostvars["mx1.example2.test"]["mxdrill_domain"] == "example.test"  # Ansible agrees it is lost


# --- Ansible agrees -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_ansible_gives_each_mx_the_domain_mxdrill_gives_it(layout: str, tmp_path: Path) -> None:
    path = LAYOUTS[layout](tmp_path / "inventory-root")
    fleet = load_fleet(path)
    listing = ansible_list(path, tmp_path)
    theirs = listing["_meta"]["hostvars"]
    mine = merged_vars(path)
    assert ansible_members(listing, "mxdrill_primary") == {inv.primary.name for inv in fleet.domains}
    for inv in fleet.domains:
        assert theirs[inv.primary.name]["mxdrill_recipients"] == inv.recipients
        for mx in inv.mxs:
            assert (mx.name, theirs[mx.name]["mxdrill_domain"]) == (mx.name, inv.domain)
    for host in fleet.hosts:
        assert (host, mine[host]["mxdrill_domain"]) == (host, theirs[host]["mxdrill_domain"])


def test_the_fleet_layouts_differ_only_in_layout(tmp_path: Path) -> None:
    """The derived layouts really moved the variables out of hosts.yml (or into INI)."""
    split = fleet_split(tmp_path / "split")
    assert "mxdrill_domain" not in split.read_text()
    assert yaml.safe_load((split.parent / "group_vars/example4.yml").read_text())["mxdrill_domain"] == "example4.test"
    assert "[customers:children]\nexample4\n" in fleet_ini(tmp_path / "ini").read_text()
