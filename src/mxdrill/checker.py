"""Pure checkers over a History: delivered exactly once, lost, duplicated, failover and drain times.

They read only the record, never a host, so they can be tested on recorded histories and re-run on
an old history.jsonl.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from mxdrill.history import History


@dataclass(frozen=True)
class Verdict:
    name: str
    status: Literal["pass", "fail", "unknown"]
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def copies_per_probe(history: History) -> dict[str, int]:
    """Copies of each probe, summed over distinct storage locations (the shared store seen from two MXs counts once)."""
    per_location: dict[tuple[str, str], int] = {}
    for event in history.of_kind("probe.found"):
        location = str(event.data.get("location") or event.host)
        per_location[(event.probe or "", location)] = int(event.data.get("count", 1))
    totals: dict[str, int] = defaultdict(int)
    for (probe, _location), count in per_location.items():
        totals[probe] += count
    return dict(totals)


def check_delivered_once(history: History, probes: Iterable[str], home: str | None = None) -> Verdict:
    """Every probe in exactly one mailbox copy, in the `home` store (the primary's) if given.

    Names every lost, duplicated and misplaced probe: a probe found only outside the primary's store
    was delivered where the users do not read their mail (a split store, seed 003 Problème 3).
    """
    wanted = sorted(probes)
    if not history.of_kind("probe.found"):
        return Verdict("delivered-once", "unknown", "no mailbox was read", {"probes": len(wanted)})
    copies = copies_per_probe(history)
    lost = [p for p in wanted if copies.get(p, 0) == 0]
    duplicated = {p: copies[p] for p in wanted if copies.get(p, 0) > 1}
    locations = defaultdict(set)
    for event in history.of_kind("probe.found"):
        locations[event.probe].add(str(event.data.get("location")))
    misplaced = sorted(p for p in wanted if home is not None and copies.get(p, 0) and home not in locations[p])
    data = {"probes": len(wanted), "lost": lost, "duplicated": duplicated, "misplaced": misplaced}
    if not lost and not duplicated and not misplaced:
        return Verdict("delivered-once", "pass", f"all {len(wanted)} probes delivered exactly once", data)
    parts = []
    if lost:
        parts.append(f"lost {len(lost)}: {', '.join(lost)}")
    if duplicated:
        shown = ", ".join(f"{p} ×{n} in {sorted(locations[p])}" for p, n in sorted(duplicated.items()))
        parts.append(f"duplicated {len(duplicated)}: {shown}")
    if misplaced:
        shown = ", ".join(f"{p} in {sorted(locations[p])}" for p in misplaced)
        parts.append(f"outside the primary's store {home} (split storage) {len(misplaced)}: {shown}")
    return Verdict("delivered-once", "fail", "; ".join(parts), data)


def ledger(history: History, probes: Iterable[str]) -> dict[str, int]:
    wanted = set(probes)
    accepted = {e.probe: e.data.get("role") for e in history.of_kind("probe.accepted") if e.probe in wanted}
    copies = copies_per_probe(history)
    found_any = bool(history.of_kind("probe.found"))
    return {
        "sent": len({e.probe for e in history.of_kind("probe.sent") if e.probe in wanted}),
        "accepted_by_primary": sum(1 for r in accepted.values() if r == "primary"),
        "accepted_by_backup": sum(1 for r in accepted.values() if r == "backup"),
        "rejected": len({p for p in wanted if p not in accepted}),
        "delivered_once": sum(1 for p in wanted if copies.get(p, 0) == 1),
        "lost": sum(1 for p in wanted if copies.get(p, 0) == 0) if found_any else 0,
        "duplicated": sum(1 for p in wanted if copies.get(p, 0) > 1),
    }


def failover_seconds(history: History) -> float | None:
    """From the fault's injection to the first probe the backup accepted after it."""
    injected = history.of_kind("fault.injected")
    if not injected:
        return None
    start = injected[0].time
    taken = [e.time for e in history.of_kind("probe.accepted") if e.data.get("role") == "backup" and e.time >= start]
    return min(taken) - start if taken else None


def drain_seconds(history: History) -> float | None:
    """From the heal to the last delivery of a probe the backup had accepted (None if one never arrived)."""
    healed = history.of_kind("fault.healed")
    if not healed:
        return None
    start = healed[0].time
    backup_probes = {e.probe for e in history.of_kind("probe.accepted") if e.data.get("role") == "backup"}
    delivered = {}
    for event in history.of_kind("probe.delivered"):
        if event.probe in backup_probes:
            delivered[event.probe] = event.time
    if not backup_probes or set(delivered) != backup_probes:
        return None
    return max(max(delivered.values()) - start, 0.0)
