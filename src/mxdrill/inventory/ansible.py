"""Ansible's inventory rules, applied the way Ansible applies them, so that mxdrill reads a
postmaster's existing inventory exactly as their playbooks do.

That means: groups beside `all:` are children of `all`; a host may be listed in several groups and its
vars are merged over all its listings (later wins); a group's hosts include those of its children; and
a group that contains itself, directly or not, is refused as Ansible refuses it. A host's effective
vars follow Ansible's precedence (its VariableManager, checked against `ansible-inventory --list`):

    all's vars in the inventory < every other group's vars in the inventory
    < group_vars/all < group_vars/<group> < the host's vars in the inventory < host_vars/<host>

where groups apply in Ansible's order: shallower before deeper (depth being the longest path from
all), then by `ansible_group_priority` (default 1), then by name — not in file order. So group_vars/all
overrides even a child group's inline vars: surprising, but it is what Ansible does.

Groups form a graph, not a tree: a group may have several parents, so a "diamond" of 24 layers of
two groups each has 2**24 paths from all to its bottom, and a chain of groups can be thousands long.
Depths and members are therefore computed without recursion, and each group once.

The `Collector` is fed either by the YAML walker here or by the INI reader (`ini`), through the same
few calls (declare a group, list a host, set a variable); `vars_dirs` then adds what group_vars/ and
host_vars/ say. Nothing here knows mxdrill's own names: the collector takes two callbacks,
`vet_group` and `vet_var`, which see every group and variable as it is read and may refuse it (the
schema passes its own).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mxdrill.inventory.source import InventoryError, KeyPath, Source, describe, did_you_mean

ALL_VARS: KeyPath = ("all", "vars")
ALL_CHILDREN: KeyPath = ("all", "children")
GROUP_SECTIONS = ("hosts", "vars", "children")

VetGroup = Callable[[Source, str, KeyPath], None]
"""Called with each group name and where it is declared, before it is declared; raises to refuse it."""
VetVar = Callable[[Source, str, Any, KeyPath], None]
"""Called with each variable's name, value and key path as it is read; raises to refuse it."""


PRIORITY_VAR = "ansible_group_priority"
"""Not a variable for Ansible but the group's rank among groups of the same depth (default 1)."""


@dataclass
class Var:
    """One variable as written, with where it was written: the file and the key path in it."""

    value: Any
    key: KeyPath
    source: Source

    def error(self, message: str) -> InventoryError:
        return self.source.error(self.key, message)


@dataclass
class Group:
    name: str
    key: KeyPath  # where first declared
    vars: dict[str, Var] = field(default_factory=dict)  # in the inventory file
    file_vars: dict[str, Var] = field(default_factory=dict)  # from group_vars/<name>
    hosts: dict[str, KeyPath] = field(default_factory=dict)  # direct hosts -> where listed here
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    priority: int = 1  # ansible_group_priority


@dataclass
class HostEntry:
    name: str
    key: KeyPath  # where first listed
    vars: dict[str, Var] = field(default_factory=dict)  # merged over all its listings, later wins
    file_vars: dict[str, Var] = field(default_factory=dict)  # from host_vars/<name>
    groups: list[str] = field(default_factory=list)  # the groups that list it directly


def _accept(*_: Any) -> None:
    """The default vetting: Ansible itself takes any group or variable name."""


