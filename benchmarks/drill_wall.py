"""Benchmark: wall time of the whole drill on the lab, split into the MTAs' own waits and the harness's overhead.

    sudo .venv/bin/python benchmarks/drill_wall.py [--runs 5] [--topology shared|relay]

Runs `pytest --hosts=hosts.yml -k TestFailover` (the drill alone) like a user. "MTA waits" sums the `wait`
events of the history (Postfix stopping and starting, the backup's queue and log catching up, the drain,
the last deliveries); everything else — Python and pytest start-up, SSH, SMTP, scans — is overhead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(reports: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--hosts=hosts.yml", f"--reports={reports}", "-p", "no:cacheprovider", "-q",
         "-k", "TestFailover"], cwd=REPO, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the drill failed:\n{result.stdout[-2000:]}")
    events = [json.loads(line) for line in (reports / "latest" / "history.jsonl").read_text().splitlines()]
    waits = sum(e["data"]["seconds"] for e in events if e["kind"] == "wait")
    connections = next((int(line.rsplit(":", 1)[1]) for line in result.stdout.splitlines() if line.startswith("SSH connections opened")), -1)
    return wall, waits, connections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--topology", choices=["shared", "relay"], default="shared")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "up", "--topology", args.topology], cwd=REPO, check=True,
                   capture_output=True)
    runs = [one_run(Path(tempfile.mkdtemp(prefix="mxdrill-bench-"))) for _ in range(args.runs)]
    walls, waits, conns = zip(*runs)
    overhead = [w - m for w, m, _ in runs]
    print(f"topology {args.topology}, {args.runs} runs")
    print(f"whole drill  median {statistics.median(walls):.2f}s (min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"MTA waits    median {statistics.median(waits):.2f}s")
    print(f"overhead     median {statistics.median(overhead):.2f}s (Python + pytest start-up included)")
    print(f"SSH connections per run: {sorted(set(conns))}")


if __name__ == "__main__":
    main()
