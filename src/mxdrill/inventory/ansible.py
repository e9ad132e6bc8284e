"""Ansible's YAML inventory rules, applied the way Ansible applies them, so that mxdrill reads a
postmaster's existing hosts.yml exactly as their playbooks do.

That means: groups beside `all:` are children of `all`; a host may be listed in several groups and its
vars are merged over all its listings; a group's hosts include those of its children; a host's
effective vars are all.vars < parent groups < child groups (siblings in file order) < host vars; and a
group that contains itself, directly or not, is refused as Ansible refuses it.

Nothing here knows mxdrill's own names: the walker takes two callbacks, `vet_group` and `vet_var`,
which see every group and variable as it is read and may refuse it (the schema passes its own).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mxdrill.inventory.source import KeyPath, Source, describe, did_you_mean

ALL_VARS: KeyPath = ("all", "vars")
ALL_CHILDREN: KeyPath = ("all", "children")
GROUP_SECTIONS = ("hosts", "vars", "children")

VetGroup = Callable[[Source, str, KeyPath], None]
"""Called with each group name and where it is declared, before it is declared; raises to refuse it."""
VetVar = Callable[[Source, str, Any, KeyPath], None]
"""Called with each variable's name, value and key path as it is read; raises to refuse it."""


@dataclass
class Var:
    """One variable as written, with where it was written."""

    value: Any
    key: KeyPath


@dataclass
class Group:
    name: str
    key: KeyPath  # where first declared
    order: int  # first appearance: siblings apply their vars in file order
    vars: dict[str, Var] = field(default_factory=dict)
    hosts: dict[str, KeyPath] = field(default_factory=dict)  # direct hosts -> where listed here
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


@dataclass
class HostEntry:
    name: str
    key: KeyPath  # where first listed
    vars: dict[str, Var] = field(default_factory=dict)  # merged over all its listings, later wins
    groups: list[str] = field(default_factory=list)  # the groups that list it directly


def _accept(*_: Any) -> None:
    """The default vetting: Ansible itself takes any group or variable name."""


class Collector:
    """Walks the plain document like Ansible's YAML inventory plugin, into groups and hosts."""

    def __init__(self, source: Source, vet_group: VetGroup = _accept, vet_var: VetVar = _accept) -> None:
        self.source = source
        self.vet_group = vet_group
        self.vet_var = vet_var
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, HostEntry] = {}

    def root(self, tree: Any) -> None:
        if not isinstance(tree, dict):
            raise self.source.error((), f"expected a mapping starting with all:, got {describe(tree)}")
        if "all" not in tree:
            raise self.source.error(("all",), "missing: an Ansible YAML inventory starts with all: (with vars: and children:)")
        for name, body in tree.items():  # groups beside all: are children of all, as in Ansible
            self.group(name, body, (name,), None if name == "all" else "all")

    def group(self, name: str, body: Any, key: KeyPath, parent: str | None) -> None:
        group = self._declare(name, key, parent)
        if body is None:
            return
        if not isinstance(body, dict):
            raise self.source.error(key, f"expected a group (a mapping with hosts, vars or children), got {describe(body)}")
        for section, value in body.items():
            where = (*key, section)
            if section == "vars":
                self._vars(group.vars, value, where)
            elif section == "hosts":
                self._hosts(group, value, where)
            elif section == "children":
                self._children(group, value, where)
            else:
                hint = did_you_mean(section, GROUP_SECTIONS)
                raise self.source.error(where, f"unknown key in a group: expected hosts, vars or children{hint}")

    def _declare(self, name: str, key: KeyPath, parent: str | None) -> Group:
        self.vet_group(self.source, name, key)
        if parent is not None and (name == parent or parent in self._descendants(name) or name == "all"):
            raise self.source.error(key, f"group cycle: {name} contains {parent} already (Ansible refuses this too)")
        group = self.groups.setdefault(name, Group(name, key, len(self.groups)))
        if parent is not None and name not in self.groups[parent].children:
            self.groups[parent].children.append(name)
            group.parents.append(parent)
        return group

    def _descendants(self, name: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.groups[name].children) if name in self.groups else []
        while pending:
            child = pending.pop()
            if child not in found:
                found.add(child)
                pending.extend(self.groups[child].children)
        return found

    def _children(self, group: Group, value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(where, f"expected a mapping of group names (group: then its hosts), got {describe(value)}")
        for name, body in value.items():
            self.group(name, body, (*where, name), group.name)

    def _hosts(self, group: Group, value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(
                where, f"expected a mapping of host names (mx1.example.com: then its vars, or nothing), got {describe(value)}")
        for name, host_vars in value.items():
            key = (*where, name)
            host = self.hosts.setdefault(name, HostEntry(name, key))
            group.hosts.setdefault(name, key)
            if group.name not in host.groups:
                host.groups.append(group.name)
            if host_vars is not None and not isinstance(host_vars, dict):
                raise self.source.error(key, f"expected the host's vars as a mapping (or nothing), got {describe(host_vars)}")
            self._vars(host.vars, host_vars, key)

    def _vars(self, into: dict[str, Var], value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(where, f"expected a mapping of variable names to values, got {describe(value)}")
        for name, var_value in value.items():
            self.vet_var(self.source, name, var_value, (*where, name))
            into[name] = Var(var_value, (*where, name))


@dataclass
class Layout:
    """The collected inventory, with Ansible's rules for group membership and variable precedence."""

    groups: dict[str, Group]
    hosts: dict[str, HostEntry]

    def depth(self, name: str) -> int:
        """Distance from all (longest path): deeper groups are more specific and win."""
        parents = self.groups[name].parents
        return 1 + max(self.depth(p) for p in parents) if parents else 0

    def ancestry(self, host: HostEntry) -> list[Group]:
        """Every group the host is in, directly or through children, least specific first."""
        names: set[str] = {"all"}
        pending = list(host.groups)
        while pending:
            name = pending.pop()
            if name not in names:
                names.add(name)
                pending.extend(self.groups[name].parents)
        return sorted((self.groups[n] for n in names), key=lambda g: (self.depth(g.name), g.order))

    def effective_vars(self, host: HostEntry) -> dict[str, Var]:
        """all.vars < group vars (parents before children, siblings in file order) < host vars."""
        merged: dict[str, Var] = {}
        for group in self.ancestry(host):
            merged.update(group.vars)
        merged.update(host.vars)
        return merged

    def members(self, name: str) -> dict[str, KeyPath]:
        """The hosts of a group and of its children, each with where it is listed in that subtree."""
        group = self.groups[name]
        found = dict(group.hosts)
        for child in group.children:
            for host, key in self.members(child).items():
                found.setdefault(host, key)
        return found


def collect(tree: Any, source: Source, vet_group: VetGroup = _accept, vet_var: VetVar = _accept) -> Layout:
    """The plain document as Ansible sees it: its groups and hosts, with the rules to resolve them."""
    collector = Collector(source, vet_group, vet_var)
    collector.root(tree)
    return Layout(collector.groups, collector.hosts)
