"""Benchmark: the --load stream's injection rate against Postfix's own smtp-source, and the ledger's cost.

    .venv/bin/python benchmarks/load.py [--messages 1000] [--runs 3] [--profile]

Issue 13, item 5. A load stream is only a test of failover if it pushes mail at a rate a real sender
would; and its verdict is only useful if checking 10,000 probes takes seconds, not minutes. So, with
the lab up (`mxdrill lab up`), this benchmark:
- sends `--messages` mails to the lab's mx1 (198.51.100.11:25, probe@example.test) three ways, each
  `--runs` times, and prints the medians: Postfix's `smtp-source -s 20` (C, one connection per mail,
  no TLS), then mxdrill's load stream exactly as the drill wires it (`LoadStream` over `smtp.deliver`,
  20 in flight, events written through to a history.jsonl) with STARTTLS as the drill sends
  (`starttls-opportunistic`) and in clear (`tls="none"`, like for like with smtp-source). Every mail
  is about the size of a probe (`smtp.build_message`); smtp-source's payload is sized to match;
- after each sender, waits until every mail is in probe@example.test's Maildir on the storage host
  (the drain: seconds after the last one was accepted), then removes exactly this run's mails (each
  carries the run id), so the mailbox is left as it was and one sender's backlog never slows the next;
- times the pure checkers (`ledger`, `check_delivered_once`, `probe_ledger`, `scenario_verdict`) over
  recorded histories of 1,000 and 10,000 load probes (goal: <= 5 s for 1,000).
`--profile` also runs one clear-text mxdrill injection under cProfile and prints where its time goes.
Traffic stays bounded: at most 10,000 mails per sender, each step with a deadline, only to the lab.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import json
import pstats
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from mxdrill import checker, smtp
from mxdrill.history import History, Kind, Record
from mxdrill.load import SEQUENCE_BASE, LoadSettings, LoadStream

REPO = Path(__file__).resolve().parents[1]
SMTP_SOURCE = "/usr/sbin/smtp-source"
MX1 = smtp.MxTarget(10, "mx1.example.test", "198.51.100.11", "mx1")
RECIPIENT = "probe@example.test"
MAILBOX = "/srv/vhosts/example.test/probe"
CONCURRENCY = smtp.MX_CONCURRENCY  # Postfix's default_destination_concurrency_limit, smtp-source -s
MAX_MESSAGES = 10_000
DEADLINE = 180.0  # seconds for any one injection or drain: a stuck lab fails the benchmark, never hangs it

# Run on the storage host: wait until the Maildir holds `want` files, print when that was (epoch seconds).
WAIT = r"""
import os, sys, time, json
box, want, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
def count():
    return sum(len(os.listdir(os.path.join(box, d))) for d in ("new", "cur"))
n = count()
while n < want and time.time() < deadline:
    time.sleep(0.02)
    n = count()
print(json.dumps({"count": n, "at": time.time()}))
"""
# Run on the storage host: list the Maildir's names into a file (argv 2) before the benchmark's first mail.
SNAPSHOT = r"""
import os, sys
box, keep = sys.argv[1], sys.argv[2]
names = [n for d in ("new", "cur") for n in os.listdir(os.path.join(box, d))]
with open(keep, "w") as handle:
    handle.write("\n".join(names))
print(len(names))
"""
# Run on the storage host: remove the mails of this run (their text holds the run id) that are not in
# the snapshot taken before the benchmark began; print what was removed and what was left.
CLEAN = r"""
import os, sys, json
box, marker, keep = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
with open(keep) as handle:
    before = set(handle.read().split())
removed = foreign = 0
for sub in ("new", "cur"):
    folder = os.path.join(box, sub)
    for name in os.listdir(folder):
        if name in before:
            continue
        path = os.path.join(folder, name)
        with open(path, "rb") as handle:
            ours = marker in handle.read()
        if ours:
            os.unlink(path)
            removed += 1
        else:
            foreign += 1
print(json.dumps({"removed": removed, "foreign": foreign}))
"""


@dataclass
class Injection:
    """One sender's run: how long the mails took to be accepted, and how long to land after that."""

    seconds: float
    cpu: float  # the sender's own CPU seconds: on 2 cores shared with the lab's Postfix, it is Postfix's loss
    drain: float
    detail: str = ""


# --- the storage host ----------------------------------------------------------------------------


