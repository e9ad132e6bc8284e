"""Hostile and odd inventories: each one is refused (or read) quickly, as one line naming its file
and line, never a traceback, a hang or a memory blow-up. These are the cases the fuzz benchmark
(benchmarks/fuzz_inventory.py) found; test_inventory_fuzz.py keeps looking for more."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from mxdrill.inventory import InventoryError, load_inventory
from mxdrill.inventory.source import MAX_BYTES, MAX_DEPTH, MAX_VALUES

REFERENCE = (Path(__file__).resolve().parents[2] / "hosts.yml").read_text()
REFERENCE_INI = """\
[all:vars]
mxdrill_domain=example.test
mxdrill_recipients=['probe@example.test']

[mxdrill_primary]
mx1.example.test ansible_host=192.0.2.11 mxdrill_mx_priority=10

[mxdrill_backup]
mx2.example.test ansible_host=192.0.2.12 mxdrill_mx_priority=20
"""

# Every case here ends in seconds when the loader is right; the bound turns a hang into a failure.
pytestmark = pytest.mark.timeout(20)


def refused(path: Path) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path.parent)), message
    return caught.value


def write(tmp_path: Path, text: str, name: str = "hosts.yml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- reading: only regular files, and not too big ----------------------------------------------

def test_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").symlink_to("/dev/zero")
    error = refused(tmp_path / "hosts.yml")
    assert "a character device, not a regular file" in error.message


@pytest.mark.parametrize("where", ["hosts.yml", "hosts.ini", "group_vars/all.yml", "host_vars/mx1.example.test.yml"])
def test_a_fifo_with_no_writer_is_refused_not_waited_on(tmp_path: Path, where: str) -> None:
    if where.startswith(("group_vars", "host_vars")):
        write(tmp_path, REFERENCE)
    path = tmp_path / where
    path.parent.mkdir(exist_ok=True)
    os.mkfifo(path)
    error = refused(tmp_path / ("hosts.ini" if where == "hosts.ini" else "hosts.yml"))
    assert error.file == str(path) and "a FIFO, not a regular file" in error.message


def test_a_file_over_the_size_bound_is_refused_with_its_size(tmp_path: Path) -> None:
    path = write(tmp_path, REFERENCE + "# " + "x" * MAX_BYTES + "\n")
    error = refused(path)
    assert f"is {path.stat().st_size} bytes" in error.message and "at most 1 MiB" in error.message


def test_a_variables_file_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, REFERENCE)
    big = write(tmp_path, "site_blob: " + "y" * (2 * MAX_BYTES) + "\n", "group_vars/all.yml")
    error = refused(path)
    assert error.file == str(big) and "this variables file is" in error.message


# --- YAML that PyYAML itself cannot take ---------------------------------------------------------

@pytest.mark.parametrize("character", ["\0", "\x07", "\x1b", "\ufffe"])
def test_a_character_yaml_forbids_is_an_error_at_its_line(tmp_path: Path, character: str) -> None:
    path = write(tmp_path, REFERENCE.replace("mx1.example.test:", f"mx1{character}.example.test:", 1))
    error = refused(path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if character in text)
    assert error.line == line and f"U+{ord(character):04X} is not allowed" in error.message


VALUES_PYYAML_CANNOT_CONSTRUCT = {
    "bool-maybe": ("!!bool maybe", "as a boolean"),
    "int-tag-on-text": ("!!int abc", "as an integer"),
    "float-tag-on-text": ("!!float x", "as a number"),
    "huge-integer": ("1" * 5000, "as an integer"),
    "month-13": ("2020-13-45", "as a date"),
    "timestamp-tag-on-text": ("!!timestamp x", "as a date"),
    "int-tag-on-nothing": ("!!int", "as an integer"),  # IndexError in PyYAML; found by the fuzz test
}


@pytest.mark.parametrize("case", list(VALUES_PYYAML_CANNOT_CONSTRUCT))
def test_a_value_pyyaml_cannot_construct_is_an_error_at_its_key(tmp_path: Path, case: str) -> None:
    value, words = VALUES_PYYAML_CANNOT_CONSTRUCT[case]
    path = write(tmp_path, REFERENCE.replace("mxdrill_mx_priority: 10", f"mxdrill_mx_priority: {value}", 1))
    error = refused(path)
    assert error.key == "all.children.mxdrill_primary.hosts.mx1.example.test.mxdrill_mx_priority"
    assert words in error.message and "cannot read" in error.message


# --- bounds: depth, aliases ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "all: " + "[" * 5000 + "]" * 5000 + "\n",
    "all: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "all:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(300)),
], ids=["flow-lists", "flow-mappings", "block-mappings"])
def test_nesting_past_the_depth_bound_is_refused_at_its_line(tmp_path: Path, text: str) -> None:
    error = refused(write(tmp_path, text))
    assert f"nested deeper than {MAX_DEPTH} levels" in error.message and error.line is not None


def test_nesting_within_the_bound_still_loads(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH - 8) + "1" + "]" * (MAX_DEPTH - 8)
    inv = load_inventory(write(tmp_path, REFERENCE.replace("  vars:\n", f"  vars:\n    site_deep: {deep}\n", 1)))
    assert inv.primary.name == "mx1.example.test"


def billion_laughs(key: str = "site_laughs") -> str:
    """Nine aliases of nine aliases of ... nine strings: 9**9 strings once expanded, 600 bytes as text."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join(f'*l{n - 1}' for _ in range(9))}]" for n in range(1, 9)]
    return REFERENCE.replace("  vars:\n", f"  vars:\n    {key}:\n" + "".join(f"      {line}\n" for line in lines), 1)


