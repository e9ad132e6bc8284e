"""The pending-heals file: written before harm, rewritten after each heal, never half-written."""

from __future__ import annotations

from pathlib import Path

from mxdrill import pending


def heal(host: str, fault: str = "stop", kind: str | None = None) -> pending.PendingHeal:
    return pending.PendingHeal(host, fault, "postfix status || service postfix start", kind, None, 1.0)


def test_state_file_sits_beside_the_inventory(tmp_path: Path) -> None:
    assert pending.state_file(tmp_path / "prod.yml") == tmp_path / ".mxdrill-state" / "prod.pending.json"


def test_add_update_remove(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert pending.load(path) == []
    pending.add(path, heal("mx1"))
    pending.add(path, heal("mx1", kind="sleep"))  # the same fault, now with its dead-man switch
    pending.add(path, heal("mx2"))
    assert [(h.host, h.deadman_kind) for h in pending.load(path)] == [("mx1", "sleep"), ("mx2", None)]
    pending.remove(path, "mx1", "stop")
    assert [h.host for h in pending.load(path)] == ["mx2"]
    assert not path.with_suffix(".tmp").exists()
