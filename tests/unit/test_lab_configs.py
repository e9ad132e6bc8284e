"""Pure parts of the lab: rendered configs, the prefix-collision check, CLI argument checks, the inventory,
and a lab of several mail domains (`mxdrill lab up --domains N`) without booting it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from test_inventory_ansible_oracle import ansible_list

from mxdrill import cli
from mxdrill.inventory import load_inventory
from mxdrill.lab import ansible_inventory, configs, hosts, manager, network, readiness, tls
from mxdrill.lab import topology as topo

PREFIX = topo.DEFAULT_PREFIX
KEYS = configs.LabKeys(
    client_public="ssh-ed25519 AAAAclient lab\n",
    client_private="PRIVATE\n",
    host_private={h.name: f"HOSTPRIV-{h.name}\n" for h in topo.EVERY_HOST},
    host_public={h.name: f"ssh-ed25519 AAAA{h.name} {h.fqdn}\n" for h in topo.EVERY_HOST},
    tls=tls.LabTls("LAB-CA\n", {h.name: (f"CERT-{h.fqdn}\n", f"TLSKEY-{h.fqdn}\n") for h in tls.mx_hosts()}),
)


def files_of(
    name: str, topology: topo.Topology = "shared", backups: int = 1, domains: int = 1
) -> dict[str, configs.LabFile]:
    lab_host = topo.host(name, backups, domains)
    return {f.path: f for f in configs.host_files(lab_host, topology, PREFIX, KEYS, backups, domains=domains)}


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
    assert "mynetworks = 127.0.0.0/8 [::1]/128\n" in main_cf
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
    with pytest.raises(KeyError, match="dns, storage, mailstore, userdb, mx1, mx2, sender"):
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


# --- a second backup MX -----------------------------------------------------------------------------

def test_the_default_lab_is_the_two_mx_lab_and_two_backups_add_mx3() -> None:
    assert [h.name for h in topo.lab_hosts(1)] == ["dns", "storage", "mailstore", "userdb", "mx1", "mx2", "sender"]
    assert topo.HOSTS == topo.lab_hosts(1)
    assert [h.name for h in topo.lab_hosts(2)] == ["dns", "storage", "mailstore", "userdb", "mx1", "mx2", "mx3", "sender"]
    mx3 = topo.host("mx3", backups=2)
    assert (mx3.fqdn, mx3.address(), mx3.mx_priority) == ("mx3.example.test", "198.51.100.13", 30)
    with pytest.raises(KeyError, match=r"mx3 runs with `mxdrill lab up --backups 2`"):
        topo.host("mx3")
    with pytest.raises(ValueError, match="1 or 2 backup MXs, not 3"):
        topo.lab_hosts(3)


def test_zone_with_two_backups_has_three_mx_records_an_a_and_a_ptr_for_mx3() -> None:
    zone = configs.zone_forward(PREFIX, backups=2)
    assert [line for line in zone.splitlines() if " MX " in line] == [
        "@ IN MX 10 mx1.example.test.", "@ IN MX 20 mx2.example.test.", "@ IN MX 30 mx3.example.test.",
    ]
    assert "mx3 IN A 198.51.100.13" in zone
    assert "13 IN PTR mx3.example.test." in configs.zone_reverse(PREFIX, backups=2)
    assert "mx3" not in configs.zone_forward(PREFIX) + configs.zone_reverse(PREFIX)
    serial = lambda text: text.splitlines()[2].split()[5]  # noqa: E731
    assert serial(zone) != serial(configs.zone_forward(PREFIX)), "other content, other serial"
    assert files_of("dns", backups=2)["/etc/knot/zones/example.test.zone"].content == zone


@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_mx3_delivers_into_the_shared_store_like_mx1_in_both_topologies(topology: topo.Topology) -> None:
    mx3 = topo.host("mx3", backups=2)
    assert topo.mounts_shared_storage(mx3, topology)
    main_cf = files_of("mx3", topology, backups=2)["/etc/postfix/main.cf"].content
    mx1_cf = files_of("mx1", topology, backups=2)["/etc/postfix/main.cf"].content
    assert main_cf == mx1_cf.replace("mx1.example.test", "mx3.example.test")
    assert "virtual_mailbox_base = /var/mail/vhosts" in main_cf and "relay_domains" not in main_cf
    env = configs.boot_environment(mx3, topology, PREFIX)
    assert env["LAB_MOUNT_STORAGE"] == "1"


def test_keepalived_runs_on_mx1_and_mx2_only() -> None:
    assert "/etc/keepalived/keepalived.conf" not in files_of("mx3", backups=2)
    assert configs.boot_environment(topo.host("mx3", backups=2), "shared", PREFIX)["LAB_KEEPALIVED"] == "0"
    for name in ("mx1", "mx2"):
        assert "/etc/keepalived/keepalived.conf" in files_of(name, backups=2)
        assert configs.boot_environment(topo.host(name), "shared", PREFIX)["LAB_KEEPALIVED"] == "1"


def test_known_hosts_and_ssh_config_name_mx3_only_when_it_runs() -> None:
    two = configs.known_hosts_lines(KEYS, PREFIX, backups=2).splitlines()
    assert "mx3.example.test,mx3,198.51.100.13 ssh-ed25519 AAAAmx3 mx3.example.test" in two
    assert len(two) == len(topo.ALL_HOSTS)
    assert "mx3" not in configs.known_hosts_lines(KEYS, PREFIX)
    assert "Host mx3 mx3.example.test 198.51.100.13\n" in configs.ssh_config("/k", PREFIX, backups=2)
    assert "mx3" not in configs.ssh_config("/k", PREFIX)


def changed_hosts(before: tuple[topo.Topology, int] | tuple[topo.Topology, int, int],
                  after: tuple[topo.Topology, int] | tuple[topo.Topology, int, int]) -> set[str]:
    """Hosts of the `after` lab (topology, backups[, domains]) whose boot digest differs from the `before`
    lab's (or that are new)."""
    def digests(topology: topo.Topology, backups: int, domains: int = 1) -> dict[str, str]:
        return {h.name: hosts.config_digest(h, topology, PREFIX, KEYS, backups, domains=domains)
                for h in topo.lab_hosts(backups, domains)}

    old, new = digests(*before), digests(*after)
    return {name for name, digest in new.items() if old.get(name) != digest}


