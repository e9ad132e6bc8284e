"""The pytest plugin as a user meets it: options, markers, and one clean line for a bad inventory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mxdrill.lab import tls

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's directory: the lab inventory and its key paths, our ini settings, no conftest of ours;
    without mxdrill's drill suites (they would reach for the lab: tests that want them say so)."""
    pytester.makeini("[pytest]\naddopts = -p no:pytest11.testinfra --strict-markers\nmxdrill_suites = false\n")
    shutil.copy(REPO / "hosts.yml", pytester.path / "hosts.yml")
    (pytester.path / ".lab" / "ssh").mkdir(parents=True)
    for name in ("id_ed25519", "known_hosts"):  # declared in hosts.yml; checked before any run
        (pytester.path / ".lab" / "ssh" / name).write_text("")
    tls.ensure_ca(pytester.path / ".lab" / "tls")  # mxdrill_tls_ca, checked too: a real CA certificate
    return pytester


def test_help_lists_the_mxdrill_options(project: pytest.Pytester) -> None:
    result = project.runpytest("--help")
    result.stdout.fnmatch_lines(["*--hosts=PATH*", "*--probes=N*", "*--keep-probes*"])
    assert result.ret == 0


def test_markers_are_registered_for_strict_markers(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.disruptive
        def test_marked():
            pass
        """
    )
    result = project.runpytest("--hosts=hosts.yml", "-m", "not disruptive")
    result.assert_outcomes(deselected=1)
    result = project.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.disruptive:*"])


def test_a_bad_inventory_is_one_error_line_with_file_line_and_key(project: pytest.Pytester) -> None:
    text = (project.path / "hosts.yml").read_text().replace("mxdrill_mx_priority: 10", "mxdrill_mx_priority: ten")
    (project.path / "broken.yml").write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "mxdrill_mx_priority: ten" in l)
    project.makepyfile("def test_never(): pass")
    result = project.runpytest("--hosts=broken.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [l for l in result.stderr.lines if l.startswith("ERROR:")]
    assert len(errors) == 1, result.stderr.lines
    assert f"broken.yml:{line}:" in errors[0] and "mxdrill_mx_priority" in errors[0]
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_missing_inventory_file_is_named(project: pytest.Pytester) -> None:
    project.makepyfile("def test_never(): pass")
    result = project.runpytest("--hosts=nowhere.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nowhere.yml" in result.stderr.str() and "Traceback" not in result.stderr.str()


def test_the_drill_is_parametrized_per_pair_and_fault(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        class TestX:
            def test_step(self, scenario):
                assert scenario.fault == "stop"
        """
    )
    result = project.runpytest("--hosts=hosts.yml", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_step?mx1.example.test->mx2.example.test:stop?*"])


def test_without_an_inventory_drill_fixtures_skip_with_how_to(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:pytest11.testinfra\n")
    pytester.makepyfile("def test_needs(inventory): pass")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*pass --hosts=PATH*"])


BROKEN = {
    "missing key file": ("ansible_ssh_private_key_file: .lab/ssh/id_ed25519", "ansible_ssh_private_key_file: nowhere/id_ed25519", "ansible_ssh_private_key_file"),
    "unreadable known_hosts": ("mxdrill_known_hosts: .lab/ssh/known_hosts", "mxdrill_known_hosts: missing_known_hosts", "mxdrill_known_hosts"),
    "missing tls ca": ("mxdrill_tls_ca: .lab/tls/ca.pem", "mxdrill_tls_ca: nowhere/ca.pem", "mxdrill_tls_ca"),
    "unknown key": ("mxdrill_domain: example.test", "mxdrill_domain: example.test\n    mxdrill_domian: x", "mxdrill_domian"),
    "primary also backup": ("    mxdrill_backup:\n      hosts:\n        mx2.example.test:", "    mxdrill_backup:\n      hosts:\n        mx1.example.test:\n        mx2.example.test:", "mx1.example.test"),
    "yaml syntax": ("  vars:\n", "  vars:\n   - [\n", ""),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_inventories_exit_4_with_one_line_and_touch_nothing(project: pytest.Pytester, case: str) -> None:
    old, new, key = BROKEN[case]
    text = (project.path / "hosts.yml").read_text()
    assert old in text
    (project.path / "broken.yml").write_text(text.replace(old, new, 1))
    project.makepyfile("def test_never(): raise AssertionError('must not run')")
    result = project.runpytest_subprocess("--hosts=broken.yml")
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith("ERROR: broken.yml:") and key in errors[0], result.stderr.lines
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (project.path / "reports").exists(), "nothing may be written or touched"


def test_a_password_never_reaches_the_terminal(project: pytest.Pytester) -> None:
    text = (project.path / "hosts.yml").read_text().replace(
        "    ansible_user: root\n", "    ansible_user: root\n    ansible_password: \"s3cret-Pa55\"\n", 1)
    (project.path / "secret.yml").write_text(text)
    for extra in ("--dry-run", "--collect-only"):
        result = project.runpytest_subprocess("--hosts=secret.yml", extra)
        assert "s3cret-Pa55" not in result.stdout.str() + result.stderr.str()
    broken = text.replace("mxdrill_mx_priority: 10", "mxdrill_mx_priority: ten")
    (project.path / "broken-secret.yml").write_text(broken)
    result = project.runpytest_subprocess("--hosts=broken-secret.yml")
    assert result.ret == 4 and "s3cret-Pa55" not in result.stdout.str() + result.stderr.str()


def test_hosts_works_in_a_users_directory_without_our_ini(pytester: pytest.Pytester) -> None:
    """pytest-testinfra's plugin also defines --hosts; mxdrill blocks it so `pytest --hosts=...` just works."""
    shutil.copy(REPO / "hosts.yml", pytester.path / "hosts.yml")
    pytester.makepyfile("def test_needs(inventory):\n    assert inventory.domain == 'example.test'\n")
    result = pytester.runpytest_subprocess("--hosts=hosts.yml", "-p", "no:cacheprovider")
    assert "conflicting option" not in result.stderr.str()
    assert "id_ed25519 does not exist" in result.stderr.str()  # it read our inventory, not a host list


CANARY = '''
from mxdrill import steps

steps.STEPS.insert(4, steps.Step(
    "canary", "test_canary_checks_something", "a canary step", ("outage",), True,
    lambda drill, report: None, lambda c: f"CANARY on {c.scenario.backup.name}",
))
'''


def test_a_step_added_to_the_table_is_an_item_a_plan_line_and_a_campaign_case(project: pytest.Pytester) -> None:
    """One edit of the table, three effects: the pytest item, the --dry-run plan, the kill campaign."""
    project.makeconftest(CANARY)
    project.makepyfile(test_failover="from mxdrill.steps import drill_class\n\nTestFailover = drill_class()\n",
                       test_campaign="from mxdrill.steps import campaign_steps\n\n"
                                     "def test_listed():\n    assert 'test_canary_checks_something' in campaign_steps()\n")
    collected = project.runpytest_subprocess("--hosts=hosts.yml", "--collect-only", "-q")
    lines = [line for line in collected.stdout.lines if "::" in line]
    names = [line.split("::")[2].split("[")[0] for line in lines if "TestFailover" in line]
    assert names.index("test_canary_checks_something") == names.index("test_backup_accepts_probes_during_outage") + 1
    plan = project.runpytest_subprocess("--hosts=hosts.yml", "--dry-run")
    plan.stdout.fnmatch_lines(["*drill 1: mx1.example.test->mx2.example.test:stop", "*. CANARY on mx2.example.test"])
    assert project.runpytest_subprocess("--hosts=hosts.yml", "test_campaign.py").ret == 0


def test_in_a_users_directory_each_step_is_bounded_by_the_drill_deadline(project: pytest.Pytester) -> None:
    """pytest-timeout's bound comes from mxdrill's own pyproject here; a user's directory has none."""
    project.makepyfile("def test_bound(pytestconfig):\n    assert pytestconfig.option.timeout == 900\n")
    assert project.runpytest_subprocess("--hosts=hosts.yml", "-p", "no:cacheprovider").ret == 0
    project.makeini("[pytest]\naddopts = -p no:pytest11.testinfra\ntimeout = 42\nmxdrill_suites = false\n")
    project.makepyfile("def test_bound(pytestconfig):\n    assert pytestconfig.getini('timeout') == '42'\n    assert pytestconfig.option.timeout is None\n")
    assert project.runpytest_subprocess("--hosts=hosts.yml", "-p", "no:cacheprovider").ret == 0


# --- hostile inventories and settings: exit 4 with one line, never a traceback or a hang -------------

def _laughs() -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join(f'*l{n - 1}' for _ in range(9))}]" for n in range(1, 9)]
    return "".join(f"    {line}\n" for line in lines)


HOSTILE = {
    # case: (old, new) in hosts.yml -> broken.yml, a fragment of the one ERROR line
    "billion laughs": (("  vars:\n", "  vars:\n    site_laughs:\n" + _laughs().replace("    ", "      ")), "aliases are expanded"),
    "nul byte": (("mx1.example.test:", "mx1\0.example.test:"), "U+0000 is not allowed"),
    "control character": (("mx1.example.test:", "mx1\x1b.example.test:"), "U+001B is not allowed"),
    "bool maybe": (("mxdrill_mx_priority: 10", "mxdrill_mx_priority: !!bool maybe"), "as a boolean"),
    "int tag on text": (("mxdrill_mx_priority: 10", "mxdrill_mx_priority: !!int abc"), "as an integer"),
    "float tag on text": (("mxdrill_mx_priority: 10", "mxdrill_mx_priority: !!float x"), "as a number"),
    "huge integer": (("mxdrill_mx_priority: 10", "mxdrill_mx_priority: " + "9" * 5000), "as an integer"),
    "month 13": (("mxdrill_mx_priority: 10", "mxdrill_mx_priority: 2020-13-45"), "as a date"),
    "deep nesting": (("  vars:\n", "  vars:\n    site_deep: " + "[" * 3000 + "]" * 3000 + "\n"), "nested deeper than"),
    "short dead-man window": (("  vars:\n", "  vars:\n    mxdrill_deadman_window: 60\n"), "in the middle of a working drill"),
    "seconds 1e300": (("  vars:\n", "  vars:\n    mxdrill_command_timeout: 1e300\n"), "0.1 to 3600"),
    "recipient with a route": (("[probe@example.test]", "['x@evil.example>@example.test']"), "expected an e-mail address"),
    "host name with a command": (("        mx1.example.test:", "        'mx1;touch x':"), "expected a host name"),
    "window that never opens": (("mxdrill_maintenance_window: always", "mxdrill_maintenance_window: '22:00-22:00'"), "never opens"),
    "merge of a scalar": (("  vars:\n", "  vars:\n    site_x: {<<: 3}\n"), "a merge key (<<)"),
}


def _assert_one_error_line(result: pytest.RunResult, starts: str, fragment: str) -> None:
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {starts}") and fragment in errors[0], result.stderr.lines
    output = result.stderr.str() + result.stdout.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_inventories_exit_4_with_one_line(project: pytest.Pytester, case: str) -> None:
    (old, new), fragment = HOSTILE[case]
    text = (project.path / "hosts.yml").read_text()
    assert old in text
    (project.path / "broken.yml").write_text(text.replace(old, new, 1))
    project.makepyfile("def test_never(): raise AssertionError('must not run')")
    _assert_one_error_line(project.runpytest_subprocess("--hosts=broken.yml"), "broken.yml:", fragment)
    assert not (project.path / "reports").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "fifo-in-group_vars"])
