"""The drill's record, Jepsen-style: append-only, timestamped events, each belonging to one scenario.

One `History` per run writes every event through to history.jsonl at once, so a crash or a kill
never loses what was already seen. Each drill appends through its own `Record`, which stamps the
scenario on every event and reads back only that scenario's events: two drills of one run (primary
→ first backup, primary → second backup) never judge each other's faults or probes.

The kinds of event are the `Kind` constants below, each documented once; the README's history
format is written from them (a unit test keeps the two in step).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Kind(StrEnum):
    """Every kind of event a drill records. The docstring table `KIND_DATA` says what each carries."""

    SCENARIO = "scenario"
    HOST_FACTS = "host.facts"
    PREFLIGHT = "preflight"
    CONFIG = "config"
    STORE_HOME = "store.home"
    PROBE_SENT = "probe.sent"
    PROBE_ACCEPTED = "probe.accepted"
    PROBE_REJECTED = "probe.rejected"
    PROBE_QUEUED = "probe.queued"
    PROBE_DELIVERED = "probe.delivered"
    PROBE_FOUND = "probe.found"
    FAULT_ARMED = "fault.armed"
    FAULT_INJECTED = "fault.injected"
    FAULT_HEALED = "fault.healed"
    EVIDENCE = "evidence"
    WAIT = "wait"
    PHASE_END = "phase.end"
    STEP_END = "step.end"


KIND_DATA: dict[Kind, str] = {
    Kind.SCENARIO: "the drill begins: primary, backup, fault, faulted (every host the fault takes down)",
    Kind.HOST_FACTS: "what the drill learnt of a host: mta (name and version), log (where its mail log is read)",
    Kind.PREFLIGHT: "one preflight finding: check (its row of the table), finding, ok, status (pass, warn, error), "
                    "severity, detail (the evidence), fix",
    Kind.CONFIG: "the settings that must match on every MX, as each has them: values (MX -> setting -> value), primary",
    Kind.STORE_HOME: "the storage location of the primary's mailboxes, where every probe belongs: location",
    Kind.PROBE_SENT: "a probe is handed to the domain's MXs: message_id, phase, via",
    Kind.PROBE_ACCEPTED: "an MX took the probe: role (primary, backup, other), queue_id, reply, tls (the TLS version, or null: in clear), at (unix seconds of its 250)",
    Kind.PROBE_REJECTED: "an MX refused or could not be reached: role, code, message, outcome",
    Kind.PROBE_QUEUED: "the backup holds the probe in its queue: queue_id, queue_name, reason",
    Kind.PROBE_DELIVERED: "the probe was first seen in a mailbox",
    Kind.PROBE_FOUND: "the final count of a probe's copies in one storage location: location, count, path",
    Kind.FAULT_ARMED: "the host's dead-man's switch is armed: fault, deadman",
    Kind.FAULT_INJECTED: "the fault was done to the host: fault, plan",
    Kind.FAULT_HEALED: "the fault was undone: fault",
    Kind.EVIDENCE: "a line from a host (mail log, queue) that proves a probe's path: line",
    Kind.WAIT: "a wait on an MTA, with its length: what, seconds",
    Kind.PHASE_END: "a phase of the drill ended: name, seconds",
    Kind.STEP_END: "a step of the drill ended: step, when (setup, call, teardown), outcome, reason (of a skip)",
}


def kinds_table() -> str:
    """The README's table of event kinds, written from `KIND_DATA` (a unit test keeps the README equal)."""
    rows = ["| kind | what happened: data |", "|---|---|"]
    rows += [f"| `{kind}` | {KIND_DATA[kind]} |" for kind in Kind]
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Event:
    time: float
    scenario: str | None
    kind: str
    probe: str | None
    host: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"time": self.time, "scenario": self.scenario, "kind": self.kind, "probe": self.probe,
                           "host": self.host, "data": self.data}, default=str)


class History:
    """Thread-safe append-only events of one run; with a `path`, each append is written through at once."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._events: list[Event] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def append(self, kind: str, *, scenario: str | None = None, probe: str | None = None, host: str | None = None,
               **data: Any) -> Event:
        event = Event(self._clock(), scenario, str(kind), probe, host, data)
        with self._lock:
            self._events.append(event)
            if self.path is not None:
                with self.path.open("a") as handle:
                    handle.write(event.to_json() + "\n")
        return event

    @property
    def events(self) -> tuple[Event, ...]:
        with self._lock:
            return tuple(self._events)

    def record(self, scenario: str) -> Record:
        """The view of one scenario: what its drill appends and what its checkers read."""
        return Record(self, scenario)

    def scenarios(self) -> list[str]:
        """Scenario ids in the order their drills began."""
        return list(dict.fromkeys(e.scenario for e in self.events if e.scenario is not None))

    @classmethod
    def merged(cls, paths: list[Path], into: Path) -> History:
        """The histories of several processes (xdist workers) as one, in time order, written to `into`."""
        events = sorted((e for path in paths for e in cls.from_jsonl(path).events), key=lambda e: e.time)
        history = cls(path=into)
        history._events = events
        into.write_text("".join(event.to_json() + "\n" for event in events))
        return history

    @classmethod
    def from_jsonl(cls, path: Path) -> History:
        history = cls()
        for line in path.read_text().splitlines():
            if line.strip():
                raw = json.loads(line)
                history._events.append(Event(raw["time"], raw.get("scenario"), raw["kind"], raw.get("probe"),
                                             raw.get("host"), raw.get("data") or {}))
        return history


class Record:
    """One scenario's events: appends are stamped with the scenario, reads see nothing else."""

    def __init__(self, history: History, scenario: str) -> None:
        self.history = history
        self.scenario = scenario

    def append(self, kind: Kind, *, probe: str | None = None, host: str | None = None, **data: Any) -> Event:
        return self.history.append(kind, scenario=self.scenario, probe=probe, host=host, **data)

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.history.events if e.scenario == self.scenario)

    def of_kind(self, kind: Kind) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
