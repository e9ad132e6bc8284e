"""Deadline polling tells the operator what it waits for, and never waits past its deadline."""

from __future__ import annotations

from mxdrill import waiting


def test_poll_until_returns_as_soon_as_the_condition_holds() -> None:
    calls = iter([False, False, True])
    held, _ = waiting.poll_until(lambda: next(calls), 5, "x", interval=0.001)
    assert held


def test_a_long_wait_reports_what_and_the_deadline() -> None:
    lines: list[str] = []
    waiting.set_progress_sink(lines.append)
    try:
        held, waited = waiting.poll_until(lambda: False, 1.2, "mx2's queue to drain", interval=0.01)
    finally:
        waiting.set_progress_sink(None)
    assert not held and waited >= 1.2
    assert lines and lines[0].startswith("waiting for mx2's queue to drain:") and "deadline in" in lines[0]
