"""The pending-heals file: written before harm, rewritten after each heal, never half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxdrill import pending


def heal(host: str, fault: str = "stop", kind: str | None = None) -> pending.PendingHeal:
    return pending.PendingHeal(host, fault, "postfix status || service postfix start", kind, None, 1.0)


def test_state_file_sits_beside_the_inventory(tmp_path: Path) -> None:
    assert pending.state_file(tmp_path / "prod.yml") == tmp_path / ".mxdrill-state" / "prod.yml.pending.json"
    assert pending.state_file(tmp_path / "prod.yaml") != pending.state_file(tmp_path / "prod.yml")


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


def _add_many(path: str, run: str, count: int) -> None:
    for n in range(count):
        pending.add(Path(path), pending.PendingHeal(f"mx{n}", "stop", "heal", None, None, 1.0, run))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "state.json"
    workers = [multiprocessing.Process(target=_add_many, args=(str(path), run, 150)) for run in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert len(pending.load(path)) == 300
    assert not list(tmp_path.glob("*.tmp")) and oct(path.stat().st_mode & 0o777) == "0o600"


def test_another_runs_heal_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    dead = pending.PendingHeal("mx1", "stop", "heal", "sleep", "mxdrill-deadman-old-mx1", 1.0, "old")
    pending.add(path, dead)
    pending.add(path, pending.PendingHeal("mx1", "stop", "heal", None, None, 2.0, "new"))
    assert pending.load(path)[0] == dead and len(pending.load(path)) == 2
    assert pending.owed_by_others(path, "new") == [dead]


@pytest.mark.parametrize("content", ["[{\"host\": \"mx1\"", "{}", "[1, 2]", "\x00garbage"])
def test_a_corrupt_file_is_one_line_saying_what_to_do(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(pending.PendingError) as caught:
        pending.load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value) and "heal those hosts" in str(caught.value)


def test_a_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    pending.save(path, [heal("mx1")])
    path.chmod(0o666)
    with pytest.raises(pending.PendingError, match="writable by others"):
        pending.load(path)
