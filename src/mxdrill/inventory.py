"""The inventory: which hosts are the MXs, the storage, the DNS and the sender, and how to reach them.

The inventory is a plain Ansible YAML inventory (hosts.yml), so a postmaster can add mxdrill's groups
(`mxdrill_primary`, `mxdrill_backup`, `mxdrill_storage`, `mxdrill_dns`, `mxdrill_sender`) and vars
(`mxdrill_*`, plus the usual `ansible_*` connection vars) to the inventory they already use.

It is loaded strictly: a drill that stops a production primary must not start from a typo. Every
problem is reported as one `InventoryError` whose text names the file, the line and the dotted key
(`hosts.yml:12: all.children.mxdrill_primary.hosts.mx1.example.test.mxdrill_mx_priority: ...`), so it
can be fixed without reading a traceback. Lines come from composing the YAML ourselves (PyYAML's
loader forgets them, and silently keeps the last of two duplicate keys); types come from pydantic
models whose field names are the variable names, so a pydantic error's `loc` is the variable to blame.
"""

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
)

KeyPath = tuple[str, ...]
"""Where a value sits in the YAML document, e.g. ("all", "vars", "mxdrill_domain")."""

ROLE_GROUPS: dict[str, str] = {
    "mxdrill_primary": "primary",
    "mxdrill_backup": "backup",
    "mxdrill_storage": "storage",
    "mxdrill_dns": "dns",
    "mxdrill_sender": "sender",
}
"""Ansible group name -> the role its hosts play in a drill."""

OPTIONAL_ROLES = ("mxdrill_storage", "mxdrill_dns", "mxdrill_sender")
GROUP_SECTIONS = ("hosts", "vars", "children")
ALL_VARS: KeyPath = ("all", "vars")
ALL_CHILDREN: KeyPath = ("all", "children")
MERGE_TAG = "tag:yaml.org,2002:merge"


class InventoryError(Exception):
    """A broken inventory, as one line a user can act on: `file:line: key: message`.

    `line` is 1-based, or None when there is no line to point at (unreadable file); `key` is the
    dotted path of the offending value (empty when the whole file is at fault).
    """

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = " ".join(message.split())  # one line, whatever the YAML parser said
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}")


# --- the model -----------------------------------------------------------------------------------

class SshSettings(BaseModel):
    """How to reach a host: mxdrill runs its remote commands over SSH, with verified host keys."""

    model_config = ConfigDict(frozen=True)

    user: str
    port: int
    key_file: Path | None
    known_hosts: Path
    sudo: bool  # ansible_become: run remote commands through `sudo -n`
    password: SecretStr | None  # SecretStr so that it never ends up in a log or a report


class ServiceControl(BaseModel):
    """The shell commands that stop, start and check the MTA: the 'service down' fault uses them."""

    model_config = ConfigDict(frozen=True)

    stop: str
    start: str
    status: str


class Host(BaseModel):
    """One inventory host with an mxdrill role, with every default filled in."""

    model_config = ConfigDict(frozen=True)

    name: str  # the inventory hostname
    address: str  # ansible_host, or the inventory hostname
    roles: frozenset[str]  # among "primary", "backup", "storage", "dns", "sender"
    ssh: SshSettings
    service: ServiceControl
    mail_log: str
    mailbox_base: str
    mx_priority: int | None
    export: str | None

    @field_serializer("roles", when_used="json")
    def _sorted_roles(self, roles: frozenset[str]) -> list[str]:
        """Reports must not change from run to run with set ordering."""
        return sorted(roles)