def test_files_that_never_end_exit_4_at_once(project: pytest.Pytester, kind: str) -> None:
    inventory, culprit = project.path / "broken.yml", project.path / "broken.yml"
    if kind == "fifo":
        os.mkfifo(inventory)
    elif kind == "dev-zero":
        inventory.symlink_to("/dev/zero")
    else:
        shutil.copy(project.path / "hosts.yml", inventory)
        culprit = project.path / "group_vars" / "all.yml"
        culprit.parent.mkdir()
        os.mkfifo(culprit)
    project.makepyfile("def test_never(): raise AssertionError('must not run')")
    result = project.runpytest_subprocess("--hosts=broken.yml")
    _assert_one_error_line(result, str(culprit.relative_to(project.path)), "not a regular file")


PROBES = {
    "--probes 0": (["--probes", "0"], None, "--probes"),
    "--probes -3": (["--probes", "-3"], None, "--probes"),
    "ini three": ([], "three", "ini mxdrill_probes"),
    "ini zero": ([], "0", "ini mxdrill_probes"),
    "ini three with --dry-run": (["--dry-run"], "three", "ini mxdrill_probes"),
    "--probes 0 with --dry-run": (["--dry-run", "--probes", "0"], None, "--probes"),
}


@pytest.mark.parametrize("case", list(PROBES))
def test_probes_must_be_a_positive_integer(project: pytest.Pytester, case: str) -> None:
    args, ini, where = PROBES[case]
    if ini is not None:
        project.makeini(f"[pytest]\naddopts = -p no:pytest11.testinfra --strict-markers\nmxdrill_probes = {ini}\n")
    project.makepyfile("def test_never(): raise AssertionError('must not run')")
    result = project.runpytest_subprocess("--hosts=hosts.yml", *args)
    _assert_one_error_line(result, where, "a whole number of probe mails per phase, 1 to 1000")


