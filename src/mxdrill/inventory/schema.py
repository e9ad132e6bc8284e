"""mxdrill's vocabulary in an inventory: its groups, and every `mxdrill_*` / `ansible_*` variable it reads.

Each variable is declared once, as a field of `HostVars` or `DomainVars` named like the variable: the
annotation is its type, the field's default its default (none: the variable is required), and the
field carries the words its errors use: the hint ("expected <hint>, got ..."), the hint for one item of
a list, what to do when a required one is missing, and whether the value is a secret that an error must
never echo. The tables the rest of the loader consults (HINTS, REQUIRED, KNOWN_VARS...) are read back
from the models, so a new variable is one new field and nothing else.

Well typed is not enough: a value can be of the right type and still wrong in a way that matters
when a drill stops a production primary. So recipients are read strictly (one plain address, in the
domain under test: `a@x.example,b@example.test` or `x@evil.example>@example.test` would send probes
elsewhere); host names and addresses are names or IP addresses, never `mx1;touch x`, never a control
or bidi-override character that would make a plan line read differently from what runs; seconds
have a sane range per variable (1e300 is not a timeout, 1e-300 not a deadline); and a maintenance
window that starts when it ends never opens.

Field names are the variable names so that a pydantic error's `loc` names the variable to blame;
`validate` turns that error into an InventoryError at the variable's own line.

No `from __future__ import annotations` here: pydantic reads these annotations at runtime.
"""

import ipaddress
import re
import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
)
from pydantic.fields import FieldInfo

from mxdrill.inventory import ssh_args
from mxdrill.inventory.ansible import Var
from mxdrill.inventory.source import InventoryError, KeyPath, Source, Tagged, describe, did_you_mean

ROLE_GROUPS: dict[str, str] = {
    "mxdrill_primary": "primary",
    "mxdrill_backup": "backup",
    "mxdrill_storage": "storage",
    "mxdrill_mailstore": "mailstore",
    "mxdrill_userdb": "userdb",
    "mxdrill_dns": "dns",
    "mxdrill_sender": "sender",
}
"""Ansible group name -> the role its hosts play in a drill."""

# mxdrill_mailstore: the internal mail store the MXs relay to (seed 003 Scénario 3), whose Dovecot holds the mailboxes
# mxdrill_userdb: the database the MXs look their domains and users up in (seed 003 Scénario 2: MySQL/MariaDB)
OPTIONAL_ROLES = ("mxdrill_storage", "mxdrill_mailstore", "mxdrill_userdb", "mxdrill_dns", "mxdrill_sender")


# --- value checks: each says what it expected and what it got ------------------------------------

LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")  # inventory names may hold _, DNS names may not
LOCAL_PART = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder how a line reads (Trojan Source): never in a command or a path of ours."""


def _dns_name(value: str) -> str:
    name = value.lower().removesuffix(".")
    if len(name) > 253 or not all(LABEL.match(part) for part in name.split(".")):
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
    return _no_control(value, allow="")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return _no_control(value)


def _no_control(value: str, allow: str = "\t\n") -> str:
    """Refuse characters that hide what a value says: control characters (NUL, ESC...; a command may
    span lines and hold tabs, a path may not) and bidi overrides."""
    for character in value:
        if character in BIDI_CONTROLS or (unicodedata.category(character) == "Cc" and character not in allow):
            raise ValueError(f"{value!r} holds the character U+{ord(character):04X}, which hides what the value says: "
                             "remove it")
    return value


def host_name_problem(value: str) -> str | None:
    """Why `value` is no host name or IP address (an inventory name, ansible_host), or None if it is one."""
    try:
        ipaddress.ip_address(value.split("%", 1)[0] if ":" in value else value)  # fe80::1%eth0
        return None
    except ValueError:
        pass
    name = value.removesuffix(".")
    if 0 < len(name) <= 253 and all(HOST_LABEL.match(label) for label in name.split(".")):
        return None
    return (f"expected a host name (letters, digits, - and _, in labels separated by dots; an IDN in its xn-- "
            f"form) or an IP address, got {value!r}")


def _address(value: str) -> str:
    problem = host_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _recipient(value: str, info: ValidationInfo) -> str:
    """One plain address in the domain under test: mxdrill must never send probes anywhere else, so
    nothing a mail parser might read as a second address or a route (`,` `<>` `%` quotes) is taken."""
    local, at, domain = value.partition("@")
    if not at or len(local) > 64 or not LOCAL_PART.match(local) or "@" in domain:
        raise ValueError(f"expected an e-mail address such as probe@example.com (one address; before the @ only "
                         f"letters, digits and . _ + -), got {value!r}")
    try:
        name = _dns_name(domain)
    except ValueError:
        raise ValueError(f"expected an e-mail address such as probe@example.com, got {value!r}: "
                         f"{domain!r} is no DNS name") from None
    expected = info.data.get("mxdrill_domain")
    if expected is not None and name != expected:
        raise ValueError(f"{value!r} is not in mxdrill_domain {expected!r}: probes go to the domain under test only"
                         + (info.context or {}).get(RECIPIENTS_HINT, ""))
    return value


RECIPIENTS_HINT = "recipients_hint"
"""The validation context's key for words to add to a recipient outside its domain: in a fleet, a
domain group that sets mxdrill_domain but not mxdrill_recipients inherits another domain's."""


