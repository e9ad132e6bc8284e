"""How the drill suites of the package join every drill run, in any directory.

pytest collects what lies under its arguments; the drill's suites live in the installed package
(`mxdrill.suites`), which is under none of them. So the plugin adds them to the session itself,
first, with node ids that do not depend on where the package is installed (`mxdrill/test_failover.py::…`):
`-k`, `-m`, `--collect-only`, JUnit and xdist see the same items in this repository and in a user's.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from mxdrill.suites import SUITES


class PackagedSuite(pytest.Module):
    """A suite module of the package, imported by name: by path it would be imported a second time."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(f"mxdrill.suites.{self.path.stem}")


def suite_paths() -> list[Path]:
    return [Path(importlib.import_module(f"mxdrill.suites.{name}").__file__ or "") for name in SUITES]


def add_packaged_suites(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Put the package's suites before the user's items (so a user's check runs after the drill)."""
    already = {item.path for item in items}
    found: list[pytest.Item] = []
    for path in suite_paths():
        if path in already:  # named on the command line: pytest collected it itself
            continue
        module = PackagedSuite.from_parent(session, path=path, nodeid=f"mxdrill/{path.name}")
        found += [node for node in session.genitems(module) if isinstance(node, pytest.Item)]
    items[:0] = found
