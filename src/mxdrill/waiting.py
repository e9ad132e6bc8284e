"""Waiting with a deadline, and telling the operator what the drill is waiting for.

Every wait in mxdrill is a poll of a cheap, bounded check against a deadline (never a fixed sleep),
and this module is the only place that loops: `poll_until` says whether the condition came true,
`wait_for` raises naming what never happened. While a wait lasts longer than a second, the
progress sink (the plugin's terminal line) is told what is awaited and how long remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressSink = Callable[[str], None]
_sink: ProgressSink | None = None


class WaitTimeout(Exception):
    """What the drill waited for did not happen before its deadline; the message names it."""


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


def wait_for(condition: Callable[[], object], seconds: float, what: str, interval: float = 0.05) -> float:
    """Poll until the condition holds; return the seconds it took, or raise WaitTimeout naming `what`."""
    held, waited = poll_until(condition, seconds, what, interval)
    if not held:
        raise WaitTimeout(f"{what} did not happen within {seconds:g}s")
    return waited