def on_storage(*argv: str) -> str:
    """A command inside the lab host `storage` (where the Maildir is), its stdout; a failure stops the benchmark."""
    result = subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "exec", "storage", "--", *argv], cwd=REPO,
                            capture_output=True, text=True, timeout=DEADLINE + 30, check=False)
    if result.returncode != 0:
        sys.exit(f"on storage, {argv[:2]} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout


def snapshot_mailbox(keep: str) -> int:
    """Note the Maildir's names now (in a file on the storage host: 50,000 names are too long for one
    argument), so the cleanup never removes a mail that was there before, whatever it holds."""
    return int(on_storage("python3", "-c", SNAPSHOT, MAILBOX, keep))


def wait_for_mailbox(want: int, accepted_at: float) -> float:
    """Seconds from `accepted_at` (the last mail accepted) until the Maildir held `want` files: the drain.
    The count is polled on the storage host itself, 50 times a second, so the drain is not rounded up by
    the ~0.2 s each `lab exec` costs."""
    seen = json.loads(on_storage("python3", "-c", WAIT, MAILBOX, str(want), str(DEADLINE)))
    if seen["count"] < want:
        sys.exit(f"only {seen['count']} of {want} mails reached {MAILBOX} within {DEADLINE:g}s")
    return max(seen["at"] - accepted_at, 0.0)


def clean_mailbox(run_id: str, keep: str) -> int:
    """Remove this run's mails (each holds the run id); the names in the snapshot `keep` are kept."""
    outcome = json.loads(on_storage("python3", "-c", CLEAN, MAILBOX, run_id, keep))
    if outcome["foreign"]:
        print(f"  note: {outcome['foreign']} new mails without this run's id were left in {MAILBOX}")
    return int(outcome["removed"])


# --- the senders ---------------------------------------------------------------------------------


def probe_size(run_id: str) -> int:
    """Bytes of one load probe as aiosmtplib puts it on the wire (CRLF line ends, before dot-stuffing)."""
    probe = smtp.make_probe(run_id, SEQUENCE_BASE + 1, RECIPIENT, smtp.HARNESS_SENDER, "load")
    message = smtp.build_message(probe)
    return len(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))


def smtp_source_payload(total: int, subject: str) -> int:
    """smtp-source's -l counts only the payload; it writes From, To, Date, Message-Id and Subject itself.
    Take those off so both senders put the same number of bytes per mail on the wire."""
    headers = (f"From: <{smtp.HARNESS_SENDER}>\r\nTo: <{RECIPIENT}>\r\nDate: {formatdate(usegmt=True)}\r\n"
               f"Message-Id: <0000.0000.0000@localhost>\r\nSubject: {subject}\r\n\r\n")
    return max(total - len(headers), 1)


def cpu_seconds(who: int) -> float:
    """User + system CPU of this process (RUSAGE_SELF: the stream's thread too) or its ended children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_smtp_source(count: int, size: int, subject: str) -> tuple[float, float]:
    """Postfix's smtp-source, from the machine (the lab bridge's address, which mx1 accepts mail from):
    20 sessions, one connection per mail, no TLS. Seconds until the last mail was accepted, and its CPU."""
    command = [SMTP_SOURCE, "-s", str(CONCURRENCY), "-m", str(count), "-l", str(size), "-S", subject,
               "-f", smtp.HARNESS_SENDER, "-t", RECIPIENT, f"{MX1.address}:25"]
    cpu, started = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"smtp-source failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-500:]}")
    return seconds, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu


def load_stream(count: int, tls: smtp.TlsMode, make: Callable[[int], smtp.Probe],
                record: Record) -> tuple[LoadStream, Counter[str]]:
    """The drill's load stream (`Drill.start_load`): LoadStream over the real SMTP client, each probe's
    sending and every attempt appended to the run's history as the drill does, so their cost counts too."""
    outcomes: Counter[str] = Counter()

    def sent(probe: smtp.Probe) -> None:
        record.append(Kind.PROBE_SENT, probe=probe.token, message_id=probe.message_id, phase="load", via="harness")

    def delivered(delivery: smtp.Delivery) -> None:
        for attempt in delivery.attempts:
            outcomes[attempt.outcome + (f" over {attempt.tls}" if attempt.tls else "")] += 1
            if attempt.outcome == "accepted":
                record.append(Kind.PROBE_ACCEPTED, probe=delivery.probe.token, host=attempt.target.host, role="primary",
                              queue_id=delivery.queue_id, reply=attempt.reply, tls=attempt.tls)
            else:
                record.append(Kind.PROBE_REJECTED, probe=delivery.probe.token, host=attempt.target.host, role="primary",
                              code=attempt.code, message=attempt.reply, outcome=attempt.outcome)

    deliver = functools.partial(smtp.deliver, helo=smtp.HARNESS_HELO, tls=tls)
    stream = LoadStream(LoadSettings(count, concurrency=CONCURRENCY), make, deliver, lambda: [MX1], sent, delivered)
    return stream, outcomes


