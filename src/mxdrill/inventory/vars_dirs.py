"""group_vars/ and host_vars/ beside the inventory: where most Ansible users keep their variables.

Ansible's host_group_vars plugin looks, for each group and each host, in `group_vars/` and `host_vars/`
beside the inventory file, for the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that exists.
A directory `NAME/` stands for every file under it, sorted, recursively (subdirectories whose name has
no dot), skipping hidden files, editor backups (`~`) and files with another extension; they are merged
in that order, the later winning. Empty files are ignored. Ansible also reads these directories beside
the playbook; mxdrill has no playbook, so beside the inventory is what it reads.

Two things Ansible accepts are refused here, because each hides a file from the user: `all/` together
with `all.yml` (Ansible reads the directory and silently ignores the file), and a file for a group
named `mxdrill_*` that is not one of mxdrill's (a typo that would silently drop a role's variables).
Files encrypted whole with Ansible Vault are skipped: mxdrill cannot decrypt them, and the usual
layout keeps only `vault_*` variables there, which mxdrill's own variables would reach through Jinja,
which is refused with its own message.

Each file is its own `Source`: an error names that file and its line, with the variable's name (and
its place inside the value) as the key, e.g. `group_vars/all.yml:3: mxdrill_domain: ...`.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mxdrill.inventory.ansible import Layout, Var, VetGroup, VetVar
from mxdrill.inventory.source import InventoryError, Source, describe, parse_yaml, read_text

EXTENSIONS = (".yml", ".yaml", ".json")
VAULT_HEADER = "$ANSIBLE_VAULT;"


def attach(layout: Layout, inventory: Path, vet_group: VetGroup, vet_var: VetVar) -> None:
    """Read group_vars/ and host_vars/ beside `inventory` into the layout's groups and hosts."""
    base = inventory.parent  # as the user gave it, so that messages name files the way the user does
    group_dir, host_dir = base / "group_vars", base / "host_vars"
    for name, path in _entries(group_dir):
        if name not in layout.groups:
            vet_group(Source(str(path)), name, ())
    for group in layout.groups.values():
        group.file_vars = read_vars(group_dir, group.name, vet_var)
    for host in layout.hosts.values():
        host.file_vars = read_vars(host_dir, host.name, vet_var)


def _entries(directory: Path) -> Iterator[tuple[str, Path]]:
    """(the group or host name it is for, the path) for each entry of `directory`."""
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        if not path.name.startswith(".") and not path.name.endswith("~"):
            yield (path.stem if path.suffix in EXTENSIONS else path.name), path


def read_vars(directory: Path, name: str, vet_var: VetVar) -> dict[str, Var]:
    """The variables group_vars/NAME or host_vars/NAME give, merged in Ansible's order."""
    merged: dict[str, Var] = {}
    if name.startswith("/"):  # Ansible skips names that are paths (chroot-style hosts)
        return merged
    for path in find_files(directory, name):
        merged.update(_read_file(path, vet_var))
    return merged


def find_files(directory: Path, name: str) -> list[Path]:
    """The files that hold NAME's variables, in merge order: Ansible's choice of the first candidate."""
    candidates = [directory / name, *(directory / f"{name}{ext}" for ext in EXTENSIONS)]
    present = [path for path in candidates if _exists(path)]
    if not present:
        return []
    chosen = present[0]
    if len(present) > 1:
        ignored = present[1]
        shown = f"{chosen}/" if chosen.is_dir() else str(chosen)
        raise InventoryError(str(ignored), None, "",
                             f"Ansible ignores this file because {shown} exists: merge them into one")
    return list(_walk(chosen)) if chosen.is_dir() else [chosen]


def _exists(path: Path) -> bool:
    """Whether there is a file for a name: no file can be named with a NUL, or longer than the
    system allows (a host name is as long as the inventory makes it), so neither is an error here."""
    try:
        return path.exists()
    except (ValueError, OSError):
        return False


def _walk(directory: Path) -> Iterator[Path]:
    """The files of a NAME/ directory in Ansible's order: each directory's entries sorted by name."""
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        if path.is_dir() and not path.suffix:
            yield from _walk(path)
        elif path.is_file() and (not path.suffix or path.suffix in EXTENSIONS):
            yield path


def _read_file(path: Path, vet_var: VetVar) -> dict[str, Var]:
    source = Source(str(path))
    text = read_text(path, source.name, "this variables file")
    if text.lstrip().startswith(VAULT_HEADER):
        return {}
    tree = parse_yaml(text, source)
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise InventoryError(source.name, source.line(()), "",
                             f"expected a mapping of variable names to values, got {describe(tree)}")
    found: dict[str, Any] = {}
    for name, value in tree.items():
        vet_var(source, name, value, (name,))
        found[name] = Var(value, (name,), source)
    return found
