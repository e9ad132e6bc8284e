"""What Postfix prints, parsed; and the checkers run on recorded histories (no hosts involved)."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

from mxdrill import checker, mta
from mxdrill.history import History, Kind, Record
from mxdrill.mta import postfix

QUEUE = """{"queue_name": "deferred", "queue_id": "2D559FDE3BF", "arrival_time": 1795532084, "message_size": 585, "forced_expire": false, "sender": "t@harness.example.test", "recipients": [{"address": "probe@example.test", "delay_reason": "connect to mx1.example.test[198.51.100.11]:25: Connection refused"}]}

{"queue_name": "active", "queue_id": "4Xk2Qv1Z3Wz9", "arrival_time": 1795532085, "message_size": 600, "sender": "", "recipients": [{"address": "probe@example.test"}]}
"""

LOG = """2026-11-24T14:54:25.274044+00:00 mx2 postfix/smtpd[238]: 42E39FDE1C3: client=harness.example.test[198.51.100.1]
2026-11-24T14:54:25.274273+00:00 mx2 postfix/cleanup[248]: 42E39FDE1C3: message-id=<mxdrill-r-001@mxdrill.probe>
2026-11-24T14:54:25.275024+00:00 mx2 postfix/qmgr[234]: 42E39FDE1C3: from=<mxdrill@mxdrill.invalid>, size=585, nrcpt=1 (queue active)
2026-11-24T14:54:25.287735+00:00 mx2 postfix/smtp[249]: 42E39FDE1C3: to=<probe@example.test>, relay=none, delay=0.02, delays=0/0/0.01/0, dsn=4.4.1, status=deferred (connect to mx1.example.test[198.51.100.11]:25: Connection refused)
Nov 24 14:55:03 mx2 postfix/smtp[250]: 42E39FDE1C3: to=<probe@example.test>, relay=mx1.example.test[198.51.100.11]:25, delay=38, delays=38/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9A1B2C3D4E)
Nov 24 14:55:03 mx2 postfix/qmgr[234]: 42E39FDE1C3: removed
Nov 24 14:55:04 mx2 postfix/cleanup[248]: 42E39FDE1C3: message-id=<someone-else@example.org>
Nov 24 14:55:04 mx2 kernel: unrelated
Nov 24 14:55:05 mx2 postfix/smtpd[238]: connect from unknown[198.51.100.1]
"""


def test_postqueue_json_lines() -> None:
    queued = postfix.parse_postqueue_json(QUEUE)
    assert [(m.queue_id, m.queue_name) for m in queued] == [("2D559FDE3BF", "deferred"), ("4Xk2Qv1Z3Wz9", "active")]
    assert queued[0].recipients == [("probe@example.test", "connect to mx1.example.test[198.51.100.11]:25: Connection refused")]


def test_postqueue_garbage_names_the_line() -> None:
    with pytest.raises(postfix.PostfixParseError, match="line 2"):
        postfix.parse_postqueue_json('{"queue_name": "deferred", "queue_id": "A1"}\npostqueue: fatal: ...')


def test_log_lines_both_timestamp_styles_and_non_postfix_lines() -> None:
    events = [postfix.parse_log_line(line) for line in LOG.splitlines()]
    assert events[7] is None
    assert events[8] is not None and events[8].queue_id is None
    deferred, sent = events[3], events[4]
    assert (deferred.status, deferred.dsn, deferred.relay) == ("deferred", "4.4.1", "none")
    assert deferred.detail == "connect to mx1.example.test[198.51.100.11]:25: Connection refused"
    assert (sent.status, sent.relay, sent.timestamp) == ("sent", "mx1.example.test[198.51.100.11]:25", "Nov 24 14:55:03")
    assert events[1].message_id == "mxdrill-r-001@mxdrill.probe"
    assert events[0].client == "harness.example.test[198.51.100.1]"


def test_trails_join_by_message_id_and_end_at_removed() -> None:
    events = [e for e in map(postfix.parse_log_line, LOG.splitlines()) if e]
    trails = mta.trails_by_message_id(events)
    probe = trails["mxdrill-r-001@mxdrill.probe"]
    assert len(probe) == 1 and probe[0].accepted
    assert [e.status for e in probe[0].with_status("deferred")] == ["deferred"]
    assert len(probe[0].with_status("sent")) == 1
    assert "someone-else@example.org" in trails  # the reused queue id starts a new trail


def test_postconf_output() -> None:
    assert postfix.parse_postconf("relay_domains = example.test\nmydestination =\n") == {
        "relay_domains": "example.test", "mydestination": "",
    }


def drill_events(record: Record, found: list[tuple[str, str, str, int]], home: str | None = None) -> None:
    """One drill: 3 probes, primary stopped, backup took #2 and #3, healed, probes found in mailboxes."""
    for token in ("p1", "p2", "p3"):  # p1 before the fault, the others during the outage
        record.append(Kind.PROBE_SENT, probe=token, message_id=f"{token}@x", phase="before" if token == "p1" else "outage")
    record.append(Kind.PROBE_ACCEPTED, probe="p1", host="mx1", role="primary")
    record.append(Kind.FAULT_INJECTED, host="mx1")
    record.append(Kind.PROBE_ACCEPTED, probe="p2", host="mx2", role="backup")
    record.append(Kind.PROBE_ACCEPTED, probe="p3", host="mx2", role="backup")
    record.append(Kind.FAULT_HEALED, host="mx1")
    record.append(Kind.PROBE_DELIVERED, probe="p2")
    record.append(Kind.PROBE_DELIVERED, probe="p3")
    if home is not None:
        record.append(Kind.STORE_HOME, host="mx1", location=home)
    for token, host, location, copies in found:
        record.append(Kind.PROBE_FOUND, probe=token, host=host, location=location, count=copies)


