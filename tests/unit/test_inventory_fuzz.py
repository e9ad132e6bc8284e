"""Property: any inventory at all either loads or is refused as one `InventoryError` line, quickly.

A drill that stops a production primary starts by reading the inventory, so the loader must never
answer with a traceback, a hang or a memory blow-up, whatever it is given. Hypothesis generates
inventories from the schema — the reference hosts.yml with every mxdrill variable set to values the
schema takes (these must load) — and then mutates them: values of the wrong type, huge and tiny
numbers, odd strings, PyYAML tags (`!!int`, `!!bool maybe`, `!vault`), anchors and aliases, NULs and
control and bidi characters anywhere in the text, lines deleted, duplicated or swapped, in YAML, in
group_vars/host_vars files and in the INI format. Each example must load or raise InventoryError
whose text is one line starting with a file of the inventory; any other exception fails the test as
it is. `deadline=2000` makes an example that takes over 2 s a failure (Hypothesis measures it).

The 1000 examples (about 10 s) are derandomized, so CI runs the same ones every time; set
MXDRILL_FUZZ_RANDOM=1 to explore new ones, MXDRILL_FUZZ_EXAMPLES=N for more of them
(benchmarks/fuzz_inventory.py measures the loader over hostile files too: FIFOs, /dev/zero...).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxdrill.inventory import InventoryError, check_files, load_inventory
from mxdrill.inventory import schema
from mxdrill.inventory.checks import window_needed

REFERENCE = (Path(__file__).resolve().parents[2] / "hosts.yml").read_text()
REFERENCE_DATA = yaml.safe_load(REFERENCE)

FUZZ = settings(
    max_examples=int(os.environ.get("MXDRILL_FUZZ_EXAMPLES", "1000")), deadline=2000, database=None, derandomize=not os.environ.get("MXDRILL_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- valid values, from the schema ----------------------------------------------------------------

TIMING = ("mxdrill_drain_deadline", "mxdrill_mta_settle", "mxdrill_deadman_window", "mxdrill_drill_deadline")
PER_HOST = ("ansible_host", "mxdrill_mx_priority", "mxdrill_export")  # differ per host: the reference sets them
VALID_EXAMPLES: dict[str, list[Any]] = {
    "ansible_port": [1, 22, 2222, 65535],
    "ansible_user": ["root", "deploy", "mx-admin"],
    "ansible_ssh_private_key_file": [".lab/ssh/id_ed25519", "~/.ssh/id_ed25519", "/etc/mxdrill/key"],
    "ansible_become": [True, False],
    "ansible_password": ["s3cret", "pass word"],
    "ansible_ssh_pass": ["s3cret"],
    "ansible_ssh_common_args": ["-o ProxyJump=bastion", "-o StrictHostKeyChecking=no", "-o ProxyCommand='ssh -W %h:%p b'"],
    "ansible_ssh_extra_args": ["-J admin@bastion:2222", "-v"],
    "mxdrill_known_hosts": ["~/.ssh/known_hosts", ".lab/ssh/known_hosts"],
    "mxdrill_mailbox_base": ["/var/mail/vhosts", "/srv/mail"],
    "mxdrill_mail_log": ["/var/log/mail.log", "/var/log/maillog"],
    "mxdrill_log_source": ["auto", "file", "journald"],
    "mxdrill_service_stop": ["systemctl stop postfix", "service postfix stop", "postfix stop\nsleep 1"],
    "mxdrill_service_start": ["systemctl start postfix", "postfix start"],
    "mxdrill_service_status": ["postfix status", "systemctl is-active postfix"],
    "mxdrill_domain": ["example.test"],
    "mxdrill_recipients": [["probe@example.test"], ["a@example.test", "b.c+drill@Example.TEST"]],
    "mxdrill_nameserver": ["192.0.2.53", "2001:db8::53"],
    "mxdrill_mailbox_format": ["maildir"],
    "mxdrill_storage_fstype": ["nfs4", "fuse.sshfs"],
    "mxdrill_vip": ["198.51.100.10", "2001:db8::10"],
    "mxdrill_keep_probes": [True, False],
    "mxdrill_command_timeout": [0.1, 5, 30.0, 3600],
    "mxdrill_maintenance_window": ["always", "22:00-02:00", "00:00-23:59"],
    "mxdrill_min_mx_ttl": [0, 300, 3600, 86400],
    "mxdrill_min_queue_lifetime": [1.0, 432000, 864000.5],
    "mxdrill_tls_ca": [".lab/tls/ca.pem", "/etc/ssl/certs/ca-certificates.crt", "~/ca.pem"],
    "mxdrill_cert_min_days": [0, 21, 3650],
}
"""Values each variable takes; the timing variables are drawn together, so that they fit."""


def test_every_variable_of_the_schema_has_valid_examples() -> None:
    assert set(VALID_EXAMPLES) | set(TIMING) | set(PER_HOST) == schema.KNOWN_VARS


@st.composite
def timing(draw: st.DrawFn) -> dict[str, float]:
    drain = draw(st.sampled_from([0.1, 2, 60, 120, 3600]))
    settle = draw(st.sampled_from([0.1, 2, 30, 600]))
    window = window_needed(drain, settle) + draw(st.sampled_from([0.5, 1, 100]))
    return {"mxdrill_drain_deadline": drain, "mxdrill_mta_settle": settle, "mxdrill_deadman_window": window,
            "mxdrill_drill_deadline": window + settle + drain + draw(st.sampled_from([0, 1, 1000]))}


@st.composite
def valid_inventory(draw: st.DrawFn) -> dict[str, Any]:
    """The reference with some of the schema's variables set in all.vars to values it takes."""
    data = json.loads(json.dumps(REFERENCE_DATA))
    names = draw(st.lists(st.sampled_from(sorted(VALID_EXAMPLES)), unique=True, max_size=8))
    chosen = {name: draw(st.sampled_from(VALID_EXAMPLES[name])) for name in names}
    if draw(st.booleans()):
        chosen |= draw(timing())
    data["all"]["vars"].update(chosen)
    return data


