"""Pure parts of the lab's systemd profile: what each host masks, enables and adds, which hosts an init
switch reboots, its inventory, and finding the machine's cgroup v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxdrill import cli
from mxdrill.inventory import load_inventory
from mxdrill.lab import ansible_inventory, cgroups, configs, hosts, readiness, units
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError

from test_lab_configs import KEYS, PREFIX

MACHINE = frozenset(units.EnabledUnit(name, target) for name, target in [
    ("ssh.service", "ssh.service"), ("sshd.service", "ssh.service"), ("rsyslog.service", "rsyslog.service"),
    ("syslog.service", "rsyslog.service"), ("knot.service", "knot.service"), ("postgresql.service", "postgresql.service"),
    ("keepalived.service", "keepalived.service"), ("postfix.service", "postfix.service"),
    ("remote-fs.target", "remote-fs.target"), ("apt-daily.timer", "apt-daily.timer"), ("getty@tty1.service", "getty@.service"),
])


def systemd_files(name: str, topology: topo.Topology = "shared", backups: int = 1) -> dict[str, configs.LabFile]:
    lab_host = topo.host(name, backups)
    return {f.path: f for f in configs.host_files(lab_host, topology, PREFIX, KEYS, backups, "systemd", MACHINE)}


def test_only_the_mxs_and_the_sender_boot_systemd() -> None:
    assert [h.name for h in topo.lab_hosts(2) if topo.runs_systemd(h, "systemd")] == ["mx1", "mx2", "mx3", "sender"]
    assert not any(topo.runs_systemd(h, "initscripts") for h in topo.ALL_HOSTS)
    assert topo.describe("shared", 1, "systemd") == "shared topology, 1 backup MX, systemd"
    assert topo.describe("shared", 1) == "shared topology, 1 backup MX"


def test_each_role_masks_what_the_machine_enables_but_it_does_not_run() -> None:
    mx1 = units.masked_units(topo.host("mx1"), MACHINE)
    assert mx1 == sorted(["apt-daily.timer", "console-getty.service", "getty@tty1.service", "knot.service",
                          "postgresql.service", "rsyslog.service", "syslog.service", "syslog.socket"])
    assert "keepalived.service" in units.masked_units(topo.host("mx3", 2), MACHINE)  # no VRRP on mx3
    assert "keepalived.service" in units.masked_units(topo.host("sender"), MACHINE)
    assert not {"ssh.service", "sshd.service", "postfix.service", "remote-fs.target"} & set(units.masked_units(topo.host("sender"), MACHINE))


def test_the_machines_enablement_links_and_aliases_are_read(tmp_path: Path) -> None:
    (tmp_path / "multi-user.target.wants").mkdir()
    (tmp_path / "multi-user.target.wants" / "knot.service").symlink_to("/lib/systemd/system/knot.service")
    (tmp_path / "timers.target.wants").mkdir()
    (tmp_path / "timers.target.wants" / "man-db.timer").symlink_to("/lib/systemd/system/man-db.timer")
    (tmp_path / "syslog.service").symlink_to("/lib/systemd/system/rsyslog.service")
    (tmp_path / "postfix@-.service.d").mkdir()  # a drop-in directory enables nothing
    (tmp_path / "local.service").write_text("[Service]\n")  # a unit file, not an enablement
    assert units.enabled_on_machine(tmp_path) == {
        units.EnabledUnit("knot.service", "knot.service"), units.EnabledUnit("man-db.timer", "man-db.timer"),
        units.EnabledUnit("syslog.service", "rsyslog.service"),
    }
    assert units.enabled_on_machine(tmp_path / "absent") == frozenset()


def test_a_systemd_mx_logs_to_the_journal_only_and_refuses_root() -> None:
    files = systemd_files("mx1")
    assert "/etc/rsyslog.conf" not in files and "/etc/ssh/authorized_keys/root" not in files
    assert "PermitRootLogin no\n" in files["/etc/ssh/sshd_config"].content
    assert files["/etc/ssh/authorized_keys/drill"].content == KEYS.client_public
    sudoers = files["/etc/sudoers.d/drill"]
    assert (sudoers.content, sudoers.mode) == ("drill ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440)
    assert files["/etc/systemd/system/rsyslog.service"].link == "/dev/null"
    assert files["/etc/systemd/system/multi-user.target.wants/keepalived.service"].link == "/lib/systemd/system/keepalived.service"
    assert files["/etc/systemd/system/multi-user.target.wants/mxdrill-lab-accounts.service"].link
    assert "LAB_INIT=systemd\n" in files["/etc/mxdrill-lab/environment"].content


def test_each_systemd_host_has_a_machine_id_of_its_own() -> None:
    ids = {systemd_files(name)["/etc/machine-id"].content for name in ("mx1", "mx2", "sender")}
    assert len(ids) == 3 and all(len(i.strip()) == 32 and int(i, 16) for i in ids)


def test_the_shared_store_is_an_fstab_line_that_postfix_waits_for() -> None:
    files = systemd_files("mx1")
    fields = files["/etc/fstab"].content.split()
    assert fields[:3] == ["vmail@198.51.100.20:/srv/vhosts", "/var/mail/vhosts", "fuse.sshfs"]
    assert {"_netdev", "allow_other", "x-systemd.requires=mxdrill-lab-storage-wait.service"} <= set(fields[3].split(","))
    drop_in = files["/etc/systemd/system/postfix@-.service.d/mxdrill-lab-storage.conf"].content
    assert "RequiresMountsFor=/var/mail/vhosts" in drop_in
    relay_backup = systemd_files("mx2", "relay")
    assert "/etc/fstab" not in relay_backup and "/etc/systemd/system/mxdrill-lab-storage-wait.service" not in relay_backup


@pytest.mark.parametrize("name", ["dns", "storage"])
def test_dns_and_storage_are_the_same_in_both_profiles(name: str) -> None:
    lab_host = topo.host(name)
    assert configs.host_files(lab_host, "shared", PREFIX, KEYS, 1, "systemd", MACHINE) == configs.host_files(lab_host, "shared", PREFIX, KEYS)
    assert configs.boot_environment(lab_host, "shared", PREFIX, "systemd") == configs.boot_environment(lab_host, "shared", PREFIX)


@pytest.mark.parametrize("backups", topo.BACKUP_CHOICES)
def test_switching_init_reboots_the_mxs_and_the_sender_only(backups: int) -> None:
    def digests(init: topo.Init) -> dict[str, str]:
        return {h.name: hosts.config_digest(h, "shared", PREFIX, KEYS, backups, init) for h in topo.lab_hosts(backups)}

    old, new = digests("initscripts"), digests("systemd")
    expected = {"mx1", "mx2", "sender"} | ({"mx3"} if backups == 2 else set())
    assert {name for name in new if old[name] != new[name]} == expected


def test_ssh_config_logs_in_as_drill_on_systemd_hosts_only() -> None:
    text = configs.ssh_config("/k", PREFIX, init="systemd")
    blocks = {block.split()[1]: block for block in text.split("\n\n")}
    assert "  User drill\n" in blocks["mx1"] and "  User drill\n" in blocks["sender"]
    assert "  User root\n" in blocks["storage"] and "  User root\n" in blocks["dns"]
    assert "User drill" not in configs.ssh_config("/k", PREFIX)


def test_readiness_waits_for_systemd_to_finish_booting() -> None:
    found = {(p.host, p.service) for p in readiness.probes("shared", PREFIX, init="systemd")}
    assert {("mx1", "systemd"), ("mx2", "systemd"), ("sender", "systemd")} <= found
    assert not {p for p in found if p[1] == "systemd" and p[0] in ("dns", "storage")}
    assert not [p for p in readiness.probes("shared", PREFIX) if p.service == "systemd"]


# --- the inventory ----------------------------------------------------------------------------------

def test_the_systemd_inventory_logs_in_as_drill_with_sudo_and_declares_no_unit_nor_log(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(ansible_inventory.render("shared", 1, init="systemd"))
    inventory = load_inventory(path)
    for mx in inventory.mxs:
        assert (mx.ssh.user, mx.ssh.sudo) == ("drill", True)
        assert (mx.service.stop, mx.service.start, mx.log_source) == (None, None, "auto")
    storage = inventory.hosts["storage.example.test"]
    assert (storage.ssh.user, storage.ssh.sudo) == ("root", False)
    text = path.read_text()
    assert "mxdrill_mail_log" not in text and "mxdrill_service_stop" not in text
    assert "`mxdrill lab up --init systemd`" in text.splitlines()[0]


# --- preconditions ---------------------------------------------------------------------------------

HYBRID = """cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_the_machines_cgroup_v2_is_found_wherever_it_is_mounted() -> None:
    assert cgroups.cgroup2_mount(HYBRID) == Path("/sys/fs/cgroup/unified")
    assert cgroups.cgroup2_mount("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n") == Path("/sys/fs/cgroup")
    assert cgroups.cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n") is None


def test_without_cgroup_v2_the_systemd_profile_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "cgroup2_mount", lambda mounts=None: None)
    with pytest.raises(LabError, match="need a cgroup v2 hierarchy.*--init initscripts"):
        cgroups.create("mx1")


def test_sudo_is_needed_only_by_the_systemd_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    from mxdrill.lab import manager

    real_which = manager.shutil.which
    monkeypatch.setattr(manager.shutil, "which", lambda prog, path=None: None if prog == "sudo" else real_which(prog, path=path))
    assert "sudo" in manager.missing_packages("systemd")
    assert "sudo" not in manager.missing_packages("initscripts")


def test_cli_refuses_an_unknown_init_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "up", "--init", "openrc"])
    assert exit_info.value.code == 2
    assert "--init: invalid choice: 'openrc'" in capsys.readouterr().err

