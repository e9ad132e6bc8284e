"""The reference hosts.yml laid out the other ways Ansible users lay out an inventory, derived from
the file itself so that they never drift from it: split into group_vars/ and host_vars/, and as INI.

Shared by the loader's unit tests (each layout must load to the same Inventory as hosts.yml) and by
the Ansible oracle test (each must merge to the same variables as ansible-inventory says).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

REFERENCE = Path(__file__).resolve().parents[2] / "hosts.yml"


def reference() -> dict[str, Any]:
    return yaml.safe_load(REFERENCE.read_text())


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each relative path's text (dedented) under root, creating directories."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def split_reference(root: Path) -> Path:
    """hosts.yml with only its groups and hosts; all.vars in group_vars/all.yml, each host's vars in
    host_vars/<host>.yml, as `ansible-inventory` and Ansible's docs recommend."""
    data = reference()["all"]
    files = {"group_vars/all.yml": yaml.safe_dump(data["vars"], sort_keys=False)}
    children: dict[str, Any] = {}
    for group, body in data["children"].items():
        children[group] = {"hosts": {host: None for host in body["hosts"]}}
        for host, host_vars in body["hosts"].items():
            files[f"host_vars/{host}.yml"] = yaml.safe_dump(host_vars, sort_keys=False)
    files["hosts.yml"] = yaml.safe_dump({"all": {"children": children}}, sort_keys=False)
    write_files(root, files)
    return root / "hosts.yml"


def ini_value(value: Any) -> str:
    """A value as an INI inventory writes it: strings bare, anything else as a Python literal."""
    return value if isinstance(value, str) else repr(value)


def reference_as_ini(root: Path, name: str = "hosts") -> Path:
    """hosts.yml as an INI inventory: [all:vars], then a section per role group with its host lines."""
    data = reference()["all"]
    lines = ["# the lab's inventory, as INI", "[all:vars]"]
    lines += [f"{key}={ini_value(value)}" for key, value in data["vars"].items()]
    for group, body in data["children"].items():
        lines += ["", f"[{group}]"]
        for host, host_vars in body["hosts"].items():
            words = [host, *(f"{key}={ini_value(value)}" for key, value in (host_vars or {}).items())]
            lines.append(" ".join(words))
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path
