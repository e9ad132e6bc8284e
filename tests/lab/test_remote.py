"""Remote sessions against the lab's real sshd: strict host keys, bounded commands, one session per host."""

from __future__ import annotations

import pytest

from mxdrill.inventory import Inventory, load_inventory
from mxdrill.lab import manager
from mxdrill.remote import RemoteError, RemoteTimeout, Sessions

from lab_helpers import REPO


@pytest.fixture
def inventory(lab: manager.LabPaths) -> Inventory:
    return load_inventory(REPO / "hosts.yml")


def with_known_hosts(inventory: Inventory, host_name: str, known_hosts) -> Inventory:
    host = inventory.hosts[host_name]
    ssh = host.ssh.model_copy(update={"known_hosts": known_hosts})
    return inventory.model_copy(update={"hosts": {**inventory.hosts, host_name: host.model_copy(update={"ssh": ssh})}})


def test_one_session_per_host_is_reused(inventory: Inventory) -> None:
    pool = Sessions(10)
    try:
        for _ in range(3):
            assert pool[inventory.primary].check("hostname").strip() == "mx1.example.test"
        assert pool.connections == 1
    finally:
        pool.close_all()


def test_an_unknown_host_key_is_refused_naming_the_host(inventory: Inventory, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    broken = with_known_hosts(inventory, "mx1.example.test", empty)
    with pytest.raises(RemoteError, match=r"mx1\.example\.test .*host key not in .*refusing to connect"):
        Sessions(10)[broken.primary].run("true")


def test_a_changed_host_key_is_refused(inventory: Inventory, lab: manager.LabPaths, tmp_path) -> None:
    lines = (lab.ssh_dir / "known_hosts").read_text().splitlines()
    storage_key = next(line for line in lines if line.startswith("storage.")).split(maxsplit=1)[1]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"198.51.100.11 {storage_key}\n")
    broken = with_known_hosts(inventory, "mx1.example.test", wrong)
    with pytest.raises(RemoteError, match="host key CHANGED"):
        Sessions(10)[broken.primary].run("true")


def test_a_hung_command_ends_at_its_bound(inventory: Inventory) -> None:
    pool = Sessions(10)
    try:
        with pytest.raises(RemoteTimeout, match="did not finish within 0.3s"):
            pool[inventory.primary].run("sleep 3", timeout=0.3)
        assert pool[inventory.primary].check("echo still usable").strip() == "still usable"
    finally:
        pool.close_all()


def test_an_unreachable_host_is_named(inventory: Inventory) -> None:
    host = inventory.primary.model_copy(update={"address": "198.51.100.99", "name": "ghost.example.test"})
    with pytest.raises(RemoteError, match=r"ghost\.example\.test \(198\.51\.100\.99:22\): cannot reach SSH"):
        Sessions(10)[host].run("true")
