"""Ansible's INI inventory format (`hosts`, `hosts.ini`), read the way Ansible's ini plugin reads it.

Many inventories predate the YAML format and are still INI: `[group]` sections of host lines
(`mx1.example.test ansible_host=198.51.100.11 mxdrill_mx_priority=10`), `[group:vars]` with one
`key=value` a line, `[group:children]` with one group name a line; lines before any section list
ungrouped hosts; `#` and `;` start comment lines. A `[group:vars]` or `:children` entry may name a
group declared further down, but never one declared nowhere.

Values are where INI surprises people, so they follow Ansible's code (checked against
`ansible-inventory --list`) rather than its prose: a host line is split into words as a shell would
(quotes removed), and every value, on a host line or in `:vars`, goes through `ast.literal_eval`,
keeping the text when that fails. So `mxdrill_mx_priority=10` is the integer 10, `"10"` too (the shell
quotes are gone before), `['probe@example.test']` a list, `True` a boolean but `true` the string
'true', and in `:vars` everything after the first `=` is the value (`a=3 # note` is 3, Python's
comment). `host:2222` sets ansible_port for a host's first listing.

Host ranges (`mx[1:3].example.test`) are not supported: they are refused with a line saying to list
each host. Key paths mirror the YAML format (`mxdrill_primary.hosts.mx1.example.test.ansible_host`,
`all.vars.mxdrill_domain`), so every later check and message reads the same for both formats.
"""

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mxdrill.inventory.ansible import Collector, Group
from mxdrill.inventory.source import InventoryError, KeyPath, Source, dotted

SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
IPV6_WITH_PORT = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::([0-9]+))?$")
YAML_START = re.compile(r"""^(---|%|\{|[^\s#:'"][^:]*:(\s|$)|"[^"]*"\s*:|'[^']*'\s*:)""")
COMMENT_MARKERS = ("#", ";")
YAML_SUFFIXES = (".yml", ".yaml", ".json")


def is_ini(path: Path, text: str) -> bool:
    """Whether Ansible would read this inventory as INI: by extension, else by its first line.

    A first line that is a `[section]` or a host line makes it INI; one that opens a YAML mapping
    (`all:`), a document (`---`) or JSON (`{`) makes it YAML.
    """
    if path.suffix == ".ini":
        return True
    if path.suffix in YAML_SUFFIXES:
        return False
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(COMMENT_MARKERS):
            return line.startswith("[") or not YAML_START.match(line)
    return False


def read_ini(text: str, collector: Collector) -> None:
    """Feed every section and line of an INI inventory to the collector, as Ansible's ini plugin does."""
    reader = _Reader(collector)
    for number, line in enumerate(text.splitlines(), start=1):
        reader.line(number, line.strip())
    reader.finish()


@dataclass
class _Pending:
    """A group named by a `:vars` or `:children` entry before (or without) being declared."""

    state: str
    line: int
    parents: list[str] = field(default_factory=list)