def test_aliases_that_expand_past_the_bound_are_refused(tmp_path: Path) -> None:
    text = billion_laughs()
    assert len(text) - len(REFERENCE) < 1000
    error = refused(write(tmp_path, text))
    assert f"more than {MAX_VALUES} values once its YAML aliases are expanded" in error.message
    assert error.key.startswith("all.vars.site_laughs")


def test_merge_keys_of_merge_keys_do_not_multiply(tmp_path: Path) -> None:
    """Nine merges of nine merges...: PyYAML's flatten_mapping lists grow 9x a level; ours keep each key once."""
    merges = "    m0: &m0 {a: 1, b: 2}\n" + "".join(
        f"    m{n}: &m{n} {{<<: [{', '.join(f'*m{n - 1}' for _ in range(9))}]}}\n" for n in range(1, 12))
    inv = load_inventory(write(tmp_path, REFERENCE.replace("  vars:\n", "  vars:\n" + merges, 1)))
    assert inv.domain == "example.test"


def test_a_mapping_merging_itself_is_refused(tmp_path: Path) -> None:
    text = REFERENCE.replace("  vars:\n", "  vars:\n    site_self: &self {a: 1, <<: *self}\n", 1)
    assert "recursive YAML alias" in refused(write(tmp_path, text)).message


def test_a_merge_key_on_a_scalar_is_refused(tmp_path: Path) -> None:
    text = REFERENCE.replace("  vars:\n", "  vars:\n    site_bad: {<<: 3}\n", 1)
    assert "a merge key (<<) takes a mapping" in refused(write(tmp_path, text)).message


def test_merge_keys_resolve_as_pyyaml_resolves_them(tmp_path: Path) -> None:
    """Own keys win; among merged mappings the first wins (PyYAML 6.0.2 and later)."""
    extra = ("    site_a: &a {x: 1, y: 1}\n    site_b: &b {x: 2, z: 2}\n"
             "    site_c: {<<: [*a, *b], y: 3}\n    site_d: {<<: *a, <<: *b}\n")
    from mxdrill.inventory import merged_vars

    merged = merged_vars(write(tmp_path, REFERENCE.replace("  vars:\n", "  vars:\n" + extra, 1)))
    assert merged["mx1.example.test"]["site_c"] == {"x": 1, "y": 3, "z": 2}
    assert merged["mx1.example.test"]["site_d"] == {"x": 1, "y": 1, "z": 2}


# --- group graphs: diamonds and chains --------------------------------------------------------------

def diamond(layers: int) -> str:
    """Each layer's two groups are children of both groups above: 2**layers paths down to the backup."""
    lines = []
    for n in range(layers):
        for side in "ab":
            lines += [f"g{n}{side}:", "  children:", f"    g{n + 1}a:", f"    g{n + 1}b:"]
    lines += [f"g{layers}a:", "  vars:", "    mxdrill_mail_log: /var/log/deep.log", "  hosts:", "    mx2.example.test:",
              f"g{layers}b:"]
    return REFERENCE + "\n".join(lines) + "\n"


def test_a_diamond_of_groups_is_resolved_once_per_group(tmp_path: Path) -> None:
    text = diamond(24)
    assert len(text) - len(REFERENCE) < 2000
    inv = load_inventory(write(tmp_path, text))
    assert inv.hosts["mx2.example.test"].mail_log == "/var/log/deep.log"  # the deepest group wins


