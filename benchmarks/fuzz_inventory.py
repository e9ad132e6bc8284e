"""Benchmark: how the inventory loader takes broken, hostile and odd inventories.

    .venv/bin/python benchmarks/fuzz_inventory.py [--cases 300] [--seed 1] [--show 20]

A drill that stops a production primary starts from the inventory, so the loader must turn any file
into either an inventory or one `InventoryError` line, quickly. This script generates inventories —
the reference hosts.yml (and its INI form, and group_vars/) mutated at random, plus a fixed set of
hostile files (nested aliases, a diamond and a chain of groups, /dev/zero, a FIFO, deep nesting) —
and loads each one in a forked child with a memory limit and a timeout, so that a hang or a memory
blow-up is counted instead of stopping the run. It prints: cases, loaded, clean errors (one line,
starting with a file of the inventory), tracebacks by exception type, slow cases (over 2 s) and
hangs (killed at the timeout).

Not a test: tests/unit/test_inventory_fuzz.py is the property-based test that keeps these numbers at
zero; this script is the measurement, run before and after a change to the loader.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = (REPO / "hosts.yml").read_text()
SLOW = 2.0
TIMEOUT = 10.0
MEMORY = 1536 * 1024 * 1024

REFERENCE_INI = """\
[all:vars]
mxdrill_domain=example.test
mxdrill_recipients=['probe@example.test']
mxdrill_maintenance_window=always

[mxdrill_primary]
mx1.example.test ansible_host=198.51.100.11 mxdrill_mx_priority=10

[mxdrill_backup]
mx2.example.test ansible_host=198.51.100.12 mxdrill_mx_priority=20
"""

ODD_YAML_VALUES = [
    "!!int abc", "!!float x", "!!bool maybe", "!!int 0x", "!vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6162",
    "2020-13-45", "2001-02-30", "!!timestamp x", "!!binary '@@'", "!!set {a}", "!!omap [a]", "!!python/object:os.system x",
    "1" * 5000, "-" + "9" * 4400, "1e300", "1e-300", "-1e300", ".nan", ".inf", "-.inf", "0", "-5", "0x10", "0o17", "1_000",
    '"\\0"', '"a\\0b"', '"\\x1b[31m"', '"\\u202e"', "'mx1;touch x'", "''", "' '", "[]", "{}", "~", "[[[[1]]]]",
    "*nowhere", "&self [*self]", "'22:00-22:00'", "'probe@example.com,probe@example.test'",
    "'x@evil.example>@example.test'", "{wrong: 1}", "[1, 2, 3]", "yes", "no", "'{{ x }}'", "!unsafe '{{ x }}'",
    "0.5", "0.000001", "86401", "1e10", "300.0", "3", "65536", "-1", "true", "null", "2m", "'10'",
]
ODD_INI_VALUES = [
    "three", "0", "-3", "1e300", "1e-300", "1" * 5000, "[" * 300, "(" * 50, "{[1]: 2}", "'\\x00'", "mx1;touch", "True",
    "None", "[]", "{}", "...", "1j", "b'x'", "{1,2}", "'22:00-22:00'", "['x@evil.example>@example.test']", "-" * 3000 + "1",
]
RAW_BYTES = ["\0", "\x07", "\x1b", "\x85", "\ufeff", "\u202e", "\t", "\r", "\x7f", "\ud800" * 0 + "\uffff", "\x00\x00"]


# --- the cases -----------------------------------------------------------------------------------

def billion_laughs() -> str:
    """The classic: nine aliases of nine aliases of ... nine strings, 9**9 once expanded, in well under 1 KB."""
    lines = ["lol: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &a{n} [{', '.join(f'*a{n - 1}' for _ in range(9))}]" for n in range(1, 9)]
    return "all:\n  vars:\n" + "".join(f"    {line}\n" for line in lines)


def laughs_in_vars() -> str:
    """The same, in the user's own variable of the reference inventory (no mxdrill key to refuse first)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join(f'*l{n - 1}' for _ in range(9))}]" for n in range(1, 9)]
    return REFERENCE.replace("  vars:\n", "  vars:\n    site_laughs:\n" + "".join(f"      {line}\n" for line in lines), 1)