@pytest.mark.parametrize("topology", topo.TOPOLOGIES)
def test_a_change_of_backups_touches_only_mx3_and_the_dns_host(topology: topo.Topology) -> None:
    assert changed_hosts((topology, 1), (topology, 2)) == {"dns", "mx3"}
    assert changed_hosts((topology, 2), (topology, 1)) == {"dns"}  # and mx3 is stopped


@pytest.mark.parametrize("backups", topo.BACKUP_CHOICES)
def test_a_topology_switch_touches_only_mx2(backups: int) -> None:
    assert changed_hosts(("shared", backups), ("relay", backups)) == {"mx2"}
    assert changed_hosts(("relay", backups), ("relay", backups)) == set()


def test_cli_refuses_three_backups_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "up", "--backups", "3"])
    assert exit_info.value.code == 2
    assert "--backups: invalid choice: 3" in capsys.readouterr().err


# --- the lab's inventory ----------------------------------------------------------------------------

ROOT_INVENTORY = Path(__file__).resolve().parents[2] / "hosts.yml"


def test_the_default_lab_renders_the_root_hosts_yml_byte_for_byte() -> None:
    assert ansible_inventory.render("shared", 1).encode() == ROOT_INVENTORY.read_bytes()


def test_the_two_backup_inventory_loads_with_mx2_and_mx3_as_backups(tmp_path: Path) -> None:
    key, known = tmp_path / "ssh" / "id_ed25519", tmp_path / "ssh" / "known_hosts"
    path = tmp_path / "elsewhere" / "hosts.yml"
    path.parent.mkdir()
    ca = ROOT_INVENTORY.parent / ".lab/tls/ca.pem"
    path.write_text(ansible_inventory.render("shared", 2, key_file=str(key), known_hosts=str(known), tls_ca=str(ca)))
    inventory = load_inventory(path)
    assert [(h.name, h.address, h.mx_priority) for h in inventory.backups] == [
        ("mx2.example.test", "198.51.100.12", 20), ("mx3.example.test", "198.51.100.13", 30),
    ]
    assert inventory.primary.name == "mx1.example.test"
    assert {h.ssh.key_file for h in inventory.hosts.values()} == {key}
    assert {h.ssh.known_hosts for h in inventory.hosts.values()} == {known}
    root = load_inventory(ROOT_INVENTORY)
    assert inventory.model_dump(exclude={"path", "hosts"}) == root.model_dump(exclude={"path", "hosts"})


