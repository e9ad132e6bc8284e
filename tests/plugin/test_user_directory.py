"""mxdrill where its users are: a directory of their own holding a hosts.yml (or what `mxdrill init`
wrote), the drill suites coming from the installed package, and an honest verdict for schedulers."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from mxdrill.lab import tls

from mxdrill import cli

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
DRILL = "mxdrill/test_failover.py::TestFailover"
PAIR = "[mx1.example.test->mx2.example.test:stop]"


@pytest.fixture
def only_hosts(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with nothing but the lab's hosts.yml (and the key files it names)."""
    shutil.copy(REPO / "hosts.yml", pytester.path / "hosts.yml")
    (pytester.path / ".lab" / "ssh").mkdir(parents=True)
    for name in ("id_ed25519", "known_hosts"):
        (pytester.path / ".lab" / "ssh" / name).write_text("")
    tls.ensure_ca(pytester.path / ".lab" / "tls")
    return pytester


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.stdout.lines if "::" in line]


def test_a_directory_with_only_hosts_yml_collects_the_drill(only_hosts: pytest.Pytester) -> None:
    items = collected(only_hosts.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q"))
    assert items[0] == "mxdrill/test_preflight.py::test_preflight[dns]"
    assert f"{DRILL}::test_stop_primary{PAIR}" in items
    assert items[-1] == f"{DRILL}::test_logs_show_one_final_delivery_of_each_probe{PAIR}"


def test_markers_and_keywords_select_among_the_drill(only_hosts: pytest.Pytester) -> None:
    quiet = only_hosts.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q", "-m", "not disruptive")
    assert not any("test_stop_primary" in item or "test_restart_primary" in item for item in collected(quiet))
    by_fault = collected(only_hosts.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q", "-k", "stop and mx2"))
    assert by_fault and all(item.startswith(DRILL) for item in by_fault)
    assert collected(only_hosts.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q", "-k", "mx9")) == []


def test_init_writes_a_repository_whose_own_check_runs_after_the_drill(
    tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = pytester.path / "demo"
    assert cli.main(["init", str(demo), "--lab-state-dir", str(tmp_path / "lab")]) == 0
    for relative in ("hosts.yml", "pytest.ini", "conftest.py", "tests_infra/test_site.py", "reports/.gitignore"):
        assert (demo / relative).is_file(), relative
    hosts = (demo / "hosts.yml").read_text()
    assert f"{tmp_path / 'lab' / 'ssh' / 'id_ed25519'}" in hosts and "#   mxdrill_drain_deadline: 120.0" in hosts
    assert f"mxdrill_tls_ca: {tmp_path / 'lab' / 'tls' / 'ca.pem'}" in hosts
    (tmp_path / "lab" / "ssh").mkdir(parents=True)
    for name in ("id_ed25519", "known_hosts"):
        (tmp_path / "lab" / "ssh" / name).write_text("")
    tls.ensure_ca(tmp_path / "lab" / "tls")
    monkeypatch.chdir(demo)
    items = collected(pytester.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q"))
    assert items[0].startswith("mxdrill/test_preflight.py::")
    assert items[-1] == "tests_infra/test_site.py::test_postmaster_mail_still_lands_on_the_shared_store"


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo"
    (demo / "tests_infra").mkdir(parents=True)
    (demo / "tests_infra" / "test_site.py").write_text("# mine\n")
    assert cli.main(["init", str(demo), "--lab-state-dir", str(tmp_path / "lab")]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "test_site.py already exists: mxdrill init never overwrites" in error[0]
    assert (demo / "tests_infra" / "test_site.py").read_text() == "# mine\n" and not (demo / "hosts.yml").exists()


def test_require_drill_makes_a_run_without_a_failover_exit_non_zero(only_hosts: pytest.Pytester) -> None:
    only_hosts.makepyfile(test_site="def test_own_check():\n    pass\n")
    selected = ("--hosts=hosts.yml", "-k", "test_own_check")
    plain = only_hosts.runpytest_subprocess(*selected)
    assert plain.ret == 0
    required = only_hosts.runpytest_subprocess(*selected, "--require-drill")
    assert required.ret == 1
    required.stdout.fnmatch_lines(["mxdrill: NOT RUN (0 drills) — --require-drill: this run exits non-zero"])
    only_hosts.makeini("[pytest]\nmxdrill_require_drill = true\n")
    assert only_hosts.runpytest_subprocess(*selected).ret == 1


# --- fleets: many mail domains in one inventory ------------------------------------------------------

def fleet_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """The four-domain fleet of the inventory tests, with key files that exist."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from test_inventory_fleet import FLEET

    for name in ("id", "known_hosts"):
        (pytester.path / name).write_text("")
    text = FLEET.replace("    ansible_user: root\n", "    ansible_user: root\n    ansible_ssh_private_key_file: id\n"
                         "    mxdrill_known_hosts: known_hosts\n", 1)
    (pytester.path / "hosts.yml").write_text(text)
    pytester.makeconftest("""
        def pytest_collection_finish(session):
            for item in session.items:
                mark = item.get_closest_marker("xdist_group")
                print("GROUP", item.nodeid, mark.args[0] if mark else "-")
    """)
    return pytester


def test_a_fleet_runs_one_drill_per_domain_primary_and_backup_grouped_by_primary(pytester: pytest.Pytester) -> None:
    result = fleet_dir(pytester).runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q", "-s")
    groups = dict(line.split()[1:] for line in result.stdout.lines if line.startswith("GROUP "))
    drills = {nodeid.split("[")[1] for nodeid in groups if nodeid.startswith(DRILL)}
    assert drills == {"mx1.example.test->mx2.example.test:stop]", "mx1.example2.test->mx2.example2.test:stop]",
                      "mx1.example2.test->mx3.example2.test:stop]", "mx1.example3.test->mx2.example3.test:stop]",
                      "mx1.example4.test->mx2.example4.test:stop]"}
    assert groups[f"{DRILL}::test_stop_primary[mx1.example2.test->mx3.example2.test:stop]"] == "example2.test:mx1.example2.test"
    per_domain = [n for n in groups if n.startswith("mxdrill/test_preflight.py::test_preflight[") and n.endswith("-smtp-greeting]")]
    assert sorted(per_domain) == [f"mxdrill/test_preflight.py::test_preflight[example{n}.test-smtp-greeting]" for n in ("", "2", "3", "4")]
    assert groups[per_domain[1]] == "example2.test:mx1.example2.test"  # never beside its domain's outage


def test_checks_run_before_the_drill_and_a_users_own_after_it_in_a_fleet(pytester: pytest.Pytester) -> None:
    directory = fleet_dir(pytester)
    directory.makepyfile(test_site="def test_mine(inventory):\n    pass\n")
    result = directory.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q", "-s")
    order = [line.split()[1] for line in result.stdout.lines if line.startswith("GROUP ")]
    kinds = [0 if n.startswith("mxdrill/test_preflight.py") else 1 if n.startswith("mxdrill/") else 2 for n in order]
    assert kinds == sorted(kinds) and kinds.count(2) == 4


def test_option_values_are_no_test_paths(only_hosts: pytest.Pytester) -> None:
    """`pytest -k stop` (hosts.yml found by default) is still a drill run: `stop` is no path."""
    items = collected(only_hosts.runpytest_subprocess("--collect-only", "-q", "-k", "stop"))
    assert items and all(item.startswith(DRILL) for item in items)


def test_a_users_own_scenario_parameter_is_left_alone(only_hosts: pytest.Pytester) -> None:
    only_hosts.makepyfile(test_mine="""
        import pytest

        @pytest.mark.parametrize("scenario", ["a", "b"])
        def test_mine(scenario):
            pass
    """)
    result = only_hosts.runpytest_subprocess("--hosts=hosts.yml", "-k", "test_mine")
    result.assert_outcomes(passed=2)
