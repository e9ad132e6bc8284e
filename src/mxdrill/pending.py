"""Heals still owed, on disk: what `mxdrill restore` reads after a run that died before healing.

The file is written before each fault is injected and rewritten after each heal, so at any instant
it lists every fault that might still be in effect. It lives beside the inventory, keyed by its name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class PendingHeal:
    host: str
    fault: str
    heal: str
    deadman_kind: str | None
    deadman_tag: str | None
    injected_at: float


def state_file(inventory_path: Path) -> Path:
    return inventory_path.resolve().parent / ".mxdrill-state" / f"{inventory_path.stem}.pending.json"


def load(path: Path) -> list[PendingHeal]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    return [PendingHeal(**entry) for entry in raw]


def save(path: Path, heals: list[PendingHeal]) -> None:
    """Atomic replace, so a kill mid-write never leaves a half file that hides a pending heal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(h) for h in heals], indent=2) + "\n")
    os.replace(tmp, path)


def add(path: Path, heal: PendingHeal) -> None:
    """Record (or update) the heal owed for this host and fault."""
    others = [h for h in load(path) if (h.host, h.fault) != (heal.host, heal.fault)]
    save(path, [*others, heal])


def remove(path: Path, host: str, fault: str) -> None:
    save(path, [h for h in load(path) if (h.host, h.fault) != (host, fault)])