def test_inventories_differ_from_the_root_one_only_where_the_lab_does() -> None:
    root = ROOT_INVENTORY.read_text().splitlines()
    relay = ansible_inventory.render("relay", 1).splitlines()
    assert [i for i, (a, b) in enumerate(zip(root, relay, strict=True)) if a != b] == [0, 4]  # the header only
    assert "mxdrill lab up --topology relay" in relay[0] and "relay topology, 1 backup MX" in relay[4]
    two = ansible_inventory.render("shared", 2, key_file="/abs/key", known_hosts="/abs/known_hosts")
    assert "ansible_ssh_private_key_file: /abs/key   #" in two and "mxdrill_known_hosts: /abs/known_hosts\n" in two
    assert "        mx3.example.test:\n          ansible_host: 198.51.100.13\n          mxdrill_mx_priority: 30\n" in two


def test_an_awkward_path_is_quoted_so_the_yaml_still_parses() -> None:
    text = ansible_inventory.render(key_file="/srv/my lab: #1/id", known_hosts="/k")
    assert yaml.safe_load(text)["all"]["vars"]["ansible_ssh_private_key_file"] == "/srv/my lab: #1/id"


def test_lab_inventory_refuses_in_one_line_when_the_lab_is_not_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mxdrill.lab import manager

    monkeypatch.setattr(manager, "run_state", lambda: None)
    assert cli.main(["lab", "inventory", "--output", str(tmp_path / "hosts.yml")]) == 1
    assert capsys.readouterr().err == "mxdrill: the lab is not up: run `mxdrill lab up` first\n"
    assert not (tmp_path / "hosts.yml").exists()


def test_lab_inventory_writes_the_running_lab_with_absolute_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mxdrill.lab import manager

    running = manager.RunState("relay", 2, PREFIX)
    monkeypatch.setattr(manager, "require_running", lambda paths: running)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "inventory", "--state-dir", "state", "--output", "out.yml"]) == 0
    expected = ansible_inventory.render(
        "relay", 2, PREFIX,
        key_file=str(tmp_path.resolve() / "state/ssh/id_ed25519"),
        known_hosts=str(tmp_path.resolve() / "state/ssh/known_hosts"),
        tls_ca=str(tmp_path.resolve() / "state/tls/ca.pem"),
    )
    assert (tmp_path / "out.yml").read_text() == expected


def test_each_host_has_its_own_stable_mac() -> None:
    macs = [network.host_mac(h.address(PREFIX)) for h in topo.ALL_HOSTS]
    assert network.host_mac("198.51.100.13") == "02:00:c6:33:64:0d"
    assert len(set(macs)) == len(macs)


# --- several mail domains (`lab up --domains N`) --------------------------------------------------------

FOUR = topo.lab_hosts(domains=4)
FURTHER = ("example2.test", "example3.test", "example4.test")


def contents_of(name: str, topology: topo.Topology = "shared") -> dict[str, str]:
    """Each file's text on this host of the four-domain lab."""
    return {path: lab_file.content for path, lab_file in files_of(name, topology, domains=4).items()}