def recorded(found: list[tuple[str, str, str, int]], home: str | None = None) -> Record:
    """A drill's record: primary took p1 at t=2, was stopped at t=10, backup accepted at 11.5, healed at t=20,
    last delivery at 21."""
    clock = count(0)
    times = iter([0, 1, 1, 2, 10, 11.5, 12, 20, 20.5, 21, 30, 30, 30, 30, 30, 30, 30])
    history = History(clock=lambda: float(next(times, next(clock) + 100)))
    record = history.record("mx1->mx2:stop")
    drill_events(record, found, home)
    return record


SHARED = "198.51.100.20:/srv/vhosts"


def test_the_shared_store_seen_from_two_mxs_counts_once() -> None:
    record = recorded([(p, h, SHARED, 1) for p in ("p1", "p2", "p3") for h in ("mx1", "mx2")], home=SHARED)
    verdict = checker.check_delivered_once(record)
    assert verdict.status == "pass", verdict.detail
    assert checker.ledger(record) == {
        "sent": 3, "accepted_by_primary": 1, "accepted_by_backup": 2, "rejected": 0,
        "delivered_once": 3, "lost": 0, "duplicated": 0, "redelivered_after_fault": 0, "over_tls": 0, "queued": 0,
    }


def test_lost_duplicated_and_misplaced_probes_are_named() -> None:
    local = "mx2:/var/mail/vhosts (local ext4)"
    record = recorded([("p1", "mx1", SHARED, 2), ("p3", "mx2", local, 1)], home=SHARED)
    verdict = checker.check_delivered_once(record)
    assert verdict.status == "fail"
    assert "lost 1: p2" in verdict.detail
    assert "duplicated 1: p1 ×2" in verdict.detail
    assert "p3 in ['mx2:/var/mail/vhosts (local ext4)']" in verdict.detail


def test_no_mailbox_read_is_unknown_not_pass() -> None:
    assert checker.check_delivered_once(recorded([])).status == "unknown"


def test_failover_and_drain_seconds() -> None:
    record = recorded([])
    assert checker.failover_seconds(record) == pytest.approx(1.5)  # fault at 10, backup accepted at 11.5
    assert checker.drain_seconds(record) == pytest.approx(1.0)  # healed at 20, last backup probe at 21


def test_history_is_written_through_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path=path, clock=lambda: 5.0)
    history.append("probe.sent", probe="p1", phase="before")
    assert path.read_text().count("\n") == 1  # on disk before anybody asks
    again = History.from_jsonl(path)
    assert again.events == history.events


def two_overlapping_scenarios() -> History:
    """Two drills of one run whose events interleave: A's outage spans all of B's."""
    timeline = [
        (0, "A", Kind.FAULT_INJECTED, None, {}), (1, "A", Kind.PROBE_ACCEPTED, "a1", {"role": "backup"}),
        (50, "B", Kind.FAULT_INJECTED, None, {}), (51, "B", Kind.PROBE_ACCEPTED, "b1", {"role": "backup"}),
        (60, "B", Kind.FAULT_HEALED, None, {}), (62, "B", Kind.PROBE_DELIVERED, "b1", {}),
        (100, "A", Kind.FAULT_HEALED, None, {}), (101, "A", Kind.PROBE_DELIVERED, "a1", {}),
        (102, "A", Kind.STORE_HOME, None, {"location": SHARED}),
        (102, "A", Kind.PROBE_FOUND, "a1", {"location": SHARED, "count": 1}),
        (103, "B", Kind.STORE_HOME, None, {"location": SHARED}),
        (103, "B", Kind.PROBE_FOUND, "b1", {"location": SHARED, "count": 2}),
    ]
    times = iter([t for t, *_ in [(0, "A"), (0, "B")] + timeline])
    history = History(clock=lambda: float(next(times)))
    history.record("A").append(Kind.PROBE_SENT, probe="a1", message_id="a1@x", phase="outage")
    history.record("B").append(Kind.PROBE_SENT, probe="b1", message_id="b1@x", phase="outage")
    for _time, scenario, kind, probe, data in timeline:
        history.record(scenario).append(kind, probe=probe, host="mx1", **data)
    return history


