"""`down` leaves nothing behind, and `up` after it is healthy again (runs last in the lab tests)."""

from __future__ import annotations

from mxdrill.lab import manager
from mxdrill.lab import topology as topo


def test_down_leaves_nothing_and_up_comes_back(lab) -> None:
    manager.down(say=lambda _m: None)
    assert manager.leftovers() == []
    manager.down(say=lambda _m: None)  # twice is fine
    manager.up("shared", topo.DEFAULT_PREFIX, lab, say=lambda _m: None)
    assert manager.failing("shared", topo.DEFAULT_PREFIX) == []


def test_down_cleans_up_after_a_crash_with_the_run_directory_gone(lab) -> None:
    import shutil

    shutil.rmtree(topo.RUN_DIR)
    manager.down(say=lambda _m: None)
    assert manager.leftovers() == []
    manager.up("shared", topo.DEFAULT_PREFIX, lab, say=lambda _m: None)
