"""Reports from recorded histories: verdict, comparison with the previous drill, the timeline picture."""

from __future__ import annotations

import json
from pathlib import Path

from mxdrill import report
from mxdrill.history import History


def result(name: str = "mx1->mx2:stop", verdict: str = "pass", failover: float | None = 1.0, drain: float | None = 2.0) -> report.DrillResult:
    return report.DrillResult(name, verdict, "detail", failover, drain, {"sent": 3}, {"stopped": "passed"}, [])


def test_overall_verdict_fail_wins_then_not_run_and_empty_is_not_run() -> None:
    assert report.overall([result(), result(verdict="fail")]) == "FAIL"
    assert report.overall([result()]) == "PASS"
    assert report.overall([result(), result(verdict="not run")]) == "NOT RUN"
    assert report.overall([result(verdict="fail"), result(verdict="not run")]) == "FAIL"
    assert report.overall([]) == "NOT RUN"  # no drill ran: nothing was proven


def test_markedly_worse_times_are_flagged_small_noise_is_not() -> None:
    previous = {"mx1->mx2:stop": {"failover": 1.0, "drain": 2.0}}
    assert report.compare([result(failover=1.3, drain=2.4)], previous) == []
    flags = report.compare([result(failover=5.0, drain=2.0)], previous)
    assert flags == ["mx1->mx2:stop: failover 5.00s, markedly worse than the previous drill's 1.00s"]
    assert report.compare([result(failover=5.0)], {}) == []


def test_previous_summary_is_the_newest_earlier_run_of_the_same_inventory(tmp_path: Path) -> None:
    for name, inventory, failover in [("20260101T000000Z", "/a.yml", 1.0), ("20260102T000000Z", "/b.yml", 9.0), ("20260103T000000Z", "/a.yml", 2.0)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"inventory": inventory, "drills": [{"scenario": "s", "failover": failover}]}))
    current = tmp_path / "20260104T000000Z"
    current.mkdir()
    assert report.previous_summary(tmp_path, current, "/a.yml") == {"s": {"scenario": "s", "failover": 2.0}}


def test_timeline_has_a_lane_per_host_the_fault_window_and_each_probe() -> None:
    times = iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    history = History(clock=lambda: next(times))
    history.append("probe.accepted", probe="p1", host="mx1", role="primary")
    history.append("fault.injected", host="mx1")
    history.append("probe.accepted", probe="p2", host="mx2", role="backup")
    history.append("probe.delivered", probe="p2")
    history.append("fault.healed", host="mx1")
    svg = report.timeline_svg(history, ["mx1", "mx2"])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert ">mx1<" in svg and ">mx2<" in svg and ">mailbox<" in svg
    assert "mx1 stopped" in svg and "fill='#fde2e2'" in svg
    assert "p2 taken by mx2" in svg and "p2 delivered" in svg and "p1 taken by mx1" in svg


def test_markdown_starts_with_the_verdict() -> None:
    text = report.markdown([result()], ["slower"], "hosts.yml", {"mx1": "Postfix 3.7.11"}, [("drain", 0.5)])
    assert text.startswith("# mxdrill: PASS")
    assert "> ⚠ slower" in text and "Postfix 3.7.11" in text and "| drain | 0.50 |" in text


def test_the_readme_lists_every_event_kind_as_history_says() -> None:
    from mxdrill.history import kinds_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert kinds_table() in readme, "regenerate the README's table of event kinds from mxdrill.history.kinds_table()"


def test_the_preflight_section_shows_each_finding_once_problems_first_and_the_parity_table(tmp_path: Path) -> None:
    from mxdrill.history import Kind

    history = History()
    for scenario in (None, "mx1->mx2:stop"):  # the acceptance suite and a drill's preflight see the same finding
        history.append(Kind.PREFLIGHT, scenario=scenario, host="mx2", check="smtp-tls", finding="smtp-tls", ok=True, status="pass",
                       detail="STARTTLS TLSv1.3", fix="", severity="error")
    history.append(Kind.PREFLIGHT, host="mx2", check="refuses-relay", finding="refuses-relay", ok=False, status="error",
                   detail="open relay: mx2 accepts mail for any domain", fix="end smtpd_relay_restrictions with reject_unauth_destination")
    history.append(Kind.CONFIG, values={"mx2": {"smtpd_tls_security_level": "none"}, "mx1": {"smtpd_tls_security_level": "may"}},
                   primary="mx1")
    rows = report.preflight_rows(history)
    assert [(r.check, r.status) for r in rows] == [("refuses-relay", "error"), ("smtp-tls", "pass")]
    text = "\n".join(report.preflight_markdown(history))
    assert "1 passed, 0 warnings, 1 error" in text
    assert "| refuses-relay | mx2 | error | open relay: mx2 accepts mail for any domain | end smtpd_relay_restrictions" in text
    assert "| setting | mx1 | mx2 |" in text and "| ≠ smtpd_tls_security_level | may | none |" in text
    report.write_reports(tmp_path, history, "hosts.yml", "k", ["mx1", "mx2"], {})  # no drill ran: still a report
    assert json.loads((tmp_path / "summary.json").read_text())["preflight"][0]["check"] == "refuses-relay"
    assert "<h2 id='preflight'>Preflight</h2>" in (tmp_path / "summary.html").read_text()


def test_the_fault_matrix_is_one_row_per_drill_with_its_numbers() -> None:
    rows = report.matrix_markdown([result("mx1->mx2:stop"), result("mx1->mx2:blackhole", failover=10.04, drain=None)])
    assert "| drill | fault | verdict | failover s | drain s | sent | lost | duplicated |" in rows
    assert "| mx1->mx2:blackhole | blackhole | PASS | 10.04 | n/a | 3 | 0 | 0 |" in rows
