"""Fixtures for tests against the real lab: bring it up once per session, reach hosts over real SSH."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mxdrill.lab import manager, network
from mxdrill.lab import topology as topo

from lab_helpers import REPO

STATE_DIR = REPO / ".lab"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_paths() -> manager.LabPaths:
    return manager.LabPaths(STATE_DIR)


@pytest.fixture(scope="session")
def lab_session(lab_paths: manager.LabPaths) -> Iterator[manager.LabPaths]:
    """The lab in the shared topology; brought down at the end only if this session brought it up."""
    was_up = bool(network.lab_namespaces())
    manager.up("shared", topo.DEFAULT_PREFIX, lab_paths, say=lambda _m: None)
    yield lab_paths
    if not was_up:
        manager.down(say=lambda _m: None)


@pytest.fixture
def lab(lab_session: manager.LabPaths, request: pytest.FixtureRequest) -> manager.LabPaths:
    """The lab in the topology a test asks for with @pytest.mark.parametrize('topology', ...)."""
    topology = getattr(request, "param", None) or request.node.funcargs.get("topology", "shared")
    manager.up(topology, topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None)
    return lab_session