def _maintenance_window(value: str) -> str:
    """'always' (a lab, a test bed) or a daily UTC window 'HH:MM-HH:MM' (may wrap past midnight)."""
    if value == "always":
        return value
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"expected 'always' or a daily UTC window such as '22:00-02:00', got {value!r}")
    start, end = value.split("-")
    if start == end:
        raise ValueError(f"the window {value!r} never opens (it ends when it starts): give two different times, "
                         "or 'always' for a lab")
    return value


def seconds(low: float, high: float) -> Any:
    """A number of seconds in [low, high]: a timeout of 1e300 s never ends, one of 1e-300 s never begins."""
    return Annotated[float, Field(ge=low, le=high, strict=True, allow_inf_nan=False)]


def seconds_hint(low: float, high: float, what: str) -> str:
    return f"a positive number of seconds, {low:g} to {high:g} ({what})"


HOUR, DAY = 3600.0, 86400.0
SECONDS_RANGES: dict[str, tuple[float, float, str]] = {
    "mxdrill_command_timeout": (0.1, HOUR, "1 hour"),
    "mxdrill_mta_settle": (0.1, HOUR, "1 hour"),
    "mxdrill_drain_deadline": (0.1, DAY, "1 day"),
    "mxdrill_deadman_window": (1.0, DAY, "1 day"),
    "mxdrill_drill_deadline": (1.0, 7 * DAY, "1 week"),
    "mxdrill_min_queue_lifetime": (1.0, 365 * DAY, "1 year"),
}
"""Each seconds variable's range, and how its hint names the upper end."""


