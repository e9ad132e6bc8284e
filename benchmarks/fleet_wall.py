"""Benchmark: a fleet's drills on one worker and on several (pytest-xdist), on the lab of N domains.

    sudo .venv/bin/python benchmarks/fleet_wall.py [--domains 4] [--runs 3] [--workers 1 4]

Brings the lab up with `--domains N`, writes its fleet inventory into a user directory, and runs
`pytest --hosts=hosts.yml -n W --dist loadgroup --require-drill` there like a user, W workers at a
time; prints the median wall time per W. The lab goes back to one domain at the end.
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
MXDRILL = [sys.executable, "-m", "mxdrill.cli"]


def one_run(directory: Path, workers: int) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "--hosts=hosts.yml", "-p", "no:cacheprovider", "-q",
                             "-n", str(workers), "--dist", "loadgroup", "--require-drill"],
                            cwd=directory, capture_output=True, text=True, check=False, timeout=900)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the fleet drill failed with -n {workers}:\n{result.stdout[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    subprocess.run([*MXDRILL, "lab", "up", "--domains", str(args.domains)], cwd=REPO, check=True, capture_output=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            subprocess.run([*MXDRILL, "lab", "inventory", "--output", str(directory / "hosts.yml")], cwd=REPO, check=True,
                           capture_output=True)
            print(f"| workers | median wall s over {args.runs} runs ({args.domains} domains, one drill each) | runs |")
            print("|---|---|---|")
            for workers in args.workers:
                walls = [one_run(directory, workers) for _ in range(args.runs)]
                print(f"| {workers} | {statistics.median(walls):.2f} | {', '.join(f'{w:.2f}' for w in walls)} |")
    finally:
        subprocess.run([*MXDRILL, "lab", "up"], cwd=REPO, check=False, capture_output=True)


if __name__ == "__main__":
    main()
