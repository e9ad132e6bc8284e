"""`mxdrill init DIR`: what a postmaster's drill repository needs, and nothing it already has.

The repository holds the inventory (every `mxdrill_*` variable listed, commented, with its default),
pytest's settings, a conftest for their own fixtures, `tests_infra/` with one example check of
their own, and `reports/`. mxdrill's drill suites are not copied: they come with the package, so an
upgrade of mxdrill upgrades the drill. Nothing that exists is overwritten: the user's files are theirs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mxdrill.inventory import schema

TEMPLATES = ("conftest.py", "pytest.ini", "tests_infra/test_site.py")
REPORTS_GITIGNORE = "# run reports (reports/<UTC>/, reports/latest): attach them to the change ticket, not to git\n*\n!.gitignore\n"


class ScaffoldError(Exception):
    """Why `mxdrill init` wrote nothing."""


def variable_reference() -> str:
    """Every mxdrill_* variable as a commented line: its default and what it takes (from the schema)."""
    lines = ["", "# Every mxdrill_* variable, with its default; set one in all.vars, in a group's vars or on a host:"]
    for name in schema.KNOWN_MXDRILL_VARS:
        info = schema.FIELDS[name]
        default = "(required)" if info.is_required() else f"{info.default!r}".replace("None", "(none)")
        lines.append(f"#   {name}: {default}  — {schema.HINTS[name]}")
    return "\n".join(lines) + "\n"


def files(inventory_text: str) -> dict[str, str]:
    """Relative path -> text of everything `init` writes."""
    found = {"hosts.yml": inventory_text + variable_reference(), "reports/.gitignore": REPORTS_GITIGNORE}
    root = resources.files("mxdrill") / "templates"
    for relative in TEMPLATES:
        found[relative] = (root / relative).read_text()
    return found


def write(directory: Path, inventory_text: str) -> list[Path]:
    """Write the repository into `directory` (created if needed); refuses, writing nothing, if any file exists."""
    planned = {directory / relative: text for relative, text in files(inventory_text).items()}
    existing = [str(path) for path in planned if path.exists() or path.is_symlink()]
    if existing:
        raise ScaffoldError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: mxdrill init "
                            "never overwrites; choose a new directory or move them away")
    try:
        for path, text in planned.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as error:
        raise ScaffoldError(f"cannot write {error.filename}: {error.strerror}; choose another directory") from None
    return list(planned)
