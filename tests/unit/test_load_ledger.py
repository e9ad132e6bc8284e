"""The load stream on a fake SMTP client, and the ledger on recorded histories of 10,000 probes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from mxdrill import checker, smtp
from mxdrill.history import History, Kind, Record
from mxdrill.load import DeadAddresses, LoadSettings, LoadStream

MX1 = smtp.MxTarget(10, "mx1.example.test", "198.51.100.11", "mx1")
MX2 = smtp.MxTarget(20, "mx2.example.test", "198.51.100.12", "mx2")


def attempt(target: smtp.MxTarget, outcome: str) -> smtp.Attempt:
    return smtp.Attempt(target, outcome, 250 if outcome == "accepted" else None, "ok", time.time(), 0.0)  # type: ignore[arg-type]


class FakeSender:
    """Delivers like `smtp.deliver`, MX by MX, with `down` addresses unreachable; counts what is in flight."""

    def __init__(self, down: set[str] | None = None, refuse_first: int = 0) -> None:
        self.down = down or set()
        self.refuse_first = refuse_first  # the first N deliveries find every MX unreachable
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.tried: Counter[str] = Counter()

    async def __call__(self, probe: smtp.Probe, targets: list[smtp.MxTarget]) -> smtp.Delivery:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        delivery = smtp.Delivery(probe)
        all_down = self.calls <= self.refuse_first
        for target in targets:
            self.tried[target.address] += 1
            down = all_down or target.address in self.down
            delivery.attempts.append(attempt(target, "unreachable" if down else "accepted"))
            if not down:
                break
        self.in_flight -= 1
        return delivery


def stream(sender: FakeSender, count: int, concurrency: int = 5, **kwargs: float) -> tuple[LoadStream, list[str], list[smtp.Delivery]]:
    sent: list[str] = []
    deliveries: list[smtp.Delivery] = []
    load = LoadStream(
        LoadSettings(count, concurrency=concurrency),
        lambda n: smtp.make_probe("run", 100_000 + n, "probe@example.test", smtp.HARNESS_SENDER, "load"),
        sender, lambda: [MX1, MX2], lambda p: sent.append(p.token), deliveries.append, **kwargs)
    return load, sent, deliveries


def test_every_probe_is_sent_once_and_no_more_than_the_concurrency_are_in_flight() -> None:
    sender = FakeSender()
    load, sent, deliveries = stream(sender, 300, concurrency=7)
    load.start()
    assert load.finish(30.0)
    assert len(sent) == len(set(sent)) == 300
    assert sender.most_in_flight <= 7
    assert all(d.accepted and d.accepted.target == MX1 for d in deliveries)


def test_a_probe_no_mx_took_is_retried_like_a_senders_queue_until_one_takes_it() -> None:
    sender = FakeSender(refuse_first=4)
    load, sent, deliveries = stream(sender, 3, concurrency=1, retry_seconds=0.01)
    load.start()
    assert load.finish(30.0)
    assert len(sent) == 3 and sender.calls == 3 + 4
    assert sum(1 for d in deliveries if d.accepted) == 3


def test_an_unreachable_mx_is_skipped_for_a_while_so_a_blackhole_costs_one_timeout_not_one_per_probe() -> None:
    sender = FakeSender(down={MX1.address})
    load, _sent, deliveries = stream(sender, 50, concurrency=1, dead_seconds=60.0)
    load.start()
    assert load.finish(30.0)
    assert sender.tried[MX1.address] == 1 and sender.tried[MX2.address] == 50
    assert all(d.accepted and d.accepted.target == MX2 for d in deliveries)


def test_when_every_mx_is_marked_dead_all_are_tried_again() -> None:
    dead = DeadAddresses(60.0, {MX1.address: time.monotonic() + 60, MX2.address: time.monotonic() + 60})
    assert dead.alive([MX1, MX2]) == [MX1, MX2]


def test_stopping_the_stream_sends_nothing_more() -> None:
    sender = FakeSender(down={MX1.address, MX2.address})
    load, sent, _ = stream(sender, 1000, concurrency=2, retry_seconds=0.05)
    load.start()
    time.sleep(0.2)
    load.stop()
    assert not load.running and len(sent) <= 2
    assert load.share_sent(1.0), "a stream that ended counts as sent: nothing waits for it forever"


# --- the ledger on recorded histories -------------------------------------------------------------

PROBES = 10_000


def load_history(lost: set[int], duplicated: set[int], never_taken: set[int]) -> Record:
    """10,000 probes, one every 10 ms; the primary faulted at probe 3,333 and healed at probe 6,666;
    during the fault the backup (relaying) takes and queues them."""
    now = [0.0]
    history = History(clock=lambda: now[0])
    record = history.record("mx1->mx2:stop")
    record.append(Kind.SCENARIO, primary="mx1", backup="mx2", fault="stop", faulted=["mx1"])
    for n in range(1, PROBES + 1):
        now[0] = n * 0.01
        token = f"mxdrill-run-{100_000 + n}"
        if n == 3333:
            record.append(Kind.FAULT_INJECTED, host="mx1", fault="stop", plan="postfix stop")
        if n == 6666:
            record.append(Kind.FAULT_HEALED, host="mx1", fault="stop", deadman_cancelled=True)
        record.append(Kind.PROBE_SENT, probe=token, message_id=f"{token}@mxdrill.probe", phase="load", via="harness")
        if n in never_taken:
            record.append(Kind.PROBE_REJECTED, probe=token, host="mx1", role="primary", code=None, message="", outcome="unreachable")
            continue
        role, host = ("backup", "mx2") if 3333 <= n < 6666 else ("primary", "mx1")
        record.append(Kind.PROBE_ACCEPTED, probe=token, host=host, role=role, queue_id=f"Q{n}", reply="250", tls="TLSv1.3")
        if role == "backup":
            record.append(Kind.PROBE_QUEUED, probe=token, host="mx2", queue_id=f"Q{n}", queue_name="deferred", reason="")
    now[0] += 1
    record.append(Kind.STORE_HOME, host="mx1", location="storage:/srv/vhosts")
    for n in range(1, PROBES + 1):
        if n not in lost and n not in never_taken:
            copies = 2 if n in duplicated else 1
            record.append(Kind.PROBE_FOUND, probe=f"mxdrill-run-{100_000 + n}", host="mx1",
                          location="storage:/srv/vhosts", count=copies, path="/x")
    return record


def test_the_ledger_of_10000_probes_counts_each_outcome_and_each_stage() -> None:
    record = load_history(lost={5, 4000, 9000}, duplicated={7, 8}, never_taken={9999})
    counts = checker.ledger(record)
    assert counts["sent"] == PROBES
    assert counts["accepted_by_backup"] == 6666 - 3333 and counts["queued"] == 3333
    assert counts["lost"] == 3 and counts["duplicated"] == 2 and counts["rejected"] == 1
    assert counts["delivered_once"] == PROBES - 3 - 2 - 1
    rows = checker.probe_ledger(record)
    assert len(rows) == PROBES and rows[0]["probe"] == "mxdrill-run-100001"
    assert Counter(r["stage"] for r in rows) == {"before": 3332, "during": 3333, "after": 3335}
    assert Counter(r["outcome"] for r in rows) == {"delivered once": PROBES - 6, "lost": 3, "duplicated": 2, "never taken": 1}
    during = next(r for r in rows if r["stage"] == "during")
    assert during["taken_by"] == "mx2" and during["queued"] and during["attempts"] == 1 and during["copies"] == 1


def test_a_large_failure_is_one_line_of_counts_and_the_first_ten_tokens() -> None:
    lost = set(range(100, 150))
    verdict = checker.check_delivered_once(load_history(lost=lost, duplicated=set(), never_taken=set()))
    assert verdict.status == "fail"
    assert verdict.detail.startswith("lost 50: mxdrill-run-100100, ")
    assert "mxdrill-run-100109, … and 40 more" in verdict.detail and "mxdrill-run-100110" not in verdict.detail
    assert "\n" not in verdict.detail


def test_a_clean_10000_probe_run_passes() -> None:
    record = load_history(lost=set(), duplicated=set(), never_taken=set())
    assert checker.check_delivered_once(record).status == "pass"
    assert checker.ledger(record)["delivered_once"] == PROBES
