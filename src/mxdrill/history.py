"""The drill's record, Jepsen-style: an append-only list of timestamped probe and fault events.

Checkers judge from this record alone, and it is flushed to history.jsonl on every append, so a
crash or a kill never loses what was already seen.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Event:
    time: float
    kind: str
    probe: str | None
    host: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"time": self.time, "kind": self.kind, "probe": self.probe, "host": self.host, "data": self.data},
                          default=str, sort_keys=False)


class History:
    """Thread-safe append-only events; with a `path`, each append is written through at once."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._events: list[Event] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def append(self, kind: str, *, probe: str | None = None, host: str | None = None, **data: Any) -> Event:
        event = Event(self._clock(), kind, probe, host, data)
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

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def for_probe(self, token: str) -> list[Event]:
        return [e for e in self.events if e.probe == token]

    def to_jsonl(self, path: Path) -> None:
        path.write_text("".join(e.to_json() + "\n" for e in self.events))

    @classmethod
    def from_jsonl(cls, path: Path) -> History:
        history = cls()
        for line in path.read_text().splitlines():
            if line.strip():
                raw = json.loads(line)
                history._events.append(Event(raw["time"], raw["kind"], raw.get("probe"), raw.get("host"), raw.get("data") or {}))
        return history