def test_a_chain_of_2500_groups_loads_in_yaml(tmp_path: Path) -> None:
    lines = []
    for n in range(2500):
        lines += [f"c{n}:", "  children:", f"    c{n + 1}:"]
    lines += ["c2500:", "  vars:", "    mxdrill_mail_log: /var/log/chain.log", "  hosts:", "    mx2.example.test:"]
    inv = load_inventory(write(tmp_path, REFERENCE + "\n".join(lines) + "\n"))
    assert inv.hosts["mx2.example.test"].mail_log == "/var/log/chain.log"


def test_a_chain_of_2500_groups_loads_in_ini(tmp_path: Path) -> None:
    lines = [REFERENCE_INI]
    for n in range(2500):
        lines += [f"[c{n}:children]", f"c{n + 1}", ""]
    lines += ["[c2500:vars]", "mxdrill_mail_log=/var/log/chain.log", "[c2500]", "mx2.example.test"]
    inv = load_inventory(write(tmp_path, "\n".join(lines) + "\n", "hosts.ini"))
    assert inv.hosts["mx2.example.test"].mail_log == "/var/log/chain.log"
    assert inv.primary.name == "mx1.example.test"


def test_an_infinite_group_priority_is_an_error(tmp_path: Path) -> None:
    text = REFERENCE.replace("    mxdrill_backup:\n", "    mxdrill_backup:\n      vars:\n        ansible_group_priority: .inf\n", 1)
    assert "the group's priority" in refused(write(tmp_path, text)).message


# --- names that can be no file name -----------------------------------------------------------------

@pytest.mark.parametrize("name", ['"web\\0.example.test"', "w" * 300], ids=["nul", "too-long-for-a-file-name"])
def test_a_users_host_that_cannot_be_a_file_name_has_no_host_vars(tmp_path: Path, name: str) -> None:
    (tmp_path / "host_vars").mkdir()
    inv = load_inventory(write(tmp_path, REFERENCE + f"webservers:\n  hosts:\n    {name}:\n"))
    assert inv.primary.name == "mx1.example.test"


def test_a_unicode_digit_is_not_a_port_in_ini(tmp_path: Path) -> None:
    path = write(tmp_path, REFERENCE_INI + "\n[web]\nwww.example.test:\u00b2\n", "hosts.ini")
    assert load_inventory(path).primary.name == "mx1.example.test"


def test_an_error_line_escapes_what_would_break_or_reorder_it(tmp_path: Path) -> None:
    text = REFERENCE.replace("  vars:\n", '  vars:\n    "mxdrill_x\\u202e\\u2028y": 1\n', 1)
    error = refused(write(tmp_path, text))
    assert "\\u202e\\u2028y" in str(error) and "\u202e" not in str(error) and "\u2028" not in str(error)
    assert error.key == "all.vars.mxdrill_x\u202e\u2028y"  # the key itself is kept as written


def test_a_key_as_long_as_the_file_is_shown_cut(tmp_path: Path) -> None:
    text = REFERENCE.replace("  vars:\n", f"  vars:\n    mxdrill_{'x' * 5000}: 1\n", 1)
    assert len(str(refused(write(tmp_path, text)))) < 1000


def test_nothing_here_takes_the_inventory_format_apart(tmp_path: Path) -> None:
    """The reference inventory still loads after all of the above (no bound is too tight for it)."""
    assert load_inventory(write(tmp_path, textwrap.dedent(REFERENCE))).primary.address == "198.51.100.11"


def test_a_key_file_path_too_long_to_look_up_is_one_line(tmp_path: Path) -> None:
    from mxdrill.inventory import check_files

    text = REFERENCE.replace("ansible_ssh_private_key_file: .lab/ssh/id_ed25519", f"ansible_ssh_private_key_file: {'k' * 5000}")
    inv = load_inventory(write(tmp_path, text))
    with pytest.raises(InventoryError) as caught:
        check_files(inv)
    assert "cannot be looked up (File name too long)" in str(caught.value) and "\n" not in str(caught.value)


def test_a_group_written_before_all_is_a_child_of_all(tmp_path: Path) -> None:
    """Found by the fuzz test: a top-level group before all: was a KeyError."""
    inv = load_inventory(write(tmp_path, "webservers:\n  hosts:\n    www.example.test:\n" + REFERENCE))
    assert inv.primary.name == "mx1.example.test"
