"""Pure checkers over one scenario's record: delivered exactly once, lost, duplicated, failover and
drain seconds, and the scenario's verdict.

They read only the `Record` — the probes expected are its `probe.sent` events, the probes' home is
its `store.home` event, the steps' outcomes its `step.end` events — never a host and never anything
passed in from outside, so they can be tested on recorded histories and re-run on an old
history.jsonl (`History.from_jsonl(path).record(scenario)`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from mxdrill.history import Event, Kind, Record

Status = Literal["pass", "fail", "not run", "unknown"]
"""`not run`: the fault never happened (skipped outside the window, deselected, stopped before it), so
the drill proved nothing about failover, whatever the probes did: never a pass (Jepsen's *unknown*)."""


@dataclass(frozen=True)
class Verdict:
    name: str
    status: Status
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def first_ten(items: list[str], separator: str = ", ") -> str:
    """A failure of 1,000 probes stays one readable line: the first ten, then how many more (the
    history and the report keep every one)."""
    shown = separator.join(items[:10])
    return shown + (f"{separator}… and {len(items) - 10} more" if len(items) > 10 else "")


def expected_probes(record: Record) -> list[str]:
    """Every probe the drill sent, in the order sent."""
    return list(dict.fromkeys(e.probe for e in record.of_kind(Kind.PROBE_SENT) if e.probe))


def home(record: Record) -> str | None:
    """Where the probes belong: the primary's storage location, as the last mailbox scan saw it."""
    homes = record.of_kind(Kind.STORE_HOME)
    return str(homes[-1].data["location"]) if homes else None


def copies_per_probe(record: Record) -> dict[str, int]:
    """Copies of each probe, summed over distinct storage locations (the shared store seen from two MXs counts once)."""
    per_location: dict[tuple[str, str], int] = {}
    for event in record.of_kind(Kind.PROBE_FOUND):
        location = str(event.data.get("location") or event.host)
        per_location[(event.probe or "", location)] = int(event.data.get("count", 1))
    totals: dict[str, int] = defaultdict(int)
    for (probe, _location), count in per_location.items():
        totals[probe] += count
    return dict(totals)


INJECTED_SUFFIX = ": in place"  # the nemesis's wait event once a fault's harm is done ("stop: in place")
IN_FLIGHT_MARGIN = 1.0  # seconds before the injection a session may have begun and still be cut by it


def in_flight_at_fault(record: Record) -> set[str]:
    """Probes a faulted MX had in hand while the fault struck: accepted by it, or cut off by it, from
    IN_FLIGHT_MARGIN before the first injection until the injection was done (its wait event). Two
    ways such a probe arrives twice, both SMTP's at-least-once, neither a fault of the MX pair:
    - its delivery on the primary was cut: the Maildir file written, the queue entry not yet removed,
      so Postfix (which would rather deliver twice than lose mail) delivers it again after the restart;
    - the primary had queued it when the session was cut before its 250 (RFC 1047): the sender, never
      told, sends it again to MX 20, and the primary delivers its own copy after the restart."""
    injected = record.of_kind(Kind.FAULT_INJECTED)
    if not injected:
        return set()
    faulted, start = {e.host for e in injected}, injected[0].time
    done = [e.time for e in record.of_kind(Kind.WAIT) if e.host in faulted and e.time >= start
            and str(e.data.get("what", "")).endswith(INJECTED_SUFFIX)]
    end = max(done) if done else start + IN_FLIGHT_MARGIN
    touched = [*record.of_kind(Kind.PROBE_ACCEPTED),
               *(e for e in record.of_kind(Kind.PROBE_REJECTED) if e.data.get("outcome") == "unreachable")]
    return {e.probe for e in touched
            if e.probe and e.host is not None and e.host in faulted and e.data.get("role") != "backup"
            and start - IN_FLIGHT_MARGIN <= e.time <= end}


def check_delivered_once(record: Record) -> Verdict:
    """Every probe in exactly one mailbox copy, in the home store (the primary's) if one is recorded.

    Names every lost, duplicated and misplaced probe: a probe found only outside the primary's store
    was delivered where the users do not read their mail (a split store, seed 003 Problème 3). A second
    copy of a probe the fault caught in flight (`in_flight_at_fault`) is SMTP's at-least-once (RFC 5321
    §6.1), not a fault of the MX pair: it is counted and named, and does not fail the drill.
    """
    wanted = expected_probes(record)
    found = record.of_kind(Kind.PROBE_FOUND)
    if not found:
        return Verdict("delivered-once", "unknown", "no mailbox was read", {"probes": len(wanted)})
    copies, store, taken = copies_per_probe(record), home(record), takers(record)
    never_taken = [p for p in wanted if p not in taken and copies.get(p, 0) == 0]
    lost = [p for p in wanted if p in taken and copies.get(p, 0) == 0]
    caught = in_flight_at_fault(record)
    redelivered = {p: copies[p] for p in wanted if copies.get(p, 0) == 2 and p in caught}
    duplicated = {p: copies[p] for p in wanted if copies.get(p, 0) > 1 and p not in redelivered}
    locations = defaultdict(set)
    for event in found:
        locations[event.probe].add(str(event.data.get("location")))
    misplaced = sorted(p for p in wanted if store is not None and copies.get(p, 0) and store not in locations[p])
    data = {"probes": len(wanted), "lost": lost, "duplicated": duplicated, "misplaced": misplaced, "never_taken": never_taken,
            "redelivered": sorted(redelivered)}
    if not lost and not duplicated and not misplaced and not never_taken:
        if redelivered:
            return Verdict("delivered-once", "pass", f"all {len(wanted)} probes delivered, {len(redelivered)} of them twice: "
                           f"the primary had them in hand as the fault struck (a cut delivery, or a 250 "
                           f"the sender never got) and delivered its copy after the restart (SMTP's at-least-once): "
                           f"{first_ten(sorted(redelivered))}", data)
        return Verdict("delivered-once", "pass", f"all {len(wanted)} probes delivered exactly once", data)
    parts = []
    if lost:
        parts.append(f"lost {len(lost)}: {first_ten(lost)}")
    if never_taken:
        parts.append(f"taken by no MX {len(never_taken)}: {first_ten(never_taken)}")
    if duplicated:
        shown = first_ten([f"{p} ×{n} in {sorted(locations[p])}" for p, n in sorted(duplicated.items())])
        parts.append(f"duplicated {len(duplicated)}: {shown}")
    if misplaced:
        shown = first_ten([f"{p} in {sorted(locations[p])}" for p in misplaced])
        parts.append(f"outside the primary's store {store} (split storage) {len(misplaced)}: {shown}")
    return Verdict("delivered-once", "fail", "; ".join(parts), data)


def takers(record: Record) -> dict[str, str]:
    """Probe → the role of the MX that accepted it (primary, backup, other)."""
    return {e.probe: str(e.data.get("role")) for e in record.of_kind(Kind.PROBE_ACCEPTED) if e.probe}


def ledger(record: Record) -> dict[str, int]:
    wanted = expected_probes(record)
    accepted = takers(record)
    copies = copies_per_probe(record)
    found_any = bool(record.of_kind(Kind.PROBE_FOUND))
    over_tls = {e.probe for e in record.of_kind(Kind.PROBE_ACCEPTED) if e.data.get("tls")}
    return {
        "sent": len(wanted),
        "accepted_by_primary": sum(1 for p in wanted if accepted.get(p) == "primary"),
        "accepted_by_backup": sum(1 for p in wanted if accepted.get(p) == "backup"),
        "rejected": sum(1 for p in wanted if p not in accepted),
        "delivered_once": sum(1 for p in wanted if copies.get(p, 0) == 1),
        "lost": sum(1 for p in wanted if p in accepted and copies.get(p, 0) == 0) if found_any else 0,
        "duplicated": sum(1 for p in wanted if copies.get(p, 0) > 1),
        "redelivered_after_fault": sum(1 for p in in_flight_at_fault(record) if copies.get(p, 0) == 2),
        "over_tls": sum(1 for p in wanted if p in over_tls),
        "queued": len({e.probe for e in record.of_kind(Kind.PROBE_QUEUED)} & set(wanted)),
    }


LEDGER_COLUMNS = ("probe", "phase", "stage", "sent_at", "taken_by", "role", "attempts", "tls", "queued", "copies", "outcome")


def stage_of(sent_at: float, injected: float | None, healed: float | None) -> str:
    """Where in the drill a probe was sent: before the fault, during it (injected, not yet healed), after it."""
    if injected is None or sent_at < injected:
        return "before"
    return "during" if healed is None or sent_at < healed else "after"


def probe_ledger(record: Record) -> list[dict[str, Any]]:
    """The full ledger, one row per probe in the order sent (LEDGER_COLUMNS): when and in which stage it
    was sent, who took it after how many attempts, whether the backup queued it, how many copies were
    found and what came of it — one pass over the record, so 10,000 probes cost milliseconds."""
    injected = [e.time for e in record.of_kind(Kind.FAULT_INJECTED)]
    healed = [e.time for e in record.of_kind(Kind.FAULT_HEALED)]
    rows: dict[str, dict[str, Any]] = {}
    attempts: dict[str, int] = defaultdict(int)
    queued: set[str] = set()
    for event in record.events:
        probe = event.probe or ""
        if event.kind == Kind.PROBE_SENT and probe not in rows:
            rows[probe] = {"probe": probe, "phase": event.data.get("phase"), "sent_at": round(event.time, 3),
                           "stage": stage_of(event.time, injected[0] if injected else None, healed[-1] if healed else None),
                           "taken_by": None, "role": None, "tls": None}
        elif event.kind == Kind.PROBE_ACCEPTED and probe in rows:
            attempts[probe] += 1
            rows[probe].update(taken_by=event.host, role=event.data.get("role"), tls=event.data.get("tls"))
        elif event.kind == Kind.PROBE_REJECTED:
            attempts[probe] += 1
        elif event.kind == Kind.PROBE_QUEUED:
            queued.add(probe)
    copies, read = copies_per_probe(record), bool(record.of_kind(Kind.PROBE_FOUND))
    for probe, row in rows.items():
        count = copies.get(probe, 0)
        row.update(attempts=attempts[probe], queued=probe in queued, copies=count if read else None,
                   outcome=_outcome(row["taken_by"] is not None, count, read))
    return list(rows.values())


def _outcome(taken: bool, copies: int, read: bool) -> str:
    if not taken:
        return "never taken"
    if not read:
        return "not read"
    return {0: "lost", 1: "delivered once"}.get(copies, "duplicated")  # the verdict tells a fault's redelivery apart


def accepted_at(event: Event) -> float:
    """When the MX said 250: the attempt's own end (`at`), else when the drill recorded it."""
    return float(event.data.get("at") or event.time)


def failover_seconds(record: Record, via: str | None = None) -> float | None:
    """From the fault's injection to the first probe the backup accepted after it (sent along `via`:
    harness or sender, or any): with `via="sender"`, what a real sending MTA took to fail over."""
    injected = record.of_kind(Kind.FAULT_INJECTED)
    if not injected:
        return None
    start = injected[0].time
    along = {e.probe for e in record.of_kind(Kind.PROBE_SENT) if via is None or e.data.get("via", "harness") == via}
    taken = [accepted_at(e) for e in record.of_kind(Kind.PROBE_ACCEPTED)
             if e.data.get("role") == "backup" and e.probe in along and accepted_at(e) >= start]
    return min(taken) - start if taken else None


def split_while_up(record: Record, phase: str | None = None) -> Counter[str]:
    """Which MX took how many probes (of `phase`, or any) while no fault was in place: before the first
    injection or after the last heal. With MXs at equal priority, how senders shared the mail."""
    injected, healed = record.of_kind(Kind.FAULT_INJECTED), record.of_kind(Kind.FAULT_HEALED)
    start = injected[0].time if injected else float("inf")
    end = healed[-1].time if healed else float("inf")
    wanted = {e.probe for e in record.of_kind(Kind.PROBE_SENT) if phase is None or e.data.get("phase") == phase}
    return Counter(e.host for e in record.of_kind(Kind.PROBE_ACCEPTED)
                   if e.probe in wanted and e.host and (accepted_at(e) < start or accepted_at(e) > end))


def describe_split(split: Counter[str | None], peers: list[str]) -> str:
    """`mx1.example.test 5, mx2.example.test 4 (56% / 44%)`: each peer's share, in the peers' order."""
    total = sum(split.get(peer, 0) for peer in peers) or 1
    counts = ", ".join(f"{peer} {split.get(peer, 0)}" for peer in peers)
    return f"{counts} ({' / '.join(f'{100 * split.get(peer, 0) / total:.0f}%' for peer in peers)})"


def drain_seconds(record: Record) -> float | None:
    """From the last heal to the last delivery of a probe the backup had accepted before it, or of a probe of
    the outage (None if one never arrived). The outage's probes count wherever they wait: on both MXs while
    the mail store is down, at the senders while every MX answers 4xx (`userdb`).

    The last heal: a fault that takes several hosts down (primary and the backups preferred over
    the one under test) is over only when every one of them is back.
    """
    healed = record.of_kind(Kind.FAULT_HEALED)
    if not healed:
        return None
    start = healed[-1].time
    # what the backup held at the heal: a load stream's probes it takes after it are no drain
    backup_probes = {e.probe for e in record.of_kind(Kind.PROBE_ACCEPTED)
                     if e.probe and e.data.get("role") == "backup" and e.time <= start}
    backup_probes |= {e.probe for e in record.of_kind(Kind.PROBE_SENT) if e.probe and e.data.get("phase") == "outage"}
    delivered = {e.probe: e.time for e in record.of_kind(Kind.PROBE_DELIVERED) if e.probe in backup_probes}
    if not backup_probes or set(delivered) != backup_probes:
        return None
    return max(max(delivered.values()) - start, 0.0)


def vip_seconds(record: Record, what: str) -> float | None:
    """Seconds until the VIP was held by the expected host alone: `takeover` (by the backup, after the
    fault) or `return` (by the primary, after the heal); None if that never happened."""
    ends = [e for e in record.of_kind(Kind.PHASE_END) if e.data.get("name") == f"vip-{what}"]
    return float(ends[-1].data["seconds"]) if ends else None


def step_outcomes(record: Record) -> dict[str, str]:
    """Step → outcome: the call's outcome, or else the first setup/teardown that did not pass (a skip)."""
    outcomes: dict[str, str] = {}
    for event in record.of_kind(Kind.STEP_END):
        step, when = str(event.data["step"]), event.data.get("when")
        if when == "call" or step not in outcomes:
            outcomes[step] = str(event.data["outcome"])
    return outcomes


def evidence(record: Record) -> list[str]:
    """The log and queue lines that prove each probe's path, as `host log: line`."""
    return list(dict.fromkeys(f"{e.host} log: {e.data['line']}" for e in record.of_kind(Kind.EVIDENCE)))


def scenario_verdict(record: Record) -> Verdict:
    """The scenario's verdict: fail if a step failed or a probe was lost, duplicated or misplaced;
    not run if nothing failed but the primary was never faulted."""
    steps = step_outcomes(record)
    delivered = check_delivered_once(record) if expected_probes(record) else None
    failed = [s for s, o in steps.items() if o == "failed"]
    detail = delivered.detail if delivered is not None else "no probe was sent"
    if failed:
        status: Status = "fail"
        detail = "failed steps: " + ", ".join(failed) + "; " + detail
    elif delivered is not None and delivered.status == "fail":
        status = "fail"
    elif not record.of_kind(Kind.FAULT_INJECTED):
        status = "not run"
        detail = f"the primary was never faulted ({why_not_run(record)}); {detail}"
    else:
        status = delivered.status if delivered is not None else "unknown"
    return Verdict("scenario", status, detail, {"steps": steps})


def why_not_run(record: Record) -> str:
    """The first skipped step and pytest's reason for it, else that the run ended before the fault."""
    for event in record.of_kind(Kind.STEP_END):
        if event.data.get("outcome") == "skipped":
            reason = event.data.get("reason")
            return f"{event.data['step']} skipped: {reason}" if reason else f"{event.data['step']} skipped"
    return "the run ended before the fault step"
