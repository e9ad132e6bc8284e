"""The honest verdict: a drill whose fault never ran is *not run*, never *pass* (issue 11's cron job)."""

from __future__ import annotations

from mxdrill import checker, report
from mxdrill.history import History, Kind

WINDOW = "outside the maintenance window 22:00-02:00 UTC (pass --allow-disruption to run anyway)"


def outside_the_window() -> History:
    """A recorded drill as the interlock leaves it: preflight and the first probes pass, the fault is skipped."""
    history = History()
    record = history.record("mx1->mx2:stop")
    record.append(Kind.STEP_END, step="preflight", when="call", outcome="passed")
    for token in ("p1", "p2"):
        record.append(Kind.PROBE_SENT, probe=token, message_id=f"{token}@mxdrill.probe", phase="before", via="harness")
        record.append(Kind.PROBE_ACCEPTED, probe=token, host="mx1", role="primary", queue_id="Q", reply="250")
        record.append(Kind.PROBE_DELIVERED, probe=token)
        record.append(Kind.PROBE_FOUND, probe=token, host="mx1", location="storage:/srv", count=1, path="/new/x")
    record.append(Kind.STORE_HOME, host="mx1", location="storage:/srv")
    record.append(Kind.STEP_END, step="before", when="call", outcome="passed")
    record.append(Kind.STEP_END, step="stopped", when="setup", outcome="skipped", reason=WINDOW)
    return history


def test_a_drill_whose_fault_was_skipped_is_not_run_with_the_reason() -> None:
    verdict = checker.scenario_verdict(outside_the_window().record("mx1->mx2:stop"))
    assert verdict.status == "not run"
    assert "the primary was never faulted (stopped skipped: outside the maintenance window" in verdict.detail


def test_the_run_with_such_a_drill_is_not_run_first_in_every_summary() -> None:
    results = report.results(outside_the_window())
    assert report.overall(results) == "NOT RUN"
    assert report.terminal_lines(results[0])[0].startswith("mx1->mx2:stop: NOT RUN")
    assert report.markdown(results, [], "hosts.yml", {}, []).startswith("# mxdrill: NOT RUN")


def test_a_failure_before_the_fault_is_still_a_failure() -> None:
    history = outside_the_window()
    history.record("mx1->mx2:stop").append(Kind.STEP_END, step="before", when="call", outcome="failed")
    assert checker.scenario_verdict(history.record("mx1->mx2:stop")).status == "fail"


def test_merging_two_sites_runs_judges_every_drill_in_one_summary(tmp_path, capsys) -> None:
    """One controller per site, `mxdrill report merge` after: both drills in one summary, NOT RUN wins over PASS."""
    import json

    from mxdrill import cli

    runs = []
    for site in ("paris", "lyon"):
        directory = tmp_path / site / "reports" / "20261201T000000Z"
        directory.mkdir(parents=True)
        history = History(path=directory / "history.jsonl")
        for event in outside_the_window().events:
            history.append(event.kind, scenario=f"{site}:{event.scenario}", probe=event.probe, host=event.host, **event.data)
        runs.append(directory)
    into = tmp_path / "merged"
    assert cli.main(["report", "merge", *map(str, runs), "--into", str(into)]) == 1
    summary = json.loads((into / "summary.json").read_text())
    assert summary["verdict"] == "NOT RUN" and [d["scenario"] for d in summary["drills"]] == ["paris:mx1->mx2:stop", "lyon:mx1->mx2:stop"]
    assert "NOT RUN — 2 runs merged" in capsys.readouterr().out
    assert cli.main(["report", "merge", str(runs[0]), "--into", str(into)]) == cli.EXIT_USAGE  # never over a merge