def run_mxdrill(count: int, tls: smtp.TlsMode, make: Callable[[int], smtp.Probe], history: Path) -> tuple[float, float, str]:
    """One load stream to mx1; seconds until every probe was taken, its CPU, and the attempts' outcomes."""
    stream, outcomes = load_stream(count, tls, make, History(path=history).record("load-benchmark"))
    cpu, started = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
    stream.start()
    ended = stream.finish(DEADLINE)
    seconds, cpu = time.perf_counter() - started, cpu_seconds(resource.RUSAGE_SELF) - cpu
    stream.stop()
    if not ended or stream.settled != count:
        sys.exit(f"the load stream did not end within {DEADLINE:g}s: {stream.sent} sent, {stream.settled} settled")
    return seconds, cpu, ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))


def profile_mxdrill(count: int, make: Callable[[int], smtp.Probe], history: Path) -> str:
    """Where a clear-text load stream's time goes. cProfile sees only its own thread, so the stream's
    coroutine is run here in the main thread (what `LoadStream._main` does in its own)."""
    stream, _ = load_stream(count, "none", make, History(path=history).record("load-benchmark"))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(asyncio.run, stream._run())
    wall = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(r"mxdrill|aiosmtplib|email", 22)
    return (f"profiled clear-text stream: {count} probes in {wall:.2f}s wall ({count / wall:.0f}/s under the profiler; "
            f"a coroutine's ncalls counts its resumptions)\n" + out.getvalue())


def tls_context_ms() -> float:
    """What aiosmtplib 5 does on every STARTTLS connection that is given no `tls_context`
    (`SMTP._build_tls_context`, in a worker thread): build a fresh default SSLContext, which reads and
    parses the system's whole CA store. cProfile cannot see it (another thread), so time it alone."""
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    return (time.perf_counter() - started) / runs * 1000


# --- the ledger ----------------------------------------------------------------------------------


def load_history(probes: int) -> Record:
    """A recorded drill of `probes` load probes, in the shape of tests/unit/test_load_ledger.py's: one every
    10 ms, mx1 stopped at a third and healed at two thirds, the backup (relaying) takes and queues the
    outage's probes, and every probe found once in the shared store."""
    now = [0.0]
    record = History(clock=lambda: now[0]).record("mx1->mx2:stop")
    record.append(Kind.SCENARIO, primary="mx1", backup="mx2", fault="stop", faulted=["mx1"])
    fault, heal = probes // 3, 2 * probes // 3
    for n in range(1, probes + 1):
        now[0] = n * 0.01
        token = f"mxdrill-run-{SEQUENCE_BASE + n}"
        if n == fault:
            record.append(Kind.FAULT_INJECTED, host="mx1", fault="stop", plan="postfix stop")
        if n == heal:
            record.append(Kind.FAULT_HEALED, host="mx1", fault="stop", deadman_cancelled=True)
        record.append(Kind.PROBE_SENT, probe=token, message_id=f"{token}@mxdrill.probe", phase="load", via="harness")
        role, host = ("backup", "mx2") if fault <= n < heal else ("primary", "mx1")
        if role == "backup":
            record.append(Kind.PROBE_REJECTED, probe=token, host="mx1", role="primary", code=None, message="",
                          outcome="unreachable")
        record.append(Kind.PROBE_ACCEPTED, probe=token, host=host, role=role, queue_id=f"Q{n}", reply="250", tls="TLSv1.3")
        if role == "backup":
            record.append(Kind.PROBE_QUEUED, probe=token, host="mx2", queue_id=f"Q{n}", queue_name="deferred", reason="")
    now[0] += 1
    record.append(Kind.STORE_HOME, host="mx1", location="storage:/srv/vhosts")
    for n in range(1, probes + 1):
        record.append(Kind.PROBE_FOUND, probe=f"mxdrill-run-{SEQUENCE_BASE + n}", host="mx1",
                      location="storage:/srv/vhosts", count=1, path="/x")
    return record


def verification_seconds(record: Record) -> float:
    """What the drill's verdict reads of a load run: the counts, the delivered-once check, the per-probe
    ledger (reports/ledger.csv) and the scenario's verdict."""
    started = time.perf_counter()
    counts = checker.ledger(record)
    verdict = checker.check_delivered_once(record)
    rows = checker.probe_ledger(record)
    scenario = checker.scenario_verdict(record)
    seconds = time.perf_counter() - started
    wanted = counts["sent"]
    assert verdict.status == scenario.status == "pass" and len(rows) == wanted == counts["delivered_once"], (verdict, counts)
    return seconds