def test_probes_from_the_ini_reach_the_plan(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\naddopts = -p no:pytest11.testinfra --strict-markers\nmxdrill_probes = 5\n")
    result = project.runpytest_subprocess("--hosts=hosts.yml", "--dry-run")
    assert result.ret == 0 and "5 probes by MX priority" in result.stdout.str()


@pytest.mark.parametrize(("args", "ini", "where", "words"), [
    (["--faults", "stop,crash"], None, "--faults", "unknown fault mode 'crash'; known: stop, kill, reject, blackhole"),
    (["--faults", ","], None, "--faults", "no fault mode given"),
    ([], "stop,nope", "ini mxdrill_faults", "unknown fault mode 'nope'"),
], ids=["unknown", "empty", "ini"])
def test_an_unknown_fault_mode_is_one_usage_line_naming_the_known_ones(
        project: pytest.Pytester, args: list[str], ini: str | None, where: str, words: str) -> None:
    if ini is not None:
        project.makeini(f"[pytest]\naddopts = -p no:pytest11.testinfra --strict-markers\nmxdrill_faults = {ini}\n")
    project.makepyfile("def test_never(): raise AssertionError('must not run')")
    result = project.runpytest_subprocess("--hosts=hosts.yml", *args)
    _assert_one_error_line(result, where, words)


def test_the_fault_matrix_is_one_drill_per_backup_and_fault_mode_each_with_its_own_plan(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--hosts=hosts.yml", "--dry-run", "--faults", "stop,kill,reject,blackhole")
    out = result.stdout.str()
    assert result.ret == 0
    for mode in ("stop", "kill", "reject", "blackhole"):
        assert f"drill {('stop', 'kill', 'reject', 'blackhole').index(mode) + 1}: mx1.example.test->mx2.example.test:{mode}" in out
    assert "kill -KILL" in out and "reject with tcp reset" in out and "tcp dport 25 ct state new drop" in out
    assert "nft delete table inet mxdrill" in out  # each plan names its heal