# --- mutations ---------------------------------------------------------------------------------------

ODD_YAML = [
    "!!int abc", "!!float x", "!!bool maybe", "!!int 0x", "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162", "!!timestamp x",
    "2020-13-45", "2001-02-29", "!!binary AAAA", "!!set {a}", "!!omap [a]", "!!python/object:os.system x", "!unsafe x",
    "*nowhere", "&a [*a]", "&b {x: *b}", "{<<: 3}", "{<<: [1]}", ".nan", ".inf", "-.inf", "0x10", "0o17", "1_000", "~", "",
    "'22:00-22:00'", "'probe@example.com,probe@example.test'", "'x@evil.example>@example.test'", "'mx1;touch x'",
    "'{{ x }}'", "[[[[]]]]", "{a: {b: {c: [1, {d: 2}]}}}", "? [a]\n: b", "|\n  two\n  lines", "'\u202e'", '"\\0"', '"\\e"',
]
ODD_INI = [
    "three", "0", "-3", "1e300", "1e-300", "[" * 50, "{[1]: 2}", "'\\x00'", "mx1;touch", "True", "None", "[]", "{}",
    "...", "1j", "b'x'", "{1,2}", "'22:00-22:00'", "['x@evil.example>@example.test']", "-" * 300 + "1", "'a' 'b'", '"',
]
NASTY_CHARACTERS = st.sampled_from(["\0", "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "\ufffe",
                                    "\t", "\r", "\n", ":", "-", "[", "{", "&", "*", "!", "|", "'", '"', "#", "%", "@"])


def yaml_scalar() -> st.SearchStrategy[str]:
    """A value as YAML text: odd snippets, numbers of any size, any string double-quoted or bare."""
    return st.one_of(
        st.sampled_from(ODD_YAML),
        st.integers(min_value=-10**400, max_value=10**400).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(str(f), repr(f))),
        st.text(max_size=40).map(lambda t: json.dumps(t)),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=10).map(json.dumps),
    )