# --- domains: who the hosts are ---------------------------------------------------------------------

def test_four_domains_are_the_default_lab_and_an_mx_pair_for_each_further_domain() -> None:
    assert topo.lab_hosts(domains=1) == topo.HOSTS
    assert FOUR[:len(topo.HOSTS)] == topo.HOSTS
    assert topo.mail_domains(4) == ("example.test", *FURTHER)
    further = [(h.name, h.fqdn, h.address(), h.mx_priority, h.vrrp) for h in FOUR[len(topo.HOSTS):]]
    assert further == [
        ("mx1-d2", "mx1.example2.test", "198.51.100.121", 10, False),
        ("mx2-d2", "mx2.example2.test", "198.51.100.122", 20, False),
        ("mx1-d3", "mx1.example3.test", "198.51.100.131", 10, False),
        ("mx2-d3", "mx2.example3.test", "198.51.100.132", 20, False),
        ("mx1-d4", "mx1.example4.test", "198.51.100.141", 10, False),
        ("mx2-d4", "mx2.example4.test", "198.51.100.142", 20, False),
    ]


def test_every_host_any_lab_can_run_has_its_own_address_name_and_a_short_enough_namespace() -> None:
    offsets = [h.offset for h in topo.EVERY_HOST] + [topo.GATEWAY_OFFSET, topo.VIP_OFFSET]
    assert len(set(offsets)) == len(offsets) and max(offsets) < 255
    assert len({h.name for h in topo.EVERY_HOST}) == len({h.fqdn for h in topo.EVERY_HOST}) == len(topo.EVERY_HOST)
    assert max(len(h.namespace) for h in topo.EVERY_HOST) <= 15  # IFNAMSIZ - 1: the machine-side veth is named so
    assert all(ipaddress.ip_address(h.address()) in PREFIX for h in topo.EVERY_HOST)


def test_a_further_domains_mx_is_found_by_short_name_or_fqdn_and_named_when_its_lab_is_not_up() -> None:
    assert topo.host("mx2.example3.test", domains=4) == topo.host("mx2-d3", domains=3)
    with pytest.raises(KeyError, match=r"mx1-d3 runs with `mxdrill lab up --domains 3`"):
        topo.host("mx1-d3", domains=2)
    with pytest.raises(KeyError, match=r"mx3 runs with `mxdrill lab up --backups 2`"):
        topo.host("mx3", domains=4)


MAX = topo.MAX_DOMAINS


@pytest.mark.parametrize(("backups", "init", "domains", "expected"), [
    (1, "initscripts", 1, None),
    (1, "initscripts", MAX, None),
    (1, "initscripts", MAX + 1, f"the lab runs 1 to {MAX} mail domains, not {MAX + 1}: pass --domains 1 to {MAX}"),
    (1, "initscripts", 0, f"the lab runs 1 to {MAX} mail domains, not 0: pass --domains 1 to {MAX}"),
    (2, "initscripts", 2, "--domains 2 gives each domain one backup MX: --backups 2 runs with --domains 1 only"),
    (1, "systemd", 3, "--domains 3 boots init-script hosts only: --init systemd runs with --domains 1 only"),
    (2, "systemd", 1, None),
])
def test_what_the_lab_refuses_to_run(backups: int, init: str, domains: int, expected: str | None) -> None:
    assert topo.refusal(backups, init, domains) == expected


# --- domains: what they run ------------------------------------------------------------------------

