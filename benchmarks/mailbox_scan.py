"""Benchmark: the drill's wall time with an empty probe mailbox and with N old messages already in it.

    sudo .venv/bin/python benchmarks/mailbox_scan.py [--messages 50000] [--runs 3]

A real probe mailbox holds years of mail on NFS; the drill must cost what its probes cost, not what
the mailbox holds (issue 13, goal: ratio <= 1.1). The lab must be up (`mxdrill lab up`). The old
messages (4 KiB each, delivered "a day ago": Maildir names and mtimes of yesterday) are written on
the storage host into probe@example.test's cur/, timed with the drill, and removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAILDIR = "/srv/vhosts/example.test/probe/cur"
FILL = r"""
import os, sys, time
n, path = int(sys.argv[1]), sys.argv[2]
os.makedirs(path, exist_ok=True)
old = int(time.time()) - 86400
body = ("Subject: old mail\nMessage-Id: <old-%d@example.test>\n\n" + "x" * 4000 + "\n")
for i in range(n):
    name = os.path.join(path, "%d.M%dP1.storage:2,S" % (old + i // 100, i))
    with open(name, "w") as f:
        f.write(body % i)
    os.utime(name, (old, old))
    os.chown(name, 5000, 5000)
"""


def on_storage(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "exec", "storage", "--", *argv], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)


def drill_seconds(reports: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "--hosts=hosts.yml", f"--reports={reports}", "-p", "no:cacheprovider",
                             "-q", "-k", "TestFailover"], cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"the drill failed:\n{result.stdout[-2000:]}")
    return time.perf_counter() - start


def median_of(runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return statistics.median(drill_seconds(Path(tmp) / f"r{n}") for n in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    empty = median_of(args.runs)
    started = time.perf_counter()
    on_storage("python3", "-c", FILL, str(args.messages), MAILDIR)
    print(f"wrote {args.messages} old messages in {time.perf_counter() - started:.1f}s")
    try:
        full = median_of(args.runs)
    finally:
        on_storage("sh", "-c", f"find {MAILDIR} -name '*.storage:2,S' -delete")
    print(f"drill wall time, median of {args.runs}: empty mailbox {empty:.2f}s, "
          f"{args.messages} messages already in it {full:.2f}s, ratio {full / empty:.2f}")


if __name__ == "__main__":
    main()