def set_var(text: str, name: str, value: str) -> str:
    """`name: value` in all.vars: replacing the reference's line if it has one, else added first."""
    lines = text.splitlines()
    line = f"    {name}: {value}"
    for index, existing in enumerate(lines):
        if existing.startswith(f"    {name}:"):
            lines[index] = line
            return "\n".join(lines) + "\n"
    index = lines.index("  vars:")
    return "\n".join([*lines[:index + 1], line, *lines[index + 1:]]) + "\n"


@st.composite
def mutate_lines(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines() or [""]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["character", "delete", "duplicate", "swap", "truncate", "anchor"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "character":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(NASTY_CHARACTERS | st.characters()) + lines[i][at:]
        elif kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "truncate":
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        elif ":" in lines[i]:
            lines[i] = lines[i].replace(":", draw(st.sampled_from([": &x", ": *x", ": !!str", ": !vault", ": <<"])), 1)
    return "\n".join(lines) + "\n"


def to_ini(data: dict[str, Any]) -> str:
    """The reference in Ansible's INI format: all.vars as [all:vars], each role group a section."""
    lines = ["[all:vars]", *(f"{name}={value!r}" if not isinstance(value, str) else f"{name}={value}"
                             for name, value in data["all"]["vars"].items() if "\n" not in str(value))]
    for group, body in data["all"]["children"].items():
        lines.append(f"[{group}]")
        for host, host_vars in body["hosts"].items():
            lines.append(" ".join([host, *(f"{k}={v}" for k, v in (host_vars or {}).items())]))
    return "\n".join(lines) + "\n"


@st.composite
def inventory_files(draw: st.DrawFn) -> tuple[dict[str, str], bool]:
    """(files to write, whether they must load): a valid inventory, then most often a mutation of it."""
    data = draw(valid_inventory())
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    kind = draw(st.sampled_from(["valid", "value", "value", "lines", "group_vars", "host_vars", "ini", "ini-value", "ini-lines"]))
    name = draw(st.sampled_from(sorted(schema.KNOWN_VARS | {"site_var", "ansible_group_priority", "mxdrill_unknown"})))
    if kind == "valid":
        return {"hosts.yml": text}, True
    if kind == "value":
        return {"hosts.yml": set_var(text, name, draw(yaml_scalar()))}, False
    if kind == "lines":
        return {"hosts.yml": draw(mutate_lines(text))}, False
    if kind in ("group_vars", "host_vars"):
        where = "group_vars/all.yml" if kind == "group_vars" else "host_vars/mx1.example.test.yml"
        body = f"{name}: {draw(yaml_scalar())}\n"
        return {"hosts.yml": text, where: draw(mutate_lines(body)) if draw(st.booleans()) else body}, False
    ini = to_ini(data)
    if kind == "ini":
        return {"hosts.ini": ini}, True
    if kind == "ini-value":
        return {"hosts.ini": ini.replace("[all:vars]\n", f"[all:vars]\n{name}={draw(st.sampled_from(ODD_INI) | st.text(max_size=30))}\n", 1)}, False
    return {"hosts.ini": draw(mutate_lines(ini))}, False


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return directory / next(iter(files))


# --- the property ------------------------------------------------------------------------------------

@FUZZ
@given(inventory_files())
def test_any_inventory_loads_or_is_one_error_line(case: tuple[dict[str, str], bool]) -> None:
    files, must_load = case
    with tempfile.TemporaryDirectory(prefix="mxdrill-fuzz-") as tmp:
        path = write(Path(tmp), files)
        try:
            inventory = load_inventory(path)
        except InventoryError as error:
            assert not must_load, f"a valid inventory was refused: {error}"
            assert_one_line(error, tmp)
            return
        try:
            check_files(inventory)  # what a drill run does next: its refusals are one line too
        except InventoryError as error:
            assert_one_line(error, tmp)


def assert_one_line(error: InventoryError, directory: str) -> None:
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(directory) and error.file.startswith(directory), message