def _seconds(name: str, default: float, hint: str = "") -> Any:
    low, high, words = SECONDS_RANGES[name]
    return variable(default, hint=seconds_hint(low, high, words) + hint)


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
Address = Annotated[StrictStr, AfterValidator(_address)]
LocalPath = Annotated[StrictStr, AfterValidator(_not_blank), AfterValidator(lambda v: _no_control(v, allow=""))]
IpAddress = Annotated[StrictStr, AfterValidator(_ip_address)]
RemotePath = Annotated[StrictStr, AfterValidator(_absolute)]
Secret = Annotated[SecretStr, Field(strict=True)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
Priority = Annotated[StrictInt, Field(ge=0, le=65535)]
Recipients = Annotated[list[Annotated[StrictStr, AfterValidator(_recipient)]], Field(min_length=1)]
DnsName = Annotated[StrictStr, AfterValidator(_dns_name)]
Window = Annotated[StrictStr, AfterValidator(_maintenance_window)]
SshArgs = Annotated[StrictStr, AfterValidator(ssh_args.check)]


# --- the declarations ------------------------------------------------------------------------------

def variable(default: Any = ..., *, hint: str, item_hint: str | None = None,
             missing: str | None = None, secret: bool = False) -> Any:
    """A variable's field: its default (leave it out for a required variable) and the words of its errors.

    `hint` completes "expected ..., got ..."; `item_hint` does the same for one item of a list;
    `missing` tells a user what to set when a required variable is absent; `secret` keeps the value
    out of every message.
    """
    if not hint.strip():
        raise ValueError("every variable needs a hint: its errors say 'expected <hint>'")
    if default is ... and not missing:
        raise ValueError("a required variable needs a `missing` message saying what to set")
    extra: dict[str, Any] = {"item_hint": item_hint, "missing": missing, "secret": secret or None}
    return Field(default, description=hint, json_schema_extra={k: v for k, v in extra.items() if v is not None})


class HostVars(BaseModel):
    """The per-host variables, named as in the inventory so that a pydantic `loc` is a variable name."""

    model_config = ConfigDict(extra="ignore")

    ansible_host: Address | None = variable(None, hint="a host name or an IP address")
    ansible_port: Port = variable(22, hint="an integer 1-65535")
    ansible_user: Text = variable("root", hint="a user name")
    ansible_ssh_private_key_file: LocalPath | None = variable(None, hint="the path of an SSH private key")
    ansible_become: StrictBool = variable(False, hint="true or false (a YAML boolean, unquoted)")
    ansible_password: Secret | None = variable(None, hint="a string (quote it in YAML)", secret=True)
    ansible_ssh_pass: Secret | None = variable(None, hint="a string (quote it in YAML)", secret=True)
    # only their ProxyJump / -J / ProxyCommand is read; ssh_args says why
    ansible_ssh_common_args: SshArgs | None = variable(None, hint="ssh arguments as one string, e.g. '-o ProxyJump=bastion'")
    ansible_ssh_extra_args: SshArgs | None = variable(None, hint="ssh arguments as one string, e.g. '-J bastion'")
    mxdrill_known_hosts: LocalPath = variable("~/.ssh/known_hosts", hint="the path of a known_hosts file")
    mxdrill_mailbox_base: RemotePath = variable("/var/mail/vhosts", hint="an absolute path on the host")
    mxdrill_mail_log: RemotePath = variable("/var/log/mail.log", hint="an absolute path on the host")
    mxdrill_log_source: Literal["auto", "file", "journald"] = variable(
        "auto", hint="auto (the mail log file if it is being written, else the journal), file or journald")
    # left out: the Postfix unit is found on the host (postfix@-.service on Debian), or `postfix stop|start`
    mxdrill_service_stop: Text | None = variable(None, hint="a shell command")
    mxdrill_service_start: Text | None = variable(None, hint="a shell command")
    # ask Postfix itself: systemd says "active" too early
    mxdrill_service_status: Text = variable("postfix status", hint="a shell command")
    mxdrill_mx_priority: Priority | None = variable(None, hint="an integer 0-65535")
    mxdrill_export: Text | None = variable(None, hint="the exported path, as a string")


class DomainVars(BaseModel):
    """Variables about the domain under test, read from the primary's effective vars (all.vars)."""

    model_config = ConfigDict(extra="ignore")

    mxdrill_domain: DnsName = variable(
        hint="a DNS name such as example.com",
        missing="set mxdrill_domain (the mail domain under test, e.g. example.com) in all.vars "
                "or in group_vars/all.yml beside the inventory")
    mxdrill_recipients: Recipients = variable(  # after mxdrill_domain: each recipient is checked against it
        hint="a non-empty list of e-mail addresses, e.g. [probe@example.com]",
        item_hint="an e-mail address such as probe@example.com",
        missing="set mxdrill_recipients (e.g. [probe@example.com], addresses in mxdrill_domain) in all.vars "
                "or in group_vars/all.yml beside the inventory")
    mxdrill_nameserver: IpAddress | None = variable(None, hint="an IP address, or nothing for the system resolver")
    mxdrill_mailbox_format: Literal["maildir"] = variable("maildir", hint="maildir (the only mailbox format mxdrill reads)")
    mxdrill_storage_fstype: Text = variable("nfs4", hint="a file system type such as nfs4 or fuse.sshfs")
    mxdrill_vip: IpAddress | None = variable(None, hint="an IP address")
    mxdrill_keep_probes: StrictBool = variable(False, hint="true or false (a YAML boolean, unquoted)")
    mxdrill_command_timeout: seconds(*SECONDS_RANGES["mxdrill_command_timeout"][:2]) = _seconds(
        "mxdrill_command_timeout", 30.0)
    mxdrill_drain_deadline: seconds(*SECONDS_RANGES["mxdrill_drain_deadline"][:2]) = _seconds(
        "mxdrill_drain_deadline", 120.0)
    # how long the harness waits for the MTA to stop (and to start again) before calling it broken
    mxdrill_mta_settle: seconds(*SECONDS_RANGES["mxdrill_mta_settle"][:2]) = _seconds("mxdrill_mta_settle", 30.0)
    mxdrill_maintenance_window: Window | None = variable(
        None, hint="'always' (a lab) or a daily UTC window such as '22:00-02:00'")
    # checks.check_timing relates these two to the drain deadline and the MTA settle time
    mxdrill_deadman_window: seconds(*SECONDS_RANGES["mxdrill_deadman_window"][:2]) = _seconds(
        "mxdrill_deadman_window", 300.0)
    mxdrill_drill_deadline: seconds(*SECONDS_RANGES["mxdrill_drill_deadline"][:2]) = _seconds(
        "mxdrill_drill_deadline", 900.0)
    # the preflight's thresholds (issue 12): what the seeds advise, each overridable per domain
    mxdrill_min_mx_ttl: Annotated[StrictInt, Field(ge=0, le=7 * 86400)] = variable(
        3600, hint="a TTL in seconds, 0 to 604800 (seed 003 advises at least 3600)")
    mxdrill_min_queue_lifetime: seconds(*SECONDS_RANGES["mxdrill_min_queue_lifetime"][:2]) = _seconds(
        "mxdrill_min_queue_lifetime", 5 * DAY, " (Postfix's default, 5 days: a queueing backup must keep mail that long)")
    # the CA the MXs' certificates chain to (PEM); left out: this machine's trust store
    mxdrill_tls_ca: LocalPath | None = variable(None, hint="the path of a PEM file of CA certificates")
    mxdrill_cert_min_days: Annotated[StrictInt, Field(ge=0, le=3650)] = variable(
        21, hint="a number of days, 0 to 3650 (a certificate expiring sooner is a warning)")


# --- the tables, read back from the declarations ----------------------------------------------------

VAR_MODELS: tuple[type[BaseModel], ...] = (HostVars, DomainVars)
FIELDS: dict[str, FieldInfo] = {name: info for model in VAR_MODELS for name, info in model.model_fields.items()}


def _extra(info: FieldInfo, key: str) -> Any:
    extra = info.json_schema_extra
    return extra.get(key) if isinstance(extra, dict) else None


DOMAIN_VARS = frozenset(DomainVars.model_fields)
KNOWN_VARS = frozenset(FIELDS)
KNOWN_MXDRILL_VARS = sorted(v for v in KNOWN_VARS if v.startswith("mxdrill_"))
SECRET_VARS = frozenset(name for name, info in FIELDS.items() if _extra(info, "secret"))
HINTS: dict[str, str] = {name: str(info.description) for name, info in FIELDS.items()}
ITEM_HINTS: dict[str, str] = {name: _extra(info, "item_hint") for name, info in FIELDS.items() if _extra(info, "item_hint")}
REQUIRED: dict[str, str] = {name: _extra(info, "missing") for name, info in FIELDS.items() if info.is_required()}
BOOL_VARS = frozenset(name for name, info in FIELDS.items() if info.annotation is bool)

ANSIBLE_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
ANSIBLE_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})
"""The strings Ansible's `boolean()` takes: what `ansible_become=true` means in an INI inventory."""