class Inventory(BaseModel):
    """The validated inventory: the domain under test and the hosts that serve it.

    `load_inventory` guarantees exactly one primary, at least one backup with a greater MX priority,
    and at most one storage, DNS and sender host.
    """

    model_config = ConfigDict(frozen=True)

    path: Path  # as the user gave it, so that messages name the file the way the user does
    domain: str
    recipients: list[str]
    nameserver: str | None  # None: the system resolver
    mailbox_format: str
    storage_fstype: str
    vip: str | None
    keep_probes: bool
    command_timeout: float
    drain_deadline: float
    maintenance_window: str | None = None  # "always" or "HH:MM-HH:MM" (UTC, daily)
    deadman_window: float = 300.0  # the host heals itself this long after a fault if the harness is gone
    drill_deadline: float = 900.0  # the whole drill, all steps
    hosts: dict[str, Host]  # inventory hostname -> host, in file order

    # (host name, variable) -> (dotted key, line) where a local path was declared, for check_files.
    _declared: dict[tuple[str, str], tuple[str, int | None]] = PrivateAttr(default_factory=dict)

    def _with_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles]

    @property
    def primary(self) -> Host:
        """The MX with the lowest preference: the one each drill takes down."""
        return self._with_role("primary")[0]

    @property
    def backups(self) -> list[Host]:
        """Backup MXs in the order a sender tries them (lowest MX priority first)."""
        return sorted(self._with_role("backup"), key=lambda h: h.mx_priority or 0)

    @property
    def mxs(self) -> list[Host]:
        """Every MX, in DNS preference order."""
        return [self.primary, *self.backups]

    @property
    def storage(self) -> Host | None:
        """The shared mailbox store, when the MXs deliver into one."""
        return next(iter(self._with_role("storage")), None)

    @property
    def dns(self) -> Host | None:
        return next(iter(self._with_role("dns")), None)

    @property
    def sender(self) -> Host | None:
        return next(iter(self._with_role("sender")), None)

    def pairs(self) -> list[tuple[Host, Host]]:
        """(primary, backup) for each backup: one drill scenario family per pair."""
        return [(self.primary, backup) for backup in self.backups]

    def redacted(self) -> dict[str, Any]:
        """The inventory as plain JSON-able data for reports, passwords replaced by "***"."""
        data = self.model_dump(mode="json")
        for name, host in self.hosts.items():
            if host.ssh.password is not None:
                data["hosts"][name]["ssh"]["password"] = "***"
        return data


# --- variables: names, types, and the words used when they are wrong ------------------------------

def _dns_name(value: str) -> str:
    label = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
    name = value.lower().removesuffix(".")
    if len(name) > 253 or not all(label.match(part) for part in name.split(".")):
        raise ValueError(f"expected a DNS name such as example.com, got {value!r}")
    return name


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"expected an IP address such as 192.0.2.53, got {value!r}") from None


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"expected an absolute path on the host (starting with /), got {value!r}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _address(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"expected a host name or an IP address, got {value!r}")
    return value


def _recipient(value: str, info: ValidationInfo) -> str:
    """An address in the domain under test: mxdrill must never send probes anywhere else."""
    local, at, domain = value.rpartition("@")
    if not at or not local or any(c.isspace() for c in value):
        raise ValueError(f"expected an e-mail address such as probe@example.com, got {value!r}")
    expected = info.data.get("mxdrill_domain")
    if expected is not None and domain.lower().removesuffix(".") != expected:
        raise ValueError(f"{value!r} is not in mxdrill_domain {expected!r}: probes go to the domain under test only")
    return value


def _maintenance_window(value: str) -> str:
    """'always' (a lab, a test bed) or a daily UTC window 'HH:MM-HH:MM' (may wrap past midnight)."""
    if value == "always" or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
        return value
    raise ValueError(f"expected 'always' or a daily UTC window such as '22:00-02:00', got {value!r}")


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
Address = Annotated[StrictStr, AfterValidator(_address)]
IpAddress = Annotated[StrictStr, AfterValidator(_ip_address)]
RemotePath = Annotated[StrictStr, AfterValidator(_absolute)]
Seconds = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]


class _HostVars(BaseModel):
    """The per-host variables, named as in the inventory so that a pydantic `loc` is a variable name."""

    model_config = ConfigDict(extra="ignore")

    ansible_host: Address | None = None
    ansible_port: Annotated[StrictInt, Field(ge=1, le=65535)] = 22
    ansible_user: Text = "root"
    ansible_ssh_private_key_file: Text | None = None
    ansible_become: StrictBool = False
    ansible_password: Annotated[SecretStr, Field(strict=True)] | None = None
    ansible_ssh_pass: Annotated[SecretStr, Field(strict=True)] | None = None
    mxdrill_known_hosts: Text = "~/.ssh/known_hosts"
    mxdrill_mailbox_base: RemotePath = "/var/mail/vhosts"
    mxdrill_mail_log: RemotePath = "/var/log/mail.log"
    mxdrill_service_stop: Text = "systemctl stop postfix"
    mxdrill_service_start: Text = "systemctl start postfix"
    mxdrill_service_status: Text = "postfix status"  # ask Postfix itself: systemd says "active" too early
    mxdrill_mx_priority: Annotated[StrictInt, Field(ge=0, le=65535)] | None = None
    mxdrill_export: Text | None = None