def test_the_dns_host_serves_every_domains_zone_and_ptrs_for_every_host() -> None:
    files = contents_of("dns")
    knot = files["/etc/knot/knot.conf"]
    zones = [line.split(": ")[1] for line in knot.splitlines() if line.startswith("  - domain: ")]
    assert zones == ["example.test", *FURTHER, "100.51.198.in-addr.arpa", "0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]
    for number, domain in enumerate(FURTHER, start=2):
        zone = files[f"/etc/knot/zones/{domain}.zone"]
        assert [line for line in zone.splitlines() if " MX " in line or " A " in line or " AAAA " in line] == [
            f"@ IN MX 10 mx1.{domain}.", f"@ IN MX 20 mx2.{domain}.",
            f"mx1 IN A 198.51.100.1{number}1", f"mx1 IN AAAA 2001:db8:51:100::1{number}1",
            f"mx2 IN A 198.51.100.1{number}2", f"mx2 IN AAAA 2001:db8:51:100::1{number}2",
        ]
        assert f"$ORIGIN {domain}." in zone and "@ IN NS dns.example.test." in zone
    assert files["/etc/knot/zones/example.test.zone"] == configs.zone_forward(PREFIX), "the first domain's zone is today's"
    reverse = files["/etc/knot/zones/100.51.198.in-addr.arpa.zone"]
    assert all(f"{h.offset} IN PTR {h.fqdn}." in reverse for h in FOUR)


def test_the_reverse_zone_of_more_domains_has_another_serial_than_every_other_lab() -> None:
    serial = lambda text: text.splitlines()[2].split()[5]  # noqa: E731
    serials = [serial(configs.zone_reverse(PREFIX, 1, domains)) for domains in range(1, topo.MAX_DOMAINS + 1)]
    serials.append(serial(configs.zone_reverse(PREFIX, 2)))
    assert len(set(serials)) == len(serials)


@pytest.mark.parametrize("topology", ["shared", "relay"])  # the store topology runs one domain
def test_each_domains_primary_delivers_into_its_own_directory_of_the_shared_store(topology: topo.Topology) -> None:
    files = contents_of("mx1-d3", topology)
    main_cf = files["/etc/postfix/main.cf"]
    assert "myhostname = mx1.example3.test\nmydomain = example3.test\n" in main_cf
    assert "virtual_mailbox_domains = example3.test\n" in main_cf and "virtual_mailbox_base = /var/mail/vhosts" in main_cf
    assert files["/etc/postfix/vmailbox"].splitlines() == [
        "probe@example3.test example3.test/probe/", "postmaster@example3.test example3.test/postmaster/"]
    env = configs.boot_environment(topo.host("mx1-d3", domains=3), topology, PREFIX)
    assert (env["LAB_MOUNT_STORAGE"], env["LAB_KEEPALIVED"], env["LAB_FQDN"]) == ("1", "0", "mx1.example3.test")
    assert "/etc/keepalived/keepalived.conf" not in files


def test_each_domains_backup_delivers_like_mx2_in_shared_and_queues_for_its_own_domain_in_relay() -> None:
    shared, primary = (contents_of(name)["/etc/postfix/main.cf"] for name in ("mx2-d4", "mx1-d4"))
    assert shared == primary.replace("mx1.example4.test", "mx2.example4.test")
    relay = contents_of("mx2-d4", "relay")
    assert "relay_domains = example4.test\n" in relay["/etc/postfix/main.cf"]
    assert "virtual_mailbox_domains" not in relay["/etc/postfix/main.cf"]
    assert relay["/etc/postfix/relay_recipients"] == "probe@example4.test OK\npostmaster@example4.test OK\n"
    assert not topo.mounts_shared_storage(topo.host("mx2-d4", domains=4), "relay")


def test_the_harness_knows_every_host_of_the_running_lab_and_the_probes_cover_them() -> None:
    known = configs.known_hosts_lines(KEYS, PREFIX, domains=4).splitlines()
    assert len(known) == len(FOUR)
    assert "mx2.example2.test,mx2-d2,198.51.100.122 ssh-ed25519 AAAAmx2-d2 mx2.example2.test" in known
    assert "Host mx1-d4 mx1.example4.test 198.51.100.141\n" in configs.ssh_config("/k", PREFIX, domains=4)
    probes = {(p.host, p.service) for p in readiness.probes("shared", PREFIX, domains=4)}
    assert {(h.name, s) for h in FOUR if h.role == "mx" for s in ("ssh", "smtp", "mount")} <= probes
    assert [p for p in probes if p[1] == "vip-smtp"] == [("mx1", "vip-smtp")]


def test_more_domains_reboot_only_the_dns_host_and_a_topology_switch_only_the_backups() -> None:
    added = {h.name for h in FOUR[len(topo.HOSTS):]}
    assert changed_hosts(("shared", 1, 1), ("shared", 1, 4)) == {"dns"} | added
    assert changed_hosts(("shared", 1, 4), ("shared", 1, 2)) == {"dns"}  # and domains 3 and 4 are stopped
    assert changed_hosts(("shared", 1, 4), ("relay", 1, 4)) == {"mx2", "mx2-d2", "mx2-d3", "mx2-d4"}


# --- domains: the fleet inventory ------------------------------------------------------------------

def test_one_domain_renders_todays_inventory_exactly() -> None:
    assert ansible_inventory.render("shared", 1, domains=1).encode() == ROOT_INVENTORY.read_bytes()
    assert ansible_inventory.render_dir("shared", 1, PREFIX, "/k", "/kh", domains=1) == \
        ansible_inventory.render_dir("shared", 1, PREFIX, "/k", "/kh")


def test_four_domains_render_a_fleet_that_ansible_reads_with_each_mx_in_its_own_domain(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(ansible_inventory.render("shared", 1, key_file="/k", known_hosts="/kh", domains=4))
    listing = ansible_list(path, tmp_path)
    hostvars = listing["_meta"]["hostvars"]
    for lab_host in (h for h in FOUR if h.role not in ("mailstore", "userdb")):  # declared by other labs only
        seen = hostvars[lab_host.fqdn]
        assert (seen["mxdrill_domain"], seen["mxdrill_recipients"]) == (lab_host.domain, [f"probe@{lab_host.domain}"])
        assert seen["mxdrill_vip"] == (topo.vip() if lab_host.domain == topo.DOMAIN else None)
        assert seen["ansible_host"] == lab_host.address()
    assert listing["mxdrill_primary"]["hosts"] == ["mx1.example.test", *(f"mx1.{d}" for d in FURTHER)]
    assert listing["mxdrill_backup"]["hosts"] == ["mx2.example.test", *(f"mx2.{d}" for d in FURTHER)]
    for domain in FURTHER:
        assert listing[topo.domain_group(domain)]["hosts"] == [f"mx1.{domain}", f"mx2.{domain}"]
    roles = ["mxdrill_primary", "mxdrill_backup", "mxdrill_storage", "mxdrill_dns", "mxdrill_sender"]
    assert [g for g in listing["all"]["children"] if g != "ungrouped"] == [*roles, "example2", "example3", "example4"]


def test_the_fleet_inventory_lists_a_domains_mxs_with_empty_maps_and_keeps_all_vars_about_the_first() -> None:
    text = ansible_inventory.render("shared", 1, domains=2)
    assert ("    example2:\n      vars:\n        mxdrill_domain: example2.test\n"
            "        mxdrill_recipients: [probe@example2.test]\n        mxdrill_vip: null ") in text
    assert "      hosts:\n        mx1.example2.test: {}\n        mx2.example2.test: {}\n" in text
    parsed = yaml.safe_load(text)["all"]
    assert {k: parsed["vars"][k] for k in ("mxdrill_domain", "mxdrill_recipients", "mxdrill_vip")} == {
        "mxdrill_domain": "example.test", "mxdrill_recipients": ["probe@example.test"], "mxdrill_vip": "198.51.100.10"}
    assert "mxdrill lab up --domains 2" in text.splitlines()[0]


def test_the_ansible_dir_layout_of_four_domains_reads_as_the_flat_file(tmp_path: Path) -> None:
    flat, layout = tmp_path / "flat.yml", tmp_path / "dir"
    flat.write_text(ansible_inventory.render("relay", 1, PREFIX, "/k", "/kh", domains=4))
    for relative, text in ansible_inventory.render_dir("relay", 1, PREFIX, "/k", "/kh", domains=4).items():
        (layout / relative).parent.mkdir(parents=True, exist_ok=True)
        (layout / relative).write_text(text)
    assert (layout / "group_vars" / "example4.yml").read_text().startswith("mxdrill_domain: example4.test\n")
    runs = [tmp_path / "run-flat", tmp_path / "run-dir"]  # ansible gets a home of its own for each run
    for run in runs:
        run.mkdir()
    expected, seen = ansible_list(flat, runs[0]), ansible_list(layout / "hosts.yml", runs[1])
    assert seen["_meta"]["hostvars"] == expected["_meta"]["hostvars"]
    assert {g: seen[g] for g in expected if g != "all"} == {g: expected[g] for g in expected if g != "all"}


# --- domains: the command line ---------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "line"), [
    (["--domains", str(topo.MAX_DOMAINS + 1)], f"the lab runs 1 to {topo.MAX_DOMAINS} mail domains"),
    (["--domains", "2", "--backups", "2"], "--domains 2 gives each domain one backup MX"),
    (["--domains", "4", "--init", "systemd"], "--domains 4 boots init-script hosts only"),
])
def test_lab_up_refuses_what_it_cannot_run_in_one_line_before_anything_else(
    argv: list[str], line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)  # refused before the root check: nothing is touched
    assert cli.main(["lab", "up", *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"mxdrill: {line}") and err.count("\n") == 1


def test_lab_inventory_renders_the_running_domains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(manager, "require_running", lambda paths: manager.RunState("shared", 1, PREFIX, domains=3))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "inventory", "--state-dir", "state", "--output", "out.yml"]) == 0
    ssh_dir = tmp_path.resolve() / "state/ssh"
    expected = ansible_inventory.render("shared", 1, PREFIX, str(ssh_dir / "id_ed25519"), str(ssh_dir / "known_hosts"),
                                        domains=3, tls_ca=str(tmp_path.resolve() / "state/tls/ca.pem"))
    assert (tmp_path / "out.yml").read_text() == expected