class Collector:
    """Groups and hosts as Ansible builds them: `declare`, `add_host` and `set_var` are what any
    inventory format comes down to; `root` walks a plain YAML document through them."""

    def __init__(self, source: Source, vet_group: VetGroup = _accept, vet_var: VetVar = _accept) -> None:
        self.source = source
        self.vet_group = vet_group
        self.vet_var = vet_var
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, HostEntry] = {}

    # --- the calls every format makes -----------------------------------------------------------

    def declare(self, name: str, key: KeyPath, parent: str | None) -> Group:
        """The group `name` (created at `key` if new), made a child of `parent` unless that is None."""
        self.vet_group(self.source, name, key)
        if parent is not None and (name == parent or parent in self._descendants(name) or name == "all"):
            raise self.source.error(key, f"group cycle: {name} contains {parent} already (Ansible refuses this too)")
        group = self.groups.setdefault(name, Group(name, key))
        if parent is not None and name not in self.groups[parent].children:
            self.groups[parent].children.append(name)
            group.parents.append(parent)
        return group

    def add_host(self, group: Group, name: str, key: KeyPath) -> HostEntry:
        """List the host `name` in `group` (at `key`); its vars are then set on the returned entry."""
        host = self.hosts.setdefault(name, HostEntry(name, key))
        group.hosts.setdefault(name, key)
        if group.name not in host.groups:
            host.groups.append(group.name)
        return host

    def set_var(self, into: dict[str, Var], name: str, value: Any, key: KeyPath) -> None:
        self.vet_var(self.source, name, value, key)
        into[name] = Var(value, key, self.source)

    def set_group_var(self, group: Group, name: str, value: Any, key: KeyPath) -> None:
        """A group variable; ansible_group_priority ranks the group instead, as in Ansible."""
        if name != PRIORITY_VAR:
            self.set_var(group.vars, name, value, key)
            return
        try:
            group.priority = int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: .inf
            raise self.source.error(key, f"expected an integer (the group's priority), got {describe(value)}") from None

    def layout(self) -> "Layout":
        """The groups and hosts collected, with Ansible's last step: a host in no group but all is
        in ungrouped, and a host in another group is not."""
        for host in self.hosts.values():
            others = [g for g in host.groups if g not in ("all", "ungrouped")]
            if others and "ungrouped" in host.groups:
                host.groups.remove("ungrouped")
                del self.groups["ungrouped"].hosts[host.name]
            elif not others and "ungrouped" not in host.groups:
                ungrouped = self.declare("ungrouped", ("all", "children", "ungrouped"), "all")
                self.add_host(ungrouped, host.name, host.key)
        return Layout(self.groups, self.hosts, self.source)

    # --- the YAML document ------------------------------------------------------------------------

    def root(self, tree: Any) -> None:
        if not isinstance(tree, dict):
            raise self.source.error((), f"expected a mapping starting with all:, got {describe(tree)}")
        if "all" not in tree:
            raise self.source.error(("all",), "missing: an Ansible YAML inventory starts with all: (with vars: and children:)")
        self.declare("all", ("all",), None)  # first: a group written before all: is a child of it too
        for name, body in tree.items():  # groups beside all: are children of all, as in Ansible
            self.group(name, body, (name,), None if name == "all" else "all")

    def group(self, name: str, body: Any, key: KeyPath, parent: str | None) -> None:
        group = self.declare(name, key, parent)
        if body is None:
            return
        if not isinstance(body, dict):
            raise self.source.error(key, f"expected a group (a mapping with hosts, vars or children), got {describe(body)}")
        for section, value in body.items():
            where = (*key, section)
            if section == "vars":
                self._group_vars(group, value, where)
            elif section == "hosts":
                self._hosts(group, value, where)
            elif section == "children":
                self._children(group, value, where)
            else:
                hint = did_you_mean(section, GROUP_SECTIONS)
                raise self.source.error(where, f"unknown key in a group: expected hosts, vars or children{hint}")

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
            host = self.add_host(group, name, key)
            if host_vars is not None and not isinstance(host_vars, dict):
                raise self.source.error(key, f"expected the host's vars as a mapping (or nothing), got {describe(host_vars)}")
            self._vars(host.vars, host_vars, key)

    def _vars(self, into: dict[str, Var], value: Any, where: KeyPath) -> None:
        for name, var_value in self._mapping_of_vars(value, where).items():
            self.set_var(into, name, var_value, (*where, name))

    def _group_vars(self, group: Group, value: Any, where: KeyPath) -> None:
        for name, var_value in self._mapping_of_vars(value, where).items():
            self.set_group_var(group, name, var_value, (*where, name))

    def _mapping_of_vars(self, value: Any, where: KeyPath) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.source.error(where, f"expected a mapping of variable names to values, got {describe(value)}")
        return value


@dataclass
class Layout:
    """The collected inventory, with Ansible's rules for group membership and variable precedence."""

    groups: dict[str, Group]
    hosts: dict[str, HostEntry]
    source: Source  # the inventory file itself

    _depths: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def depth(self, name: str) -> int:
        """Distance from all (longest path): deeper groups are more specific and win."""
        if name not in self._depths:
            self._compute_depths(name)
        return self._depths[name]

    def _compute_depths(self, name: str) -> None:
        """The depth of `name` and of every group above it, each once, with a stack of our own
        (the collector has refused cycles, so the walk ends)."""
        depths = self._depths
        stack = [name]
        while stack:
            group = stack[-1]
            waiting = [p for p in self.groups[group].parents if p not in depths]
            if waiting:
                stack.extend(waiting)
                continue
            stack.pop()
            parents = self.groups[group].parents
            depths[group] = 1 + max(depths[p] for p in parents) if parents else 0

    def ancestry(self, host: HostEntry) -> list[Group]:
        """Every group the host is in, directly or through children, in Ansible's order (all first)."""
        names: set[str] = {"all"}
        pending = list(host.groups)
        while pending:
            name = pending.pop()
            if name not in names:
                names.add(name)
                pending.extend(self.groups[name].parents)
        return sorted((self.groups[n] for n in names), key=lambda g: (self.depth(g.name), g.priority, g.name))

    def effective_vars(self, host: HostEntry) -> dict[str, Var]:
        """Ansible's precedence: inventory group vars (all first) < group_vars files (all first)
        < inventory host vars < host_vars files; groups shallower first, then by priority and name."""
        groups = self.ancestry(host)
        merged: dict[str, Var] = {}
        for layer in (*(g.vars for g in groups), *(g.file_vars for g in groups), host.vars, host.file_vars):
            merged.update(layer)
        return merged

    def members(self, name: str) -> dict[str, KeyPath]:
        """The hosts of a group and of its children, each with where it is listed in that subtree:
        a group's own listing first, then its children's in order (depth first, each group once)."""
        found: dict[str, KeyPath] = {}
        seen: set[str] = set()
        pending = [name]
        while pending:
            group = self.groups[pending.pop()]
            if group.name in seen:
                continue  # its hosts are all in `found` already, from its first visit
            seen.add(group.name)
            for host, key in group.hosts.items():
                found.setdefault(host, key)
            pending.extend(reversed(group.children))
        return found


def collect(tree: Any, source: Source, vet_group: VetGroup = _accept, vet_var: VetVar = _accept) -> Layout:
    """The plain document as Ansible sees it: its groups and hosts, with the rules to resolve them."""
    collector = Collector(source, vet_group, vet_var)
    collector.root(tree)
    return collector.layout()