class _DomainVars(BaseModel):
    """Variables about the domain under test, read from the primary's effective vars (all.vars)."""

    model_config = ConfigDict(extra="ignore")

    mxdrill_domain: Annotated[StrictStr, AfterValidator(_dns_name)]
    mxdrill_recipients: Annotated[list[Annotated[StrictStr, AfterValidator(_recipient)]], Field(min_length=1)]
    mxdrill_nameserver: IpAddress | None = None
    mxdrill_mailbox_format: Literal["maildir"] = "maildir"
    mxdrill_storage_fstype: Text = "nfs4"
    mxdrill_vip: IpAddress | None = None
    mxdrill_keep_probes: StrictBool = False
    mxdrill_command_timeout: Seconds = 30.0
    mxdrill_drain_deadline: Seconds = 120.0
    mxdrill_maintenance_window: Annotated[StrictStr, AfterValidator(_maintenance_window)] | None = None
    mxdrill_deadman_window: Seconds = 300.0
    mxdrill_drill_deadline: Seconds = 900.0


DOMAIN_VARS = frozenset(_DomainVars.model_fields)
KNOWN_VARS = frozenset(_HostVars.model_fields) | DOMAIN_VARS
KNOWN_MXDRILL_VARS = sorted(v for v in KNOWN_VARS if v.startswith("mxdrill_"))
SECRET_VARS = frozenset({"ansible_password", "ansible_ssh_pass"})

HINTS: dict[str, str] = {
    "ansible_host": "a host name or an IP address",
    "ansible_port": "an integer 1-65535",
    "ansible_user": "a user name",
    "ansible_ssh_private_key_file": "the path of an SSH private key",
    "ansible_become": "true or false (a YAML boolean, unquoted)",
    "ansible_password": "a string (quote it in YAML)",
    "ansible_ssh_pass": "a string (quote it in YAML)",
    "mxdrill_known_hosts": "the path of a known_hosts file",
    "mxdrill_mailbox_base": "an absolute path on the host",
    "mxdrill_mail_log": "an absolute path on the host",
    "mxdrill_service_stop": "a shell command",
    "mxdrill_service_start": "a shell command",
    "mxdrill_service_status": "a shell command",
    "mxdrill_mx_priority": "an integer 0-65535",
    "mxdrill_export": "the exported path, as a string",
    "mxdrill_domain": "a DNS name such as example.com",
    "mxdrill_recipients": "a non-empty list of e-mail addresses, e.g. [probe@example.com]",
    "mxdrill_nameserver": "an IP address, or nothing for the system resolver",
    "mxdrill_mailbox_format": "maildir (the only mailbox format mxdrill reads)",
    "mxdrill_storage_fstype": "a file system type such as nfs4 or fuse.sshfs",
    "mxdrill_vip": "an IP address",
    "mxdrill_keep_probes": "true or false (a YAML boolean, unquoted)",
    "mxdrill_command_timeout": "a positive number of seconds",
    "mxdrill_drain_deadline": "a positive number of seconds",
    "mxdrill_maintenance_window": "'always' (a lab) or a daily UTC window such as '22:00-02:00'",
    "mxdrill_deadman_window": "a positive number of seconds",
    "mxdrill_drill_deadline": "a positive number of seconds",
}
ITEM_HINTS: dict[str, str] = {"mxdrill_recipients": "an e-mail address such as probe@example.com"}
REQUIRED: dict[str, str] = {
    "mxdrill_domain": "set mxdrill_domain (the mail domain under test, e.g. example.com) in all.vars",
    "mxdrill_recipients": "set mxdrill_recipients (e.g. [probe@example.com], addresses in mxdrill_domain) in all.vars",
}


# --- reading and composing the YAML --------------------------------------------------------------

@dataclass(frozen=True)
class _Tagged:
    """A scalar with a tag we do not construct (Ansible's `!vault`): never shown, never a valid value."""

    tag: str

    def __repr__(self) -> str:
        return f"a {self.tag} value"