class _Reader:
    """One pass over the lines, as Ansible's: the current section says what each line declares."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.source: Source = collector.source
        self.source.lines[()] = 1
        self.collector.declare("all", ("all",), None)
        self.group = "ungrouped"
        self.state = "hosts"
        self.pending: dict[str, _Pending] = {}

    def error(self, number: int, key: KeyPath, message: str) -> InventoryError:
        return InventoryError(self.source.name, number, dotted(key), message)

    # --- one line -------------------------------------------------------------------------------

    def line(self, number: int, line: str) -> None:
        if not line or line.startswith(COMMENT_MARKERS):
            return
        section = SECTION.match(line)
        if section:
            self.section(number, section.group(1), section.group(2) or "hosts")
        elif line.startswith("[") and line.endswith("]"):
            raise self.error(number, (), f"invalid section {line}: a section is [group], [group:vars] or "
                                          "[group:children], with no spaces")
        elif self.state == "hosts":
            self.host_line(number, line)
        elif self.state == "vars":
            self.var_line(number, line)
        else:
            self.child_line(number, line)

    def section(self, number: int, name: str, state: str) -> None:
        if state not in ("hosts", "vars", "children"):
            raise self.error(number, (name,), f"unknown section type :{state}: expected [{name}], [{name}:vars] "
                                              f"or [{name}:children]")
        self.group, self.state = name, state
        if name not in self.collector.groups:
            if state == "vars" and name not in self.pending:
                self.pending[name] = _Pending("vars", number)
            self.source.lines[(name,)] = number
            self.collector.declare(name, (name,), None)
        if state == "vars":
            self.source.lines.setdefault((name, "vars"), number)
        pending = self.pending.get(name)
        if pending is not None and state != "vars":
            if pending.state == "children":
                self._adopt(name, pending)
            del self.pending[name]

    def _adopt(self, name: str, pending: _Pending) -> None:
        for parent in pending.parents:
            key = (parent, "children", name)
            self.collector.declare(name, key, parent)

    def host_line(self, number: int, line: str) -> None:
        if self.group not in self.collector.groups:  # host lines before any section: ungrouped
            self.source.lines[(self.group,)] = number
            self.collector.declare(self.group, (self.group,), None)
        group_key = (self.group, "hosts")
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise self.error(number, group_key, f"cannot split this host line into words: {error}") from None
        if not words or not words[0]:
            raise self.error(number, group_key, f"expected a host name at the start of the line, got {line!r}")
        names, port = self._host_pattern(number, words[0])
        assignments = self._assignments(number, words[1:], group_key)
        group = self.collector.groups[self.group]
        for name in names:
            self._host(number, group, name, port, assignments)

    def _host(self, number: int, group: Group, name: str, port: int | None,
              assignments: list[tuple[str, str]]) -> None:
        key = (group.name, "hosts", name)
        self.source.lines.setdefault(key, number)
        new = name not in self.collector.hosts
        host = self.collector.add_host(group, name, key)
        if new and port is not None:  # Ansible takes the port of the first listing only
            self.source.lines[(*key, "ansible_port")] = number
            self.collector.set_var(host.vars, "ansible_port", port, (*key, "ansible_port"))
        for var, text in assignments:
            self.source.lines[(*key, var)] = number
            self.collector.set_var(host.vars, var, self.value(number, (*key, var), text), (*key, var))

    def _host_pattern(self, number: int, word: str) -> tuple[list[str], int | None]:
        key = (self.group, "hosts", word)
        if word.strip() == "---":
            raise self.error(number, (), "'---' starts a YAML document: name the file .yml, or write INI")
        ipv6 = IPV6_WITH_PORT.match(word)
        if ipv6:
            return [ipv6.group(1)], int(ipv6.group(2)) if ipv6.group(2) else None
        if "[" in word:
            raise self.error(number, key, "host ranges such as mx[1:3].example.com are not supported by mxdrill: "
                                          "list each host on its own line")
        if word.endswith(":"):
            raise self.error(number, key, "a host name cannot end in ':' (reserved for a port, as in mx1:2222)")
        name, colon, port = word.rpartition(":")
        if colon and name and ":" not in name and port.isascii() and port.isdigit():  # not '²'
            return [name], int(port)
        return [word], None

    def _assignments(self, number: int, words: list[str], where: KeyPath) -> list[tuple[str, str]]:
        found = []
        for word in words:
            var, equals, text = word.partition("=")
            if not equals:
                raise self.error(number, where, f"expected key=value after the host name, got {word!r}")
            found.append((var, text))
        return found

    def var_line(self, number: int, line: str) -> None:
        var, equals, text = line.partition("=")
        where = (self.group, "vars")
        if not equals:
            raise self.error(number, where, f"expected key=value in [{self.group}:vars], got {line!r}")
        var, text = var.strip(), text.strip()
        key = (*where, var)
        self.source.lines[key] = number
        group = self.collector.groups[self.group]
        self.collector.set_group_var(group, var, self.value(number, key, text), key)

    def child_line(self, number: int, line: str) -> None:
        match = GROUP_NAME.match(line)
        where = (self.group, "children")
        if not match:
            raise self.error(number, where, f"expected a group name in [{self.group}:children], got {line!r}")
        child = match.group(1)
        key = (*where, child)
        self.source.lines[key] = number
        if child in self.collector.groups:
            self.collector.declare(child, key, self.group)
            return
        pending = self.pending.setdefault(child, _Pending("children", number))
        pending.parents.append(self.group)

    def value(self, number: int, key: KeyPath, text: str) -> Any:
        """Ansible's reading of an INI value: a Python literal if it is one, else the text itself."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                return _plain(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return text
        except Exception as error:  # e.g. {[1]: 2}: Ansible stops on these too
            raise self.error(number, key, f"cannot read this value ({type(error).__name__}: {error})") from None

    # --- the end --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Refuse groups named but never declared; groups with no parent are children of all."""
        for name, pending in self.pending.items():
            if pending.state == "vars":
                raise self.error(pending.line, (name, "vars"),
                                 f"[{name}:vars] for a group declared nowhere: add a [{name}] section (Ansible refuses this too)")
            parent = pending.parents[-1]
            raise self.error(pending.line, (parent, "children", name),
                             f"[{parent}:children] names {name}, a group declared nowhere: add a [{name}] section "
                             "(Ansible refuses this too)")
        for group in list(self.collector.groups.values()):
            if group.name != "all" and not group.parents:
                self.collector.declare(group.name, group.key, "all")


def _plain(value: Any) -> Any:
    """What Ansible keeps of a literal: tuples and sets become lists, bytes text, complex and ... strings."""
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if value is ... or isinstance(value, complex):
        return "..." if value is ... else str(value)
    return value