def test_lab_inventory_ansible_dir_removes_the_files_of_domains_that_no_longer_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for domains in (4, 2):
        running = manager.RunState("shared", 1, PREFIX, domains=domains)
        monkeypatch.setattr(manager, "require_running", lambda paths, state=running: state)
        assert cli.main(["lab", "inventory", "--ansible-dir", "inv"]) == 0
    assert sorted(p.name for p in (tmp_path / "inv/group_vars").iterdir()) == ["all.yml", "example2.yml"]
    assert not any("example3" in p.name or "example4" in p.name for p in (tmp_path / "inv/host_vars").iterdir())


def test_the_run_state_remembers_the_domains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TOPOLOGY_FILE", "BACKUPS_FILE", "DOMAINS_FILE", "INIT_FILE", "PREFIX_FILE", "KEYS_FILE",
                 "USERDB_FILE", "PRIORITIES_FILE"):
        monkeypatch.setattr(manager, name, tmp_path / name.lower())
    monkeypatch.setattr(topo, "RUN_DIR", tmp_path)
    equal = manager.RunState("shared", 1, PREFIX, userdb="mysql", priorities="equal")
    manager._write_state(equal, KEYS)
    assert manager.run_state() == equal
    assert equal.describe() == "shared topology, 1 backup MX, users in mysql, equal MX priorities"
    state = manager.RunState("relay", 1, PREFIX, domains=4)
    manager._write_state(state, KEYS)
    assert manager.run_state() == state
    assert state.describe() == "relay topology, 1 backup MX, 4 mail domains"
    (tmp_path / "domains_file").write_text("2\n")
    monkeypatch.setattr(manager, "BACKUPS_FILE", tmp_path / "backups_file")
    (tmp_path / "backups_file").write_text("2\n")
    assert manager.run_state() is None, "a combination the lab refuses is no state to trust"
