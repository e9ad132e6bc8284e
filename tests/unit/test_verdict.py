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
