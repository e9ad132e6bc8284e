"""Fixtures for tests against the real lab: bring it up once per session, reach hosts over real SSH."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mxdrill.lab import manager, mxcert, network
from mxdrill.lab import topology as topo

from lab_helpers import REPO, ssh

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


def _asked(request: pytest.FixtureRequest, name: str, default: object) -> object:
    """What a test asks for with @pytest.mark.parametrize(name, ...), whichever order its arguments are set up in."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and name in callspec.params:
        return callspec.params[name]
    return request.node.funcargs.get(name, default)


@pytest.fixture
def lab(lab_session: manager.LabPaths, request: pytest.FixtureRequest) -> manager.LabPaths:
    """The lab as a test asks for it with @pytest.mark.parametrize('topology', ...), ('backups', [2]), ('init', ['systemd'])
    and ('userdb', ['mysql']), ('priorities', ['equal']).

    Every test gets exactly what it asks for (default: shared, 1 backup, init scripts), so no test inherits
    another's lab; `up` leaves an identical lab alone, so consecutive tests asking the same thing share one boot.
    """
    topology = getattr(request, "param", None) or _asked(request, "topology", "shared")
    backups = _asked(request, "backups", topo.DEFAULT_BACKUPS)
    init = _asked(request, "init", topo.DEFAULT_INIT)
    userdb = _asked(request, "userdb", topo.DEFAULT_USERDB)
    priorities = _asked(request, "priorities", topo.DEFAULT_PRIORITIES)
    manager.up(topology, topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None, backups=backups, init=init,  # type: ignore[arg-type]
               userdb=userdb, priorities=priorities)  # type: ignore[arg-type]
    return lab_session


@pytest.fixture
def mx2_certificate(lab: manager.LabPaths) -> Iterator[Callable[[str, str], None]]:
    """Serve another certificate on mx2 with `install(cert_pem, key_pem)`; the lab's own is put back
    afterwards, whatever the test did."""
    yield lambda cert, key: mxcert.install("mx2", cert, key)
    mxcert.restore("mx2", lab.tls_dir)


@pytest.fixture
def mx2_broken(lab: manager.LabPaths, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Break mx2 with the given shell command; reboot it from pristine layers afterwards."""
    request.addfinalizer(lambda: manager.reboot("mx2", lab, say=lambda _m: None))

    def breaker(command: str) -> None:
        ssh(lab, "mx2", command)

    return breaker
