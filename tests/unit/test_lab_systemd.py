"""Pure parts of the lab's systemd profile: what each host masks, enables and adds, which hosts an init
switch reboots, its inventory (flat and in Ansible's layout), and finding the machine's cgroup v2."""

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


LAYOUTS = [("shared", 1, "initscripts"), ("relay", 1, "initscripts"), ("shared", 2, "systemd"), ("relay", 1, "systemd")]


def write_dir(root: Path, topology: topo.Topology, backups: int, init: topo.Init) -> Path:
    files = ansible_inventory.render_dir(topology, backups, PREFIX, str(root / "ssh/id"), str(root / "ssh/known_hosts"), init,
                                         tls_ca=str(root / "tls/ca.pem"))
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root / "hosts.yml"


@pytest.mark.parametrize(("topology", "backups", "init"), LAYOUTS)
def test_the_ansible_layout_loads_to_the_same_inventory_as_the_flat_file(
    topology: topo.Topology, backups: int, init: topo.Init, tmp_path: Path
) -> None:
    flat = tmp_path / "flat.yml"
    flat.write_text(ansible_inventory.render(topology, backups, PREFIX, str(tmp_path / "dir/ssh/id"),
                                             str(tmp_path / "dir/ssh/known_hosts"), init, tls_ca=str(tmp_path / "dir/tls/ca.pem")))
    (tmp_path / "dir").mkdir()
    laid_out = write_dir(tmp_path / "dir", topology, backups, init)
    assert load_inventory(laid_out).model_dump(exclude={"path"}) == load_inventory(flat).model_dump(exclude={"path"})


def test_the_ansible_layouts_hosts_yml_holds_groups_and_hosts_only(tmp_path: Path) -> None:
    import yaml

    files = ansible_inventory.render_dir("shared", 2, PREFIX, "/k", "/kh", "systemd")
    tree = yaml.safe_load(files["hosts.yml"])
    assert list(tree["all"]) == ["children"]
    assert all(list(body) == ["hosts"] and all(v is None for v in body["hosts"].values()) for body in tree["all"]["children"].values())
    assert sorted(files) == ["group_vars/all.yml", "host_vars/dns.example.test.yml", "host_vars/mx1.example.test.yml",
                             "host_vars/mx2.example.test.yml", "host_vars/mx3.example.test.yml",
                             "host_vars/sender.example.test.yml", "host_vars/storage.example.test.yml", "hosts.yml"]
    assert yaml.safe_load(files["host_vars/mx3.example.test.yml"]) == {"ansible_host": "198.51.100.13", "mxdrill_mx_priority": 30}


def test_lab_inventory_ansible_dir_writes_the_layout_and_drops_a_stopped_hosts_vars(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mxdrill.lab import manager

    monkeypatch.setattr(manager, "require_running", lambda paths: manager.RunState("shared", 1, PREFIX, "systemd"))
    monkeypatch.chdir(tmp_path)
    stale = tmp_path / "inv" / "host_vars" / "mx3.example.test.yml"
    stale.parent.mkdir(parents=True)
    stale.write_text("ansible_host: 198.51.100.13\n")
    assert cli.main(["lab", "inventory", "--state-dir", "state", "--ansible-dir", "inv"]) == 0
    assert "to inv: hosts.yml, group_vars/all.yml, host_vars/" in capsys.readouterr().out
    assert not stale.exists()
    expected = ansible_inventory.render_dir("shared", 1, PREFIX, str(tmp_path.resolve() / "state/ssh/id_ed25519"),
                                            str(tmp_path.resolve() / "state/ssh/known_hosts"), "systemd",
                                            tls_ca=str(tmp_path.resolve() / "state/tls/ca.pem"))
    assert {str(p.relative_to(tmp_path / "inv")): p.read_text() for p in (tmp_path / "inv").rglob("*.yml")} == expected


def test_lab_inventory_takes_one_destination(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "inventory", "--output", "a.yml", "--ansible-dir", "b"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


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



def test_a_systemd_host_that_does_not_come_up_points_at_its_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    from mxdrill.lab import manager

    monkeypatch.setattr(hosts, "system_state", lambda lab_host: ("degraded", ["var-mail-vhosts.mount"]))
    message = manager._not_up_message([readiness.Probe("mx1", "smtp", lambda: False)], "systemd")
    assert "systemd says degraded (failed: var-mail-vhosts.mount)" in message
    assert "`mxdrill lab exec mx1 -- journalctl -b -p notice`" in message and "/run/mxdrill-lab/mx1/boot.log" in message


def test_status_of_a_degraded_host_names_the_failed_units(monkeypatch: pytest.MonkeyPatch) -> None:
    from mxdrill.lab import manager

    monkeypatch.setattr(hosts, "system_state", lambda lab_host: ("degraded", ["console-getty.service", "x.mount"]))
    shown = manager._systemd_state(topo.host("mx2"))
    assert (shown.host, shown.service, shown.up, shown.detail) == ("mx2", "systemd", True, "degraded; failed: console-getty.service, x.mount")
    monkeypatch.setattr(hosts, "system_state", lambda lab_host: ("starting", []))
    assert not manager._systemd_state(topo.host("mx2")).up
