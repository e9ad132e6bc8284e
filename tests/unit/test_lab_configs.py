"""Pure parts of the lab: rendered configs, the prefix-collision check, CLI argument checks."""

from __future__ import annotations

import ipaddress

import pytest

from mxdrill import cli
from mxdrill.lab import configs, network
from mxdrill.lab import topology as topo

PREFIX = topo.DEFAULT_PREFIX
KEYS = configs.LabKeys(
    client_public="ssh-ed25519 AAAAclient lab\n",
    client_private="PRIVATE\n",
    host_private={h.name: f"HOSTPRIV-{h.name}\n" for h in topo.HOSTS},
    host_public={h.name: f"ssh-ed25519 AAAA{h.name} {h.fqdn}\n" for h in topo.HOSTS},
)


def files_of(name: str, topology: topo.Topology = "shared") -> dict[str, configs.LabFile]:
    return {f.path: f for f in configs.host_files(topo.host(name), topology, PREFIX, KEYS)}


def test_forward_zone_lists_mx_records_in_priority_order() -> None:
    zone = configs.zone_forward(PREFIX)
    mx_lines = [line for line in zone.splitlines() if " MX " in line]
    assert mx_lines == ["@ IN MX 10 mx1.example.test.", "@ IN MX 20 mx2.example.test."]
    assert "$TTL 3600" in zone
    assert "mail IN A 198.51.100.10" in zone


def test_reverse_zone_has_a_ptr_for_every_host_and_the_harness() -> None:
    assert configs.reverse_zone_name(PREFIX) == "100.51.198.in-addr.arpa"
    zone = configs.zone_reverse(PREFIX)
    for lab_host in topo.HOSTS:
        assert f"{lab_host.offset} IN PTR {lab_host.fqdn}." in zone
    assert "1 IN PTR harness.example.test." in zone


def test_primary_delivers_to_maildir_and_refuses_relay() -> None:
    main_cf = files_of("mx1")["/etc/postfix/main.cf"].content
    assert "virtual_mailbox_domains = example.test" in main_cf
    assert "virtual_mailbox_base = /var/mail/vhosts" in main_cf
    assert "mynetworks = 127.0.0.0/8\n" in main_cf
    assert "reject_unauth_destination" in main_cf


def test_backup_in_relay_topology_queues_for_the_domain_instead_of_delivering() -> None:
    main_cf = files_of("mx2", "relay")["/etc/postfix/main.cf"].content
    assert "relay_domains = example.test" in main_cf
    assert "virtual_mailbox_domains" not in main_cf
    assert not topo.mounts_shared_storage(topo.host("mx2"), "relay")
    assert topo.mounts_shared_storage(topo.host("mx1"), "relay")
    assert topo.mounts_shared_storage(topo.host("mx2"), "shared")


def test_sender_relays_for_the_lab_and_gives_up_on_a_dead_mx_after_5s() -> None:
    main_cf = files_of("sender")["/etc/postfix/main.cf"].content
    assert "mynetworks = 127.0.0.0/8 198.51.100.0/24" in main_cf
    assert "smtp_connect_timeout = 5s" in main_cf


def test_private_keys_are_written_0600_and_hosts_resolve_through_lab_dns() -> None:
    files = files_of("mx1")
    assert files["/etc/ssh/ssh_host_ed25519_key"].mode == 0o600
    assert files["/etc/mxdrill-lab/id_ed25519"].mode == 0o600
    assert files["/etc/resolv.conf"].content.startswith("nameserver 198.51.100.53")


def test_keepalived_master_owns_the_vip_and_backup_waits() -> None:
    master = configs.keepalived_conf(topo.host("mx1"), PREFIX)
    backup = configs.keepalived_conf(topo.host("mx2"), PREFIX)
    assert "state MASTER" in master and "priority 255" in master
    assert "state BACKUP" in backup and "priority 100" in backup
    assert "198.51.100.10/24" in master


def test_known_hosts_names_each_host_three_ways() -> None:
    lines = configs.known_hosts_lines(KEYS, PREFIX).splitlines()
    assert "mx1.example.test,mx1,198.51.100.11 ssh-ed25519 AAAAmx1 mx1.example.test" in lines
    assert len(lines) == len(topo.HOSTS)


@pytest.mark.parametrize(
    ("needed", "expected"),
    [
        ({"resolver": ["10.255.255.53"]}, []),
        ({"resolver": ["198.51.100.7"]}, ["198.51.100.7 (resolver)"]),
        ({"package source deb.example": ["203.0.113.5", "198.51.100.200"]}, ["198.51.100.200 (package source deb.example)"]),
        ({"resolver": ["not-an-ip", "::1"]}, []),
    ],
)
def test_prefix_collisions(needed: dict[str, list[str]], expected: list[str]) -> None:
    assert network.collisions(PREFIX, needed) == expected


def test_the_forbidden_prefix_is_refused_when_a_package_source_is_inside_it() -> None:
    forbidden = ipaddress.IPv4Network("203.0.113.0/24")
    assert network.collisions(forbidden, {"package source x": ["203.0.113.9"]}) == ["203.0.113.9 (package source x)"]


@pytest.mark.parametrize("text", ["198.51.100.0/23", "300.1.1.0/24", "lab"])
def test_cli_rejects_a_bad_prefix_in_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "up", "--prefix", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--prefix" in err and "Traceback" not in err


def test_lab_host_lookup_names_the_known_hosts() -> None:
    with pytest.raises(KeyError, match="dns, storage, mx1, mx2, sender"):
        topo.host("mx3")


def test_not_root_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(["lab", "down"]) == 1
    assert capsys.readouterr().err.strip() == (
        "mxdrill: the lab needs root (namespaces, bridge, mounts): run it with sudo or as root"
    )


def test_a_missing_debian_package_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from mxdrill.lab import manager

    real_which = manager.shutil.which
    monkeypatch.setattr(manager.shutil, "which", lambda prog, path=None: None if prog == "knotd" else real_which(prog, path=path))
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert cli.main(["lab", "up"]) == 1
    err = capsys.readouterr().err
    assert "missing Debian package(s): knot;" in err and "apt-get install -y knot" in err


def test_a_host_that_does_not_come_up_is_named_with_its_log() -> None:
    from mxdrill.lab import manager, readiness

    message = manager._not_up_message([readiness.Probe("mx2", "smtp", lambda: False)])
    assert message.startswith("host mx2 did not come up")
    assert "/run/mxdrill-lab/mx2/boot.log" in message and "mx2:smtp" in message