def default(name: str) -> Any:
    """The default of an optional variable, for a model that needs the same default without declaring it again."""
    return FIELDS[name].default


# --- refusing names and values while the inventory is read --------------------------------------------

def vet_group(source: Source, name: str, key: KeyPath) -> None:
    """mxdrill_* groups are ours: a misspelt one would silently take a role's hosts away."""
    if name.startswith("mxdrill_") and name not in ROLE_GROUPS:
        hint = did_you_mean(name, list(ROLE_GROUPS))
        raise source.error(key, f"unknown mxdrill group (known: {', '.join(ROLE_GROUPS)}){hint}")


def vet_var(source: Source, name: str, value: Any, key: KeyPath) -> None:
    """mxdrill_* variables are ours, and ours are read literally: no Jinja, no Ansible Vault."""
    if name.startswith("mxdrill_") and name not in KNOWN_VARS:
        hint = did_you_mean(name, KNOWN_MXDRILL_VARS)
        raise source.error(key, f"unknown key{hint or ' (known: ' + ', '.join(KNOWN_MXDRILL_VARS) + ')'}")
    if name in KNOWN_VARS and _holds_jinja(value):
        raise source.error(key, "mxdrill does not evaluate Jinja templates: write the value itself")
    if name in KNOWN_VARS and isinstance(value, Tagged):
        raise source.error(key, f"mxdrill cannot read {value.tag} values (no Ansible Vault): write the value itself")