# --- the run -------------------------------------------------------------------------------------


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:6.0f} msg/s ({seconds:.2f}s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help=f"mails per sender per run (at most {MAX_MESSAGES})")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one clear-text mxdrill stream")
    args = parser.parse_args()
    if not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--messages must be 1..{MAX_MESSAGES}: the lab's mx1 is a real Postfix on this machine's 2 cores")
    count = args.messages
    run_id = smtp.new_run_id()
    subject = f"mxdrill benchmark {run_id}"
    size = probe_size(run_id)
    payload = smtp_source_payload(size, subject)
    keep = f"/tmp/mxdrill-load-{run_id}.names"  # the storage host's own /tmp
    before = snapshot_mailbox(keep)
    print(f"run {run_id}: {count} mails per sender, {CONCURRENCY} at once, to {MX1.name} [{MX1.address}]:25; "
          f"probe {size} B, smtp-source -l {payload} (+ its own headers); {before} mails already in the mailbox")

    sequence = [0]

    def next_stream() -> Callable[[int], smtp.Probe]:
        """Probes of a fresh block of sequence numbers: tokens mxdrill-<run>-<n> never repeat within the run."""
        sequence[0] += 1
        base = sequence[0] * 1_000_000 + SEQUENCE_BASE
        return lambda n: smtp.make_probe(run_id, base + n, RECIPIENT, smtp.HARNESS_SENDER, "load")

    results: dict[str, list[Injection]] = {"smtp-source": [], "mxdrill STARTTLS": [], "mxdrill clear": []}
    with tempfile.TemporaryDirectory(prefix="mxdrill-load-") as tmp:
        try:
            for run in range(1, args.runs + 1):
                for name in results:
                    landed = before
                    if name == "smtp-source":
                        (seconds, cpu), detail = run_smtp_source(count, payload, subject), ""
                    else:
                        tls: smtp.TlsMode = "none" if name == "mxdrill clear" else "starttls-opportunistic"
                        seconds, cpu, detail = run_mxdrill(count, tls, next_stream(), Path(tmp) / f"history-{run}-{tls}.jsonl")
                    drain = wait_for_mailbox(landed + count, time.time())
                    removed = clean_mailbox(run_id, keep)
                    results[name].append(Injection(seconds, cpu, drain, detail))
                    print(f"  run {run} {name:17} {rate(count, seconds)}, sender CPU {cpu / count * 1000:.2f} ms/mail, "
                          f"drained {drain:.2f}s after, removed {removed}"
                          + (f"; attempts: {detail}" if detail else ""))
            if args.profile:
                print(profile_mxdrill(count, next_stream(), Path(tmp) / "history-profile.jsonl"))
                print(f"a fresh default SSLContext (aiosmtplib, per STARTTLS connection): {tls_context_ms():.1f} ms\n")
                wait_for_mailbox(before + count, time.time())
                clean_mailbox(run_id, keep)
        finally:
            left = clean_mailbox(run_id, keep)
            after = snapshot_mailbox(keep)
            on_storage("rm", "-f", keep)
            print(f"mailbox: {after} mails after the benchmark ({before} before)"
                  + (f", {left} stragglers removed" if left else ""))

    medians = {name: statistics.median(r.seconds for r in runs) for name, runs in results.items()}
    print(f"\ninjection, median of {args.runs} runs of {count} mails ({CONCURRENCY} in flight, ~{size} B each):")
    for name, seconds in medians.items():
        drain = statistics.median(r.drain for r in results[name])
        cpu = statistics.median(r.cpu for r in results[name]) / count * 1000
        print(f"  {name:17} {rate(count, seconds)}   sender CPU {cpu:5.2f} ms/mail   drain after the last accept: {drain:.2f}s")
    source = medians["smtp-source"]
    print(f"  ratio mxdrill / smtp-source: clear (like for like) {source / medians['mxdrill clear']:.2f}, "
          f"with STARTTLS (as the drill sends) {source / medians['mxdrill STARTTLS']:.2f}")

    print(f"\nledger verification (ledger, check_delivered_once, probe_ledger, scenario_verdict), median of {args.runs}:")
    for probes in (1_000, 10_000):
        record = load_history(probes)
        seconds = statistics.median(verification_seconds(record) for _ in range(args.runs))
        goal = "  (goal <= 5 s)" if probes == 1_000 else ""
        print(f"  {probes:6,} probes ({len(record.events):,} events): {seconds:.3f}s{goal}")


if __name__ == "__main__":
    main()