def diamond(layers: int) -> str:
    """Each layer's two groups are children of both groups above it, the backup MX at the bottom:
    2**layers paths from the top to mx2's group."""
    lines = []
    for n in range(layers):
        for side in "ab":
            lines += [f"g{n}{side}:", "  children:", f"    g{n + 1}a:", f"    g{n + 1}b:"]
    lines += [f"g{layers}a:", "  hosts:", "    mx2.example.test:", f"g{layers}b:"]
    return REFERENCE + "\n".join(lines) + "\n"


def chain_yaml(length: int) -> str:
    """A chain of groups, each the child of the one before, the backup MX in the last one."""
    lines = []
    for n in range(length):
        lines += [f"c{n}:", "  children:", f"    c{n + 1}:"]
    lines += [f"c{length}:", "  hosts:", "    mx2.example.test:"]
    return REFERENCE + "\n".join(lines) + "\n"


def chain_ini(length: int) -> str:
    lines = [REFERENCE_INI]
    for n in range(length):
        lines += [f"[c{n}:children]", f"c{n + 1}", ""]
    lines += [f"[c{length}]", "mx2.example.test"]
    return "\n".join(lines) + "\n"


def fixed_cases() -> list[tuple[str, dict[str, object]]]:
    return [
        ("billion-laughs", {"hosts.yml": billion_laughs()}),
        ("billion-laughs-in-user-var", {"hosts.yml": laughs_in_vars()}),
        ("diamond-20", {"hosts.yml": diamond(20)}),
        ("diamond-24", {"hosts.yml": diamond(24)}),
        ("chain-2500-yaml", {"hosts.yml": chain_yaml(2500)}),
        ("chain-2500-ini", {"hosts.ini": chain_ini(2500)}),
        ("nested-lists-5000", {"hosts.yml": "all: " + "[" * 5000 + "]" * 5000 + "\n"}),
        ("nested-maps-3000", {"hosts.yml": "all:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(3000))}),
        ("nested-flow-maps", {"hosts.yml": "all: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"}),
        ("dev-zero", {"hosts.yml": ("symlink", "/dev/zero")}),
        ("dev-zero-group-vars", {"hosts.yml": REFERENCE, "group_vars/all.yml": ("symlink", "/dev/zero")}),
        ("fifo", {"hosts.yml": ("fifo",)}),
        ("fifo-group-vars", {"hosts.yml": REFERENCE, "group_vars/all.yml": ("fifo",)}),
        ("fifo-host-vars", {"hosts.yml": REFERENCE, "host_vars/mx1.example.test.yml": ("fifo",)}),
        ("fifo-ini", {"hosts.ini": ("fifo",)}),
        ("big-file-2mib", {"hosts.yml": REFERENCE + "# " + "x" * (2 * 1024 * 1024) + "\n"}),
        ("big-group-vars", {"hosts.yml": REFERENCE, "group_vars/all.yml": "site: " + "y" * (2 * 1024 * 1024) + "\n"}),
        ("nul-byte", {"hosts.yml": REFERENCE.replace("mx1", "m\0x1", 1)}),
        ("control-char", {"hosts.yml": REFERENCE.replace("mx1", "m\x07x1", 1)}),
        ("nul-in-key-path", {"hosts.yml": REFERENCE.replace("ansible_ssh_private_key_file: .lab", 'ansible_ssh_private_key_file: "\\0.lab', 1)
                             .replace("id_ed25519   #", 'id_ed25519"   #', 1)}),
        ("nul-in-host-name", {"hosts.yml": REFERENCE.replace("mx2.example.test:", '"mx2\\0.example.test":', 1)}),
        ("bool-maybe", {"hosts.yml": REFERENCE.replace("mxdrill_mx_priority: 10", "mxdrill_mx_priority: !!bool maybe", 1)}),
        ("big-int", {"hosts.yml": REFERENCE.replace("mxdrill_mx_priority: 10", "mxdrill_mx_priority: " + "1" * 5000, 1)}),
        ("bad-date", {"hosts.yml": REFERENCE.replace("mxdrill_mx_priority: 10", "mxdrill_mx_priority: 2020-13-45", 1)}),
        ("merge-laughs", {"hosts.yml": REFERENCE.replace("  vars:\n", "  vars:\n    m0: &m0 {a: 1, b: 2}\n" + "".join(
            f"    m{n}: &m{n} {{<<: [{', '.join(f'*m{n - 1}' for _ in range(9))}]}}\n" for n in range(1, 9)), 1)}),
        ("probes-to-elsewhere", {"hosts.yml": REFERENCE.replace("[probe@example.test]", "['probe@example.com,probe@example.test']")}),
        ("probes-angle", {"hosts.yml": REFERENCE.replace("[probe@example.test]", "['x@evil.example>@example.test']")}),
        ("host-shell", {"hosts.yml": REFERENCE.replace("mx1.example.test:", "'mx1;touch x':", 1)}),
        ("host-bidi", {"hosts.yml": REFERENCE.replace("ansible_host: 198.51.100.11", "ansible_host: \"198.51.100.11\\u202e\"", 1)}),
        ("window-never", {"hosts.yml": REFERENCE.replace("mxdrill_maintenance_window: always", "mxdrill_maintenance_window: '22:00-22:00'")}),
        ("deadman-short", {"hosts.yml": REFERENCE.replace("  vars:\n", "  vars:\n    mxdrill_deadman_window: 0.5\n", 1)}),
    ]


MUST_REFUSE = {"probes-to-elsewhere", "probes-angle", "host-shell", "host-bidi", "window-never", "deadman-short",
               "nul-in-host-name", "nul-in-key-path", "big-int", "bad-date", "bool-maybe"}
"""Fixed cases that are well-formed YAML but must not load: wrong values, not wrong syntax."""


def yaml_mutation(rng: random.Random) -> tuple[str, dict[str, object]]:
    lines = REFERENCE.splitlines()
    kind = rng.choice(["value", "value", "value", "delete", "duplicate", "raw", "truncate", "swap", "add-var", "group-vars"])
    values = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#") and line.split(":", 1)[1].strip()]
    if kind == "value":
        i = rng.choice(values)
        head = lines[i].split(":", 1)[0]
        lines[i] = f"{head}: {rng.choice(ODD_YAML_VALUES)}"
    elif kind == "delete":
        del lines[rng.randrange(len(lines))]
    elif kind == "duplicate":
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == "raw":
        i = rng.randrange(len(lines))
        at = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:at] + rng.choice(RAW_BYTES) + lines[i][at:]
    elif kind == "truncate":
        text = "\n".join(lines)
        return f"yaml-{kind}", {"hosts.yml": text[:rng.randrange(len(text))]}
    elif kind == "swap":
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "add-var":
        from mxdrill.inventory.schema import KNOWN_VARS
        lines.insert(lines.index("  vars:") + 1, f"    {rng.choice(sorted(KNOWN_VARS))}: {rng.choice(ODD_YAML_VALUES)}")
    else:
        from mxdrill.inventory.schema import KNOWN_VARS
        name = rng.choice(sorted(KNOWN_VARS))
        body = f"{name}: {rng.choice(ODD_YAML_VALUES)}\n"
        return f"yaml-{kind}", {"hosts.yml": REFERENCE, f"group_vars/{rng.choice(['all', 'mxdrill_primary'])}.yml": body}
    return f"yaml-{kind}", {"hosts.yml": "\n".join(lines) + "\n"}


def ini_mutation(rng: random.Random) -> tuple[str, dict[str, object]]:
    lines = REFERENCE_INI.splitlines()
    kind = rng.choice(["value", "value", "delete", "duplicate", "raw", "add-var"])
    if kind == "value":
        i = rng.choice([i for i, line in enumerate(lines) if "=" in line])
        words = lines[i].split(" ")
        w = rng.choice([n for n, word in enumerate(words) if "=" in word])
        words[w] = words[w].split("=", 1)[0] + "=" + rng.choice(ODD_INI_VALUES)
        lines[i] = " ".join(words)
    elif kind == "delete":
        del lines[rng.randrange(len(lines))]
    elif kind == "duplicate":
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == "raw":
        i = rng.randrange(len(lines))
        at = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:at] + rng.choice(RAW_BYTES) + lines[i][at:]
    else:
        from mxdrill.inventory.schema import KNOWN_VARS
        lines.insert(1, f"{rng.choice(sorted(KNOWN_VARS))}={rng.choice(ODD_INI_VALUES)}")
    return f"ini-{kind}", {"hosts.ini": "\n".join(lines) + "\n"}


