"""The interlock (opt-in or maintenance window) and the dry-run plan."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mxdrill.interlock import disruption_allowed, in_window
from mxdrill.inventory import load_inventory
from mxdrill.plan import plan_lines

REPO = Path(__file__).resolve().parents[2]


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 24, hh, mm, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("window", "now", "inside"),
    [
        ("always", at(12, 0), True),
        ("22:00-02:00", at(23, 30), True),
        ("22:00-02:00", at(1, 59), True),
        ("22:00-02:00", at(2, 0), False),
        ("22:00-02:00", at(12, 0), False),
        ("09:00-17:00", at(9, 0), True),
        ("09:00-17:00", at(17, 0), False),
    ],
)
def test_maintenance_windows_may_wrap_past_midnight(window: str, now: datetime, inside: bool) -> None:
    assert in_window(window, now) is inside


def test_without_opt_in_or_window_disruption_is_refused_with_how_to() -> None:
    allowed, why = disruption_allowed(False, None)
    assert not allowed and "--allow-disruption" in why and "mxdrill_maintenance_window" in why


def test_outside_the_window_says_when_it_is() -> None:
    allowed, why = disruption_allowed(False, "22:00-02:00", at(12, 0))
    assert not allowed and "12:00 UTC" in why and "22:00-02:00" in why


def test_the_flag_wins() -> None:
    assert disruption_allowed(True, "22:00-02:00", at(12, 0))[0]


def test_the_plan_names_commands_hosts_order_and_heals() -> None:
    text = "\n".join(plan_lines(load_inventory(REPO / "hosts.yml"), 3))
    assert "drill 1: mx1.example.test->mx2.example.test:stop" in text
    arm, stop, heal = text.index("arm dead-man"), text.index("then run `service postfix stop`"), text.index("5. heal on")
    assert arm < stop < heal
    assert "( for _ in 1 2 3; do postfix status || exit 1; sleep 0.1; done ) >/dev/null 2>&1 || service postfix start" in text
    assert "postqueue -f" in text