@dataclass
class _Source:
    """What to call the file in messages, and the line of every key: enough to build any error."""

    name: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, key: KeyPath) -> int | None:
        """The line of `key`, or of its nearest ancestor that exists (for missing keys)."""
        for end in range(len(key), -1, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return None

    def error(self, key: KeyPath, message: str) -> InventoryError:
        return InventoryError(self.name, self.line(key), dotted(key), message)


def dotted(key: KeyPath) -> str:
    """The key path as users read it: all.children.mxdrill_primary.hosts.mx1.example.test."""
    return ".".join(key)


def _read(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryError(name, None, "", f"cannot read the inventory: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InventoryError(name, None, "", f"not UTF-8 text (byte {error.start}); save it as UTF-8") from None


def _parse(text: str, source: _Source) -> Any:
    """The document as plain values; fills `source.lines`. YAML errors become InventoryErrors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InventoryError(source.name, None, "", "the file is empty: an inventory starts with all:")
        return _TreeBuilder(loader, source).build(node, ())
    except yaml.MarkedYAMLError as error:
        raise _yaml_error(error, source.name) from None
    except yaml.YAMLError as error:
        raise InventoryError(source.name, None, "", f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def _yaml_error(error: yaml.MarkedYAMLError, name: str) -> InventoryError:
    mark = error.problem_mark or error.context_mark
    words = " ".join(part for part in (error.problem, error.context) if part)
    return InventoryError(name, mark.line + 1 if mark else None, "", f"invalid YAML: {words}")


class _TreeBuilder:
    """Composed YAML nodes -> plain values, recording each key's line and refusing duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, source: _Source) -> None:
        self.loader = loader
        self.source = source
        self.open: set[int] = set()  # nodes being built: a recursive alias would loop forever

    def build(self, node: yaml.Node, key: KeyPath) -> Any:
        if not self.open:
            self.source.lines[()] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.open:
            raise self.source.error(key, "recursive YAML alias")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._entry(str(i), item, item, key) for i, item in enumerate(node.value)]
            return self._mapping(node, key)
        finally:
            self.open.discard(id(node))

    def _entry(self, name: str, mark_node: yaml.Node, value: yaml.Node, parent: KeyPath) -> Any:
        key = (*parent, name)
        self.source.lines[key] = mark_node.start_mark.line + 1
        return self.build(value, key)

    def _mapping(self, node: yaml.MappingNode, key: KeyPath) -> dict[str, Any]:
        self._refuse_duplicates(node, key)
        self.loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults), which Ansible accepts
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = self._name(key_node, key)
            result[name] = self._entry(name, key_node, value_node, key)
        return result

    def _name(self, node: yaml.Node, parent: KeyPath) -> str:
        if not isinstance(node, yaml.ScalarNode):
            line = node.start_mark.line + 1
            raise InventoryError(self.source.name, line, dotted(parent), "expected a plain name as key, got a complex key")
        return str(node.value)

    def _refuse_duplicates(self, node: yaml.MappingNode, parent: KeyPath) -> None:
        """PyYAML keeps the last of two equal keys without a word: a second host would vanish."""
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise InventoryError(
                    self.source.name, line, dotted((*parent, key_node.value)),
                    f"duplicate key, already on line {seen[key_node.value]}: YAML keeps only the last one; merge them",
                )
            seen[key_node.value] = line

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == "!unsafe":  # Ansible's "do not template" marker: a plain string to us
            return node.value
        if node.tag in self.loader.yaml_constructors:
            return self.loader.construct_object(node)
        return _Tagged(node.tag)


# --- the Ansible structure: groups, hosts, vars ---------------------------------------------------

@dataclass
class _Var:
    """One variable as written, with where it was written."""

    value: Any
    key: KeyPath


@dataclass
class _Group:
    name: str
    key: KeyPath  # where first declared
    order: int  # first appearance: siblings apply their vars in file order
    vars: dict[str, _Var] = field(default_factory=dict)
    hosts: dict[str, KeyPath] = field(default_factory=dict)  # direct hosts -> where listed here
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


@dataclass
class _HostEntry:
    name: str
    key: KeyPath  # where first listed
    vars: dict[str, _Var] = field(default_factory=dict)  # merged over all its listings, later wins
    groups: list[str] = field(default_factory=list)  # the groups that list it directly


def _kind(value: Any) -> str:
    """A value as an error message shows it: short, one line, secrets never reach here."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A suggestion for a typo; the shared mxdrill_ prefix is left out so it does not make everything look close."""
    def stem(name: str) -> str:
        return name.removeprefix("mxdrill_")
    by_stem = {stem(choice): choice for choice in choices}
    close = difflib.get_close_matches(stem(word), list(by_stem), n=1, cutoff=0.6)
    return f"; did you mean {by_stem[close[0]]}?" if close else ""


class _Collector:
    """Walks the plain document like Ansible's YAML inventory plugin, into groups and hosts."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _HostEntry] = {}

    def root(self, tree: Any) -> None:
        if not isinstance(tree, dict):
            raise self.source.error((), f"expected a mapping starting with all:, got {_kind(tree)}")
        if "all" not in tree:
            raise self.source.error(("all",), "missing: an Ansible YAML inventory starts with all: (with vars: and children:)")
        for name, body in tree.items():  # groups beside all: are children of all, as in Ansible
            self.group(name, body, (name,), None if name == "all" else "all")

    def group(self, name: str, body: Any, key: KeyPath, parent: str | None) -> None:
        group = self._declare(name, key, parent)
        if body is None:
            return
        if not isinstance(body, dict):
            raise self.source.error(key, f"expected a group (a mapping with hosts, vars or children), got {_kind(body)}")
        for section, value in body.items():
            where = (*key, section)
            if section == "vars":
                self._vars(group.vars, value, where)
            elif section == "hosts":
                self._hosts(group, value, where)
            elif section == "children":
                self._children(group, value, where)
            else:
                hint = _did_you_mean(section, GROUP_SECTIONS)
                raise self.source.error(where, f"unknown key in a group: expected hosts, vars or children{hint}")

    def _declare(self, name: str, key: KeyPath, parent: str | None) -> _Group:
        if name.startswith("mxdrill_") and name not in ROLE_GROUPS:
            hint = _did_you_mean(name, list(ROLE_GROUPS))
            raise self.source.error(key, f"unknown mxdrill group (known: {', '.join(ROLE_GROUPS)}){hint}")
        if parent is not None and (name == parent or parent in self._descendants(name) or name == "all"):
            raise self.source.error(key, f"group cycle: {name} contains {parent} already (Ansible refuses this too)")
        group = self.groups.setdefault(name, _Group(name, key, len(self.groups)))
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

    def _children(self, group: _Group, value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(where, f"expected a mapping of group names (group: then its hosts), got {_kind(value)}")
        for name, body in value.items():
            self.group(name, body, (*where, name), group.name)

    def _hosts(self, group: _Group, value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(
                where, f"expected a mapping of host names (mx1.example.com: then its vars, or nothing), got {_kind(value)}")
        for name, host_vars in value.items():
            key = (*where, name)
            host = self.hosts.setdefault(name, _HostEntry(name, key))
            group.hosts.setdefault(name, key)
            if group.name not in host.groups:
                host.groups.append(group.name)
            if host_vars is not None and not isinstance(host_vars, dict):
                raise self.source.error(key, f"expected the host's vars as a mapping (or nothing), got {_kind(host_vars)}")
            self._vars(host.vars, host_vars, key)

    def _vars(self, into: dict[str, _Var], value: Any, where: KeyPath) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise self.source.error(where, f"expected a mapping of variable names to values, got {_kind(value)}")
        for name, var_value in value.items():
            self._check_var(name, var_value, (*where, name))
            into[name] = _Var(var_value, (*where, name))

    def _check_var(self, name: str, value: Any, key: KeyPath) -> None:
        if name.startswith("mxdrill_") and name not in KNOWN_VARS:
            hint = _did_you_mean(name, KNOWN_MXDRILL_VARS)
            raise self.source.error(key, f"unknown key{hint or ' (known: ' + ', '.join(KNOWN_MXDRILL_VARS) + ')'}")
        if name in KNOWN_VARS and isinstance(value, str) and "{{" in value:
            raise self.source.error(key, "mxdrill does not evaluate Jinja templates: write the value itself")
        if name in KNOWN_VARS and isinstance(value, _Tagged):
            raise self.source.error(key, f"mxdrill cannot read {value.tag} values (no Ansible Vault): write the value itself")


@dataclass
class _Layout:
    """The collected inventory, with Ansible's rules for group membership and variable precedence."""

    groups: dict[str, _Group]
    hosts: dict[str, _HostEntry]

    def depth(self, name: str) -> int:
        """Distance from all (longest path): deeper groups are more specific and win."""
        parents = self.groups[name].parents
        return 1 + max(self.depth(p) for p in parents) if parents else 0

    def ancestry(self, host: _HostEntry) -> list[_Group]:
        """Every group the host is in, directly or through children, least specific first."""
        names: set[str] = {"all"}
        pending = list(host.groups)
        while pending:
            name = pending.pop()
            if name not in names:
                names.add(name)
                pending.extend(self.groups[name].parents)
        return sorted((self.groups[n] for n in names), key=lambda g: (self.depth(g.name), g.order))

    def effective_vars(self, host: _HostEntry) -> dict[str, _Var]:
        """all.vars < group vars (parents before children, siblings in file order) < host vars."""
        merged: dict[str, _Var] = {}
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


# --- roles ------------------------------------------------------------------------------------------

def _role_members(layout: _Layout, source: _Source) -> dict[str, dict[str, KeyPath]]:
    """Role group -> {host: where listed}, checked: one primary, some backups, at most one of the rest."""
    roles = {group: layout.members(group) if group in layout.groups else {} for group in ROLE_GROUPS}
    _require_group(layout, source, "mxdrill_primary", "the primary MX (the one the drill stops)")
    _require_group(layout, source, "mxdrill_backup", "a backup MX (one that must take the mail)")
    for group in ("mxdrill_primary", *OPTIONAL_ROLES):
        _at_most_one(roles[group], group, source)
    primary = next(iter(roles["mxdrill_primary"]))
    if primary in roles["mxdrill_backup"]:
        raise source.error(roles["mxdrill_backup"][primary],
                           f"{primary} is the primary already: a host is either primary or backup, not both")
    return roles


def _require_group(layout: _Layout, source: _Source, name: str, what: str) -> None:
    if name not in layout.groups:
        raise source.error((*ALL_CHILDREN, name), f"missing: add a group {name} under all.children with {what} in its hosts")
    if not layout.members(name):
        where = dotted((*layout.groups[name].key, "hosts"))
        raise source.error(layout.groups[name].key, f"no host: add {what} under {where}")


def _at_most_one(members: dict[str, KeyPath], group: str, source: _Source) -> None:
    if len(members) > 1:
        first, second = list(members)[:2]
        raise source.error(members[second], f"{group} takes exactly one host and has {first} already")


# --- validation and assembly -----------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)

def _validate(model: type[_M], variables: dict[str, _Var], source: _Source, missing_at: KeyPath) -> _M:
    """Validate variables with a pydantic model; the first error becomes an InventoryError at its variable."""
    try:
        return model.model_validate({name: var.value for name, var in variables.items()})
    except ValidationError as error:
        raise _explain(error.errors()[0], variables, source, missing_at) from None


def _explain(error: Any, variables: dict[str, _Var], source: _Source, missing_at: KeyPath) -> InventoryError:
    """Map a pydantic error back to the variable's key path and say what was expected."""
    loc = error["loc"]
    name = str(loc[0])
    items = tuple(str(part) for part in loc[1:] if isinstance(part, int))
    var = variables.get(name)
    key = (*(var.key if var else (*missing_at, name)), *items)
    if error["type"] == "missing":
        return source.error(key, f"missing: {REQUIRED.get(name, 'required')}")
    if error["type"] == "value_error":
        return source.error(key, str(error["ctx"]["error"]))
    hint = ITEM_HINTS.get(name, HINTS[name]) if items else HINTS[name]
    got = "something else (not shown: it is a secret)" if name in SECRET_VARS else _kind(error["input"])
    return source.error(key, f"expected {hint}, got {got}")


def _local_path(value: str, base: Path) -> Path:
    """A path on this machine: ~ expanded, relative paths taken from the inventory's directory."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _build_host(name: str, roles: frozenset[str], v: _HostVars, base: Path) -> Host:
    key_file = v.ansible_ssh_private_key_file
    ssh = SshSettings(
        user=v.ansible_user, port=v.ansible_port, sudo=v.ansible_become,
        key_file=_local_path(key_file, base) if key_file else None,
        known_hosts=_local_path(v.mxdrill_known_hosts, base),
        password=v.ansible_password or v.ansible_ssh_pass,
    )
    service = ServiceControl(stop=v.mxdrill_service_stop, start=v.mxdrill_service_start, status=v.mxdrill_service_status)
    return Host(
        name=name, address=v.ansible_host or name, roles=roles, ssh=ssh, service=service,
        mail_log=v.mxdrill_mail_log, mailbox_base=v.mxdrill_mailbox_base,
        mx_priority=v.mxdrill_mx_priority, export=v.mxdrill_export,
    )


@dataclass
class _Loaded:
    """One role host during loading: its model, its effective vars and where it is listed as an MX."""

    host: Host
    variables: dict[str, _Var]
    listed: KeyPath

    def key_of(self, var: str) -> KeyPath:
        """Where `var` was set for this host, or where it should be set when it was not."""
        found = self.variables.get(var)
        return found.key if found else (*self.listed, var)


def _check_mx_priorities(primary: _Loaded, backups: list[_Loaded], source: _Source) -> None:
    for mx in (primary, *backups):
        if mx.host.mx_priority is None:
            raise source.error(mx.key_of("mxdrill_mx_priority"),
                               "missing: every MX needs mxdrill_mx_priority, its MX preference in DNS (e.g. 10)")
    for backup in backups:
        if backup.host.mx_priority <= primary.host.mx_priority:  # type: ignore[operator]
            raise source.error(
                backup.key_of("mxdrill_mx_priority"),
                f"a backup needs a greater MX priority than the primary {primary.host.name} "
                f"({primary.host.mx_priority}), got {backup.host.mx_priority}: senders try the lowest first",
            )


def _address_key(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower().removesuffix(".")


def _check_distinct_addresses(mxs: list[_Loaded], source: _Source) -> None:
    """The drill tells the MXs apart by address; two MXs on one address cannot be told apart."""
    owners: dict[str, str] = {}
    for mx in mxs:
        address = _address_key(mx.host.address)
        if address in owners:
            raise source.error(mx.key_of("ansible_host"),
                               f"address {mx.host.address} is {owners[address]}'s already: each MX needs its own "
                               "(a shared virtual address goes in mxdrill_vip)")
        owners[address] = mx.host.name


def _check_domain_vars_agree(primary: _Loaded, others: list[_Loaded], source: _Source) -> None:
    """Domain-wide settings come from the primary: another host saying otherwise is a mistake."""
    for other in others:
        for name in sorted(DOMAIN_VARS & other.variables.keys()):
            mine, theirs = primary.variables.get(name), other.variables[name]
            if mine is None or mine.value != theirs.value:
                shown = _kind(mine.value) if mine else "nothing"
                raise source.error(theirs.key, f"{name} is domain-wide and taken from the primary "
                                               f"{primary.host.name}, which has {shown}: set it once in all.vars")


def _declared_paths(loaded: dict[str, _Loaded], source: _Source) -> dict[tuple[str, str], tuple[str, int | None]]:
    declared = {}
    for name, item in loaded.items():
        for var in ("ansible_ssh_private_key_file", "mxdrill_known_hosts"):
            key = item.key_of(var)
            declared[(name, var)] = (dotted(key), source.line(key))
    return declared


def load_inventory(path: str | Path) -> Inventory:
    """Load, validate and resolve an inventory; raise InventoryError (file:line: key: message) if broken."""
    source = _Source(str(path))
    collector = _Collector(source)
    collector.root(_parse(_read(Path(path), source.name), source))
    layout = _Layout(collector.groups, collector.hosts)
    members = _role_members(layout, source)
    base = Path(path).absolute().parent

    loaded: dict[str, _Loaded] = {}
    for name, entry in layout.hosts.items():
        roles = frozenset(ROLE_GROUPS[g] for g, hosts in members.items() if name in hosts)
        if not roles:
            continue  # one of the user's own Ansible hosts
        variables = layout.effective_vars(entry)
        listed = next(hosts[name] for g, hosts in members.items() if name in hosts)
        settings = _validate(_HostVars, variables, source, listed)
        loaded[name] = _Loaded(_build_host(name, roles, settings, base), variables, listed)

    primary = loaded[next(iter(members["mxdrill_primary"]))]
    backups = [loaded[name] for name in members["mxdrill_backup"]]
    domain = _validate(_DomainVars, primary.variables, source, ALL_VARS)
    _check_domain_vars_agree(primary, [h for h in loaded.values() if h is not primary], source)
    _check_mx_priorities(primary, backups, source)
    _check_distinct_addresses([primary, *backups], source)

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