def _holds_jinja(value: Any) -> bool:
    """A template anywhere in the value: `{{ x }}` in a string, or in an item of a list (INI or YAML)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(_holds_jinja(item) for item in value)
    return False


# --- validation ---------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], variables: dict[str, Var], source: Source, missing_at: KeyPath,
             context: dict[str, str] | None = None) -> _M:
    """Validate variables with a pydantic model; the first error becomes an InventoryError at its variable
    (in the file that set it), or at `missing_at` in the inventory `source` for a missing one.
    `context` reaches the validators (see RECIPIENTS_HINT)."""
    try:
        return model.model_validate({name: _value(name, var) for name, var in variables.items()}, context=context)
    except ValidationError as error:
        raise _explain(error.errors()[0], variables, source, missing_at) from None


def _value(name: str, var: Var) -> Any:
    """The value as written, except that INI has no booleans but Python's True: there, a boolean
    variable takes the strings Ansible takes (`ansible_become=yes`), as Ansible does."""
    if var.source.syntax == "ini" and name in BOOL_VARS and isinstance(var.value, str):
        word = var.value.lower()
        if word in ANSIBLE_TRUE or word in ANSIBLE_FALSE:
            return word in ANSIBLE_TRUE
    return var.value


def _explain(error: Any, variables: dict[str, Var], source: Source, missing_at: KeyPath) -> InventoryError:
    """Map a pydantic error back to the variable's key path and say what was expected."""
    loc = error["loc"]
    name = str(loc[0])
    items = tuple(str(part) for part in loc[1:] if isinstance(part, int))
    var = variables.get(name)
    if var is None:
        where, key = source, (*missing_at, name, *items)
    else:
        where, key = var.source, (*var.key, *items)
    if error["type"] == "missing":
        return where.error(key, f"missing: {REQUIRED.get(name, 'required')}")
    if error["type"] == "value_error":
        return where.error(key, str(error["ctx"]["error"]))
    hint = ITEM_HINTS.get(name, HINTS[name]) if items else HINTS[name]
    got = "something else (not shown: it is a secret)" if name in SECRET_VARS else describe(error["input"])
    advice = INI_ADVICE.get(error["type"], "") if where.syntax == "ini" else ""
    return where.error(key, f"expected {hint}, got {got}{advice}")


INI_ADVICE = {
    "list_type": " (in INI, write a Python list: ['probe@example.com'])",
    "bool_type": " (in INI: true, false, yes or no)",
}
"""What to add to a type error in an INI inventory, where values are Python literals, not YAML."""
