"""One drill at a time: the local lock and the host lock (its shell command run here, on a temporary path)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mxdrill.locks import DrillLocked, LocalLock, host_lock_command


def test_a_second_drill_on_the_same_inventory_is_refused_naming_the_first(tmp_path: Path) -> None:
    first, second = LocalLock(tmp_path / "hosts.yml.drill.lock", "run-a"), LocalLock(tmp_path / "hosts.yml.drill.lock", "run-b")
    first.acquire()
    with pytest.raises(DrillLocked, match="another drill is running against this inventory .run run-a, pid"):
        second.acquire()
    first.release()
    second.acquire()  # the lock goes with its holder
    second.release()


def lock(directory: Path, run: str, stale: float = 3600) -> str:
    return subprocess.run(["/bin/sh", "-c", host_lock_command(run, stale, str(directory))],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_host_lock_is_taken_once_held_against_others_and_taken_over_when_stale(tmp_path: Path) -> None:
    directory = tmp_path / "mxdrill-drill.lock"
    assert lock(directory, "run-a") == "taken"
    assert lock(directory, "run-a") == "taken"  # the same drill again (its next scenario)
    assert lock(directory, "run-b").startswith("held run-a ")
    assert lock(directory, "run-b", stale=-1).startswith("stale run-a ")
    assert lock(directory, "run-a").startswith("held run-b ")


def test_looking_at_the_host_lock_takes_nothing_and_sees_only_other_live_runs(tmp_path: Path) -> None:
    from mxdrill.locks import host_lock_check_command

    directory = tmp_path / "mxdrill-drill.lock"

    def look(run: str, stale: float = 3600) -> str:
        return subprocess.run(["/bin/sh", "-c", host_lock_check_command(run, stale, str(directory))],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert look("run-a") == "free" and not directory.exists()
    assert lock(directory, "run-a") == "taken"
    assert look("run-a") == "free" and look("run-b").startswith("held run-a ") and look("run-b", stale=-1) == "free"
