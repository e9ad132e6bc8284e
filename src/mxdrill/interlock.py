"""Whether this run may disrupt anything: an explicit opt-in, or a declared maintenance window.

People run this against production mail. Stopping a primary must never be a default: without
`--allow-disruption` or a maintenance window that covers now, disruptive steps are skipped, with
the reason and how to enable them.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

HOW_TO = "pass --allow-disruption, or declare mxdrill_maintenance_window in the inventory ('22:00-02:00' UTC, or 'always' for a lab)"


def _parse(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def in_window(window: str, now: datetime) -> bool:
    """'always', or a daily UTC window 'HH:MM-HH:MM' that may wrap past midnight."""
    if window == "always":
        return True
    start_text, end_text = window.split("-")
    start, end, current = _parse(start_text), _parse(end_text), now.astimezone(timezone.utc).time()
    if start <= end:
        return start <= current < end
    return current >= start or current < end


def disruption_allowed(flag: bool, window: str | None, now: datetime | None = None) -> tuple[bool, str]:
    """(allowed, why) — `why` is shown to the user either way."""
    if flag:
        return True, "--allow-disruption given"
    if window is None:
        return False, f"disruptive step not run: {HOW_TO}"
    current = now or datetime.now(timezone.utc)
    if in_window(window, current):
        return True, f"inside the maintenance window {window}"
    return False, f"disruptive step not run: now ({current:%H:%M} UTC) is outside the maintenance window {window}; {HOW_TO}"