def generated_cases(count: int, seed: int) -> list[tuple[str, dict[str, object]]]:
    rng = random.Random(seed)
    cases = fixed_cases()
    while len(cases) < count:
        cases.append(yaml_mutation(rng) if rng.random() < 0.75 else ini_mutation(rng))
    return cases


# --- running one case in a child ------------------------------------------------------------------

def lay_out(directory: Path, files: dict[str, object]) -> Path:
    inventory = None
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple) and content[0] == "symlink":
            path.symlink_to(content[1])
        elif isinstance(content, tuple) and content[0] == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(str(content).encode("utf-8", "surrogatepass"))
        if inventory is None:
            inventory = path
    assert inventory is not None
    return inventory


def child(inventory: Path, directory: Path, out: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    from mxdrill.inventory import InventoryError, check_files, load_inventory

    started = time.monotonic()
    loaded = False
    try:
        inv = load_inventory(inventory)
        loaded = True
        check_files(inv)  # what a drill run does next: its errors must be one line too
        outcome = "loaded"
    except InventoryError as error:
        text = str(error)
        clean = "\n" not in text and text.startswith(str(directory))
        outcome = ("loaded" if loaded else "clean") if clean else "unclean message"
    except BaseException as error:  # noqa: BLE001 - counting exactly these is the point
        outcome = type(error).__name__
    os.write(out, json.dumps({"outcome": outcome, "seconds": time.monotonic() - started}).encode())
    os._exit(0)


def run_case(files: dict[str, object]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mxdrill-fuzz-") as tmp:
        directory = Path(tmp)
        inventory = lay_out(directory, files)
        read, write = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            child(inventory, directory, write)
        os.close(write)
        ready, _, _ = select.select([read], [], [], TIMEOUT)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return {"outcome": "hang", "seconds": TIMEOUT}
        data = os.read(read, 4096)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        if not data:
            return {"outcome": f"died ({status})", "seconds": time.monotonic() - started}
        return json.loads(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=30, help="how many offending cases to name")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    import mxdrill.inventory  # noqa: F401 - imported once here, so that each fork starts warm

    outcomes: Counter[str] = Counter()
    slow: list[tuple[str, float]] = []
    offenders: list[tuple[str, str]] = []
    wrongly_loaded: list[str] = []
    started = time.monotonic()
    for n, (name, files) in enumerate(generated_cases(args.cases, args.seed)):
        result = run_case(files)
        outcome, seconds = str(result["outcome"]), float(result["seconds"])  # type: ignore[arg-type]
        outcomes[outcome] += 1
        if seconds > SLOW:
            slow.append((f"{n}:{name}", seconds))
        if outcome not in ("loaded", "clean"):
            offenders.append((f"{n}:{name}", outcome))
        if outcome == "loaded" and name in MUST_REFUSE:
            wrongly_loaded.append(name)
    tracebacks = {k: v for k, v in outcomes.items() if k not in ("loaded", "clean", "hang")}
    print(f"cases: {sum(outcomes.values())} (seed {args.seed}) in {time.monotonic() - started:.1f}s")
    print(f"loaded: {outcomes['loaded']}, clean one-line errors: {outcomes['clean']}")
    print(f"tracebacks: {sum(tracebacks.values())} {dict(sorted(tracebacks.items(), key=lambda kv: -kv[1]))}")
    print(f"slow (> {SLOW:g}s): {len(slow)} {[(name, round(s, 1)) for name, s in slow]}")
    print(f"hangs (killed at {TIMEOUT:g}s): {outcomes['hang']}")
    print(f"loaded but must be refused: {len(wrongly_loaded)} {wrongly_loaded}")
    for name, outcome in offenders[:args.show]:
        print(f"  {name}: {outcome}")


if __name__ == "__main__":
    main()