def test_each_scenario_is_judged_on_its_own_record_only() -> None:
    history = two_overlapping_scenarios()
    first, second = history.record("A"), history.record("B")
    assert history.scenarios() == ["A", "B"]
    assert (checker.failover_seconds(first), checker.drain_seconds(first)) == (1.0, 1.0)
    assert (checker.failover_seconds(second), checker.drain_seconds(second)) == (1.0, 2.0)
    assert checker.expected_probes(first) == ["a1"] and checker.expected_probes(second) == ["b1"]
    assert checker.check_delivered_once(first).status == "pass"
    assert checker.check_delivered_once(second).detail.startswith("duplicated 1: b1 ×2")
    assert checker.ledger(first)["sent"] == 1 and checker.ledger(second)["duplicated"] == 1


def test_a_recorded_history_file_is_judged_the_same_after_reading_it_back(tmp_path: Path) -> None:
    history = two_overlapping_scenarios()
    path = tmp_path / "history.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in history.events))
    again = History.from_jsonl(path)
    assert again.events == history.events
    assert checker.drain_seconds(again.record("B")) == 2.0


def test_step_outcomes_prefer_the_call_and_keep_a_setup_skip() -> None:
    record = History().record("A")
    record.append(Kind.STEP_END, step="preflight", when="call", outcome="passed")
    record.append(Kind.STEP_END, step="preflight", when="teardown", outcome="failed")
    record.append(Kind.STEP_END, step="stopped", when="setup", outcome="skipped")
    record.append(Kind.STEP_END, step="drained", when="call", outcome="failed")
    assert checker.step_outcomes(record) == {"preflight": "passed", "stopped": "skipped", "drained": "failed"}
    verdict = checker.scenario_verdict(record)
    assert verdict.status == "fail" and verdict.detail == "failed steps: drained; no probe was sent"


def test_a_failure_of_many_probes_is_one_line_with_the_count_and_the_first_ten() -> None:
    from mxdrill.drill import BackupEvidence, first_ten

    tokens = [f"p{n:03d}" for n in range(300)]
    assert first_ten(tokens) == ", ".join(tokens[:10]) + ", … and 290 more"
    assert first_ten(tokens[:3]) == "p000, p001, p002"
    evidence = BackupEvidence(queues=True)
    evidence.not_queued = tokens
    assert evidence.problems() == [f"queue (postqueue -j) lacks 300: {', '.join(tokens[:10])}, … and 290 more"]


def test_a_second_copy_of_a_probe_the_stop_caught_in_flight_is_named_but_is_no_failure() -> None:
    """Under --load, `postfix stop` can kill virtual(8) after it wrote the Maildir file and before the
    queue entry went: Postfix delivers it again after the restart (it would rather duplicate than lose)."""
    history = History(clock=iter([0, 1, 9.6, 10, 11.2, 12, 20, 30, 30, 30]).__next__)
    record = history.record("mx1->mx2:stop")
    for token in ("p1", "p2"):
        record.append(Kind.PROBE_SENT, probe=token, message_id=f"{token}@x", phase="load")
    record.append(Kind.PROBE_ACCEPTED, probe="p1", host="mx1", role="primary")  # 9.6: 0.4 s before the stop
    record.append(Kind.FAULT_INJECTED, host="mx1")
    record.append(Kind.WAIT, host="mx1", what="stop: in place", seconds=1.2)
    record.append(Kind.PROBE_ACCEPTED, probe="p2", host="mx2", role="backup")
    record.append(Kind.FAULT_HEALED, host="mx1")
    for token, count in (("p1", 2), ("p2", 1)):
        record.append(Kind.PROBE_FOUND, probe=token, host="mx1", location=SHARED, count=count)
    verdict = checker.check_delivered_once(record)
    assert verdict.status == "pass" and "1 of them twice" in verdict.detail and verdict.detail.endswith(": p1")
    assert checker.ledger(record)["redelivered_after_fault"] == 1


def test_a_probe_whose_session_the_kill_cut_before_its_250_arrives_twice_and_is_named_so() -> None:
    """RFC 1047: mx1 had queued it when the kill cut the session; the sender sent it again to mx2."""
    history = History(clock=iter([0, 10, 10.15, 10.17, 10.18, 20, 30, 30]).__next__)
    record = history.record("mx1->mx2:kill")
    record.append(Kind.PROBE_SENT, probe="p1", message_id="p1@x", phase="load")
    record.append(Kind.FAULT_INJECTED, host="mx1")
    record.append(Kind.PROBE_REJECTED, probe="p1", host="mx1", role="primary", code=None,
                  message="SMTPServerDisconnected: Unexpected EOF received", outcome="unreachable")
    record.append(Kind.PROBE_ACCEPTED, probe="p1", host="mx2", role="backup")
    record.append(Kind.WAIT, host="mx1", what="kill: in place", seconds=0.18)
    record.append(Kind.FAULT_HEALED, host="mx1")
    record.append(Kind.PROBE_FOUND, probe="p1", host="mx1", location=SHARED, count=2)
    verdict = checker.check_delivered_once(record)
    assert verdict.status == "pass" and "a 250 the sender never got" in verdict.detail
