"""Waiting with a deadline, and telling the operator what the drill is waiting for.

Every wait in the drill is a poll of a cheap, bounded check against a deadline (never a fixed sleep).
While a wait lasts longer than a second, the progress sink (the plugin's terminal line) is told what
is awaited, on which host, and how long remains until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressSink = Callable[[str], None]
_sink: ProgressSink | None = None


def set_progress_sink(sink: ProgressSink | None) -> None:
    global _sink
    _sink = sink


def poll_until(condition: Callable[[], object], seconds: float, what: str, interval: float = 0.05) -> tuple[bool, float]:
    """(held, waited): poll `condition` until it is truthy or `seconds` pass."""
    start = time.monotonic()
    last_report = start
    while True:
        if condition():
            return True, time.monotonic() - start
        now = time.monotonic()
        if now - start > seconds:
            return False, now - start
        if _sink is not None and now - last_report >= 1.0:
            last_report = now
            _sink(f"waiting for {what}: {now - start:.0f}s so far, deadline in {seconds - (now - start):.0f}s")
        time.sleep(interval)
