"""Benchmark: how long `mxdrill lab up` and `down` take, and how much memory the lab uses.

    sudo .venv/bin/python benchmarks/lab_cycle.py [--runs 5] [--init systemd]

cold = `up` with no state directory (keys are generated) right after `down`; warm = `up` after
`down` with the keys kept; noop = `up` on a lab that is already up; with `--init systemd` also
switch = `up --init systemd` on a running default lab (only the MXs and the sender reboot). Memory is
the summed PSS of every process in the lab's namespaces. Prints medians; never asserts (timings are
not tests).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mxdrill.lab import hosts, manager, network
from mxdrill.lab import topology as topo


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def lab_pss_mib() -> float:
    total_kib = 0
    for ns in network.lab_namespaces():
        for pid in hosts.namespace_pids(ns):
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            for line in rollup.splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--init", choices=topo.INITS, default=topo.DEFAULT_INIT)
    args = parser.parse_args()
    quiet = lambda _m: None  # noqa: E731
    init = args.init
    results: dict[str, list[float]] = {"up cold": [], "up warm": [], "up noop": [], "down": []}
    if init != topo.DEFAULT_INIT:
        results["switch"] = []
    memory = []
    for _ in range(args.runs):
        state = Path(tempfile.mkdtemp(prefix="mxdrill-bench-"))
        paths = manager.LabPaths(state)
        manager.down(say=quiet)
        shutil.rmtree(state)
        def up() -> None:
            manager.up("shared", topo.DEFAULT_PREFIX, paths, say=quiet, init=init)

        results["up cold"].append(timed(up))
        results["down"].append(timed(lambda: manager.down(say=quiet)))
        results["up warm"].append(timed(up))
        results["up noop"].append(timed(up))
        time.sleep(1)  # let daemons settle before measuring their memory
        memory.append(lab_pss_mib())
        if "switch" in results:
            manager.up("shared", topo.DEFAULT_PREFIX, paths, say=quiet)
            results["switch"].append(timed(up))
        results["down"].append(timed(lambda: manager.down(say=quiet)))
        shutil.rmtree(state, ignore_errors=True)
    for name, values in results.items():
        print(f"{name:8s} median {statistics.median(values):6.2f}s  min {min(values):6.2f}s  max {max(values):6.2f}s  (n={len(values)})")
    print(f"memory   median {statistics.median(memory):6.1f} MiB PSS for {len(topo.HOSTS)} hosts")


if __name__ == "__main__":
    main()
