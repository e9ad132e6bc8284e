"""On the lab, as a new user outside this repository: `mxdrill init demo && cd demo && pytest
--hosts=hosts.yml` runs the drill and the user's own check; a drill outside its maintenance window is
NOT RUN, and `--require-drill` makes that exit non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mxdrill.lab import manager

from lab_helpers import REPO

MXDRILL = Path(sys.executable).with_name("mxdrill")


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "--hosts=hosts.yml", "-p", "no:cacheprovider", *args],
                          cwd=directory, capture_output=True, text=True, timeout=300)


def verdict(directory: Path) -> str:
    return json.loads((directory / "reports" / "latest" / "summary.json").read_text())["verdict"]


def test_init_outside_the_repository_runs_the_drill_and_the_users_check(lab: manager.LabPaths, tmp_path: Path) -> None:
    made = subprocess.run([str(MXDRILL), "init", "demo", "--lab-state-dir", str(lab.state_dir)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    result = pytest_in(tmp_path / "demo", "-v")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "mxdrill/test_failover.py::TestFailover::test_stop_primary[mx1.example.test->mx2.example.test:stop] PASSED" in result.stdout
    assert "tests_infra/test_site.py::test_postmaster_mail_still_lands_on_the_shared_store PASSED" in result.stdout
    assert "mxdrill: PASS (1 drill)" in result.stdout and verdict(tmp_path / "demo") == "PASS"


def closed_window() -> str:
    """A daily UTC window that does not hold the next hour or so."""
    hour = time.gmtime().tm_hour
    return f"{(hour + 3) % 24:02d}:00-{(hour + 4) % 24:02d}:00"


def test_a_drill_outside_its_window_is_not_run_and_require_drill_fails_it(lab: manager.LabPaths, tmp_path: Path) -> None:
    text = (REPO / "hosts.yml").read_text().replace(".lab/", f"{lab.state_dir.resolve()}/")
    (tmp_path / "hosts.yml").write_text(text.replace("mxdrill_maintenance_window: always", f"mxdrill_maintenance_window: '{closed_window()}'"))
    plain = pytest_in(tmp_path, "-k", "TestFailover")
    assert plain.returncode == 0, plain.stdout[-3000:]
    assert "mxdrill: NOT RUN (1 drill)" in plain.stdout and "the primary was never faulted (stopped skipped: disruptive step not run" in plain.stdout
    assert verdict(tmp_path) == "NOT RUN"
    required = pytest_in(tmp_path, "-k", "TestFailover", "--require-drill")
    assert required.returncode == 1 and "--require-drill: this run exits non-zero" in required.stdout
