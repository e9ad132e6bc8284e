"""The nemesis registers every heal before any harm, heals in reverse, and keeps a heal owed when
the host's dead-man's switch cannot be confirmed cancelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mxdrill import pending
from mxdrill.faults import DeadManArmed, Faults, Nemesis
from mxdrill.faults.deadman import DeadMan
from mxdrill.history import History, Kind


@dataclass
class FakeFault:
    host: str
    log: list[str]
    cancels: bool = True
    name: str = "stop"
    state: Path | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return f"heal {self.host}"

    def describe(self) -> str:
        return f"run `stop {self.host}`"

    def arm(self, tag: str, window: float) -> DeadMan:
        self.log.append(f"arm {self.host}")
        return DeadMan(self.host, "sleep", tag, window, self.heal_command())

    def disarm(self) -> bool:
        self.log.append(f"disarm {self.host}")
        return self.cancels

    def inject(self) -> None:
        owed = {h.host for h in pending.load(self.state)} if self.state else set()
        self.log.append(f"inject {self.host} (owed: {','.join(sorted(owed))})")

    def heal(self) -> None:
        self.log.append(f"heal {self.host}")


def test_every_heal_is_registered_before_the_first_harm_and_healed_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    state = tmp_path / "state.json"
    faults = Faults([FakeFault("mx1", log, state=state), FakeFault("mx2", log, state=state)])
    nemesis = Nemesis(History().record("s"), state, "run-1")
    nemesis.inject(faults)
    assert log == ["arm mx1", "arm mx2", "inject mx1 (owed: mx1,mx2)", "inject mx2 (owed: mx1,mx2)"]
    nemesis.heal(faults)
    assert log[4:] == ["heal mx2", "disarm mx2", "heal mx1", "disarm mx1"]
    assert pending.load(state) == [] and nemesis.heal_all() == []


def test_a_switch_still_armed_keeps_its_heal_owed_and_says_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    record = History().record("s")
    nemesis = Nemesis(record, state, "run-1")
    fault = Faults([FakeFault("mx1", [], cancels=False)])
    nemesis.inject(fault)
    with pytest.raises(DeadManArmed, match="mx1: the dead-man's switch is still armed.*mxdrill restore"):
        nemesis.heal(fault)
    assert [h.host for h in pending.load(state)] == ["mx1"]
    assert record.of_kind(Kind.FAULT_HEALED)[0].data["deadman_cancelled"] is False


@pytest.mark.parametrize(("status", "start"), [
    ("false # ask Postfix", "echo STARTED"),
    ("false;", "echo STARTED;"),
    ("false #", "echo STARTED # and a comment"),
    ("false && true", "echo STARTED && true"),
    ("false || false", "echo STARTED"),
])
def test_no_declared_value_can_swallow_the_start_of_the_heal(status: str, start: str) -> None:
    """The dead-man's switch and `mxdrill restore` run this text: a `#`, `;` or `&&` in a value must not
    turn the start into a comment (issue: a typo must not switch the safety net off)."""
    import subprocess

    from mxdrill.faults import shown
    from mxdrill.inventory import ServiceControl
    from mxdrill.mta.postfix import heal_command

    down = heal_command(ServiceControl(stop=None, start=start, status=status))
    assert subprocess.run(["/bin/sh", "-c", down], capture_output=True, text=True).stdout.strip() == "STARTED"
    up = heal_command(ServiceControl(stop=None, start=start, status=status.replace("false", "true")))
    assert subprocess.run(["/bin/sh", "-c", up], capture_output=True, text=True).stdout == ""
    assert "\n" not in shown(down) and start in shown(down)


def test_the_firewall_faults_own_one_table_and_their_heal_removes_only_it() -> None:
    from mxdrill.faults import firewall

    assert firewall.rules("reject") == ("table inet mxdrill {}\ndelete table inet mxdrill\n"  # a leftover table is replaced
                                        "table inet mxdrill {\n  chain input {\n    type filter hook input priority -10; policy accept;\n"
                                        "    tcp dport 25 ct state new reject with tcp reset\n  }\n}\n")
    assert "    tcp dport 25 ct state new drop\n" in firewall.rules("drop")
    heal = firewall.heal_command()
    assert heal.startswith("nft delete table inet mxdrill 2>/dev/null; tables=$(nft list tables) && ")
    assert "grep -qx 'table inet mxdrill'" in heal  # a missing or refused nft never passes for a heal


def test_the_kill_fault_kills_only_a_live_master_named_by_postfixs_own_pid_file(tmp_path) -> None:
    import subprocess

    from mxdrill.mta.postfix import Postfix

    command = Postfix.kill_command(None)  # type: ignore[arg-type]
    assert '"$(postconf -h queue_directory)/pid/master.pid"' in command and '= master ] && kill -KILL -- "-$pid"' in command
    # a stale pid file (its pid now another process's) kills nothing and says why
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "postconf").write_text(f"#!/bin/sh\necho {tmp_path}\n")
    (fake / "postconf").chmod(0o755)
    (tmp_path / "pid").mkdir()
    (tmp_path / "pid" / "master.pid").write_text(f"{1:>10}\n")  # pid 1: never a Postfix master here
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert result.returncode == 1 and "no Postfix master runs as pid 1 (its pid file is stale)" in result.stderr


def test_the_storage_fault_unmounts_for_sure_and_heals_from_the_hosts_own_fstab(tmp_path: Path) -> None:
    import subprocess

    from mxdrill.faults import storage

    harm, heal = storage.unmount_command("/var/mail/vhosts"), storage.mount_command("/var/mail/vhosts")
    assert harm == "{ umount /var/mail/vhosts 2>/dev/null || umount -l /var/mail/vhosts; } && ! mountpoint -q /var/mail/vhosts"
    assert heal == "mountpoint -q /var/mail/vhosts || mount /var/mail/vhosts; mountpoint -q /var/mail/vhosts"
    # a heal whose mount fails (no fstab line, store unreachable) does not pass for a heal
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool, rc in (("mountpoint", 1), ("mount", 0)):
        (fake / tool).write_text(f"#!/bin/sh\nexit {rc}\n")
        (fake / tool).chmod(0o755)
    result = subprocess.run(["sh", "-c", heal], env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert result.returncode == 1


def test_the_vip_fault_stops_keepalived_the_hosts_way_and_its_heal_waits_out_the_old_process() -> None:
    from mxdrill.faults import vip

    assert vip.service_command("stop") == ("if [ -d /run/systemd/system ]; then systemctl stop keepalived; "
                                           "else service keepalived stop; fi")
    heal = vip.start_command()
    assert heal.startswith("for _ in 1 2 3 4 5 6 7 8 9 10; do pidof keepalived >/dev/null && exit 0; ")
    assert heal.endswith("sleep 0.5; done; pidof keepalived >/dev/null")
    assert vip.holds_command("198.51.100.10") == "ip -o addr show to 198.51.100.10 | grep -q ."


def test_each_mode_builds_its_faults_vip_from_the_primary_only_storage_as_a_stop_plus_the_backups_store() -> None:
    from fakes import World

    from mxdrill.faults.modes import MODES, FaultTargets, build
    from mxdrill.inventory import load_inventory

    hosts = World(load_inventory(Path(__file__).resolve().parents[2] / "hosts.yml")).hosts
    primary, backup = hosts["mx1.example.test"], hosts["mx2.example.test"]
    targets = FaultTargets([primary], backup, 5.0, "198.51.100.10")
    assert [(p.name, p.host) for p in build("storage", targets).parts] == [("stop", primary.name), ("storage", backup.name)]
    assert [(p.name, p.host) for p in build("vip", targets).parts] == [("vip", primary.name)]
    assert set(MODES) == {"stop", "kill", "reject", "blackhole", "vip", "storage", "mailstore", "userdb"}
    # the mail store's scenario takes that host down (Scenario.down), as a stop of its Postfix
    assert [(p.name, p.host) for p in build("mailstore", FaultTargets([backup], primary)).parts] == [("stop", backup.name)]
    with pytest.raises(ValueError, match="declare mxdrill_vip"):
        build("vip", FaultTargets([primary], backup))
