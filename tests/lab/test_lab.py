"""The lab is real: SSH with strict host keys, SMTP, DNS, shared storage, failover mail paths, a second
backup MX, clean down."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import dns.resolver
import pytest

from mxdrill.inventory import load_inventory
from mxdrill.lab import hosts, manager, network
from mxdrill.lab import topology as topo
from mxdrill.remote import Sessions

from lab_helpers import maildir_copies, send_via_sender, ssh, wait_until


@pytest.mark.parametrize("name", [h.name for h in topo.HOSTS])
def test_every_host_answers_ssh_with_strict_host_keys(lab: manager.LabPaths, name: str) -> None:
    result = ssh(lab, topo.host(name).address(), "hostname")
    assert result.stdout.strip() == topo.host(name).fqdn


def test_ssh_refuses_a_host_key_not_in_known_hosts(lab: manager.LabPaths, tmp_path) -> None:
    wrong = tmp_path / "known_hosts"
    dns_key = (lab.ssh_dir / "known_hosts").read_text().splitlines()[0].split(maxsplit=1)[1]
    wrong.write_text(f"{topo.host('mx2').address()} {dns_key}\n")  # mx2's address, somebody else's key
    argv = ["ssh", "-F", str(lab.ssh_dir / "ssh_config"), "-o", f"UserKnownHostsFile={wrong}", "-o", "BatchMode=yes", "mx2", "true"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "host key" in result.stderr.lower()


@pytest.mark.parametrize("name", [h.name for h in topo.HOSTS])
def test_the_machines_usr_and_the_rest_of_its_tree_are_read_only_in_every_host(lab: manager.LabPaths, name: str) -> None:
    """`chmod -x /usr/sbin/postfix` inside mx1 once broke every later lab: the machine's files are read-only in hosts."""
    def inside(command: str) -> subprocess.CompletedProcess[str]:
        argv = hosts.nsenter_argv(topo.host(name), ["sh", "-c", command])
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    shared = ["/usr/.mxdrill-write", "/opt/.mxdrill-write", "/boot/.mxdrill-write"]
    shared += [] if name == "storage" else ["/srv/.mxdrill-write"]  # storage's /srv is its own (the export)
    tried = inside(f"chmod -x /usr/sbin/postfix; touch {' '.join(shared)}")
    assert tried.stderr.count("Read-only file system") == len(shared) + 1, tried.stderr
    assert os.access("/usr/sbin/postfix", os.X_OK)
    own = inside("touch /etc/.mxdrill-write /var/tmp/.mxdrill-write /tmp/w /root/w /home/w && rm /etc/.mxdrill-write")
    assert own.returncode == 0, own.stderr  # the host's own layers and tmpfs stay writable


@pytest.mark.parametrize("address", [topo.host("mx1").address(), topo.host("mx2").address(), topo.vip(),
                                     topo.host("mx1").address6(), topo.host("mx2").address6()])
def test_smtp_greets_with_220(lab: manager.LabPaths, address: str) -> None:
    with socket.create_connection((address, 25), timeout=5) as sock:
        assert sock.recv(128).startswith(b"220 ")


def test_dns_answers_mx_in_priority_order_with_ptrs(lab: manager.LabPaths) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [topo.host("dns").address()]
    answer = resolver.resolve(topo.DOMAIN, "MX")
    records = sorted((r.preference, str(r.exchange)) for r in answer)
    assert records == [(10, "mx1.example.test."), (20, "mx2.example.test.")]
    assert answer.rrset.ttl == 3600
    ptr = resolver.resolve_address(topo.host("mx2").address())
    assert str(ptr[0]) == "mx2.example.test."


@pytest.mark.parametrize("name", ["mx1", "mx2"])
def test_dns_answers_aaaa_and_its_ptr_over_both_stacks(lab: manager.LabPaths, name: str) -> None:
    lab_host = topo.host(name)
    for nameserver in (topo.host("dns").address(), topo.host("dns").address6()):
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver]
        assert [r.address for r in resolver.resolve(lab_host.fqdn, "AAAA")] == [lab_host.address6()]
        assert [str(r) for r in resolver.resolve_address(lab_host.address6())] == [f"{lab_host.fqdn}."]


def test_ipv6_stays_on_the_bridge(lab: manager.LabPaths) -> None:
    """The machine routes the lab's /64 to the bridge only, and no host has an IPv6 route but its link's."""
    assert [r.split(" dev ")[1].split()[0] for r in network.lab_routes() if ":" in r.split()[0]] == [topo.BRIDGE]
    for lab_host in topo.HOSTS:
        routes = subprocess.run(["ip", "-n", lab_host.namespace, "-6", "route", "show"], capture_output=True, text=True,
                                timeout=15, check=True).stdout.splitlines()
        assert sorted(r.split()[0] for r in routes) == ["2001:db8:51:100::/64", "fe80::/64"], routes


@pytest.fixture
def sender_prefers_ipv6(lab: manager.LabPaths):
    """The sender's Postfix picks IPv6 whenever an MX has an AAAA (the lab leaves it `any`, like Postfix)."""
    def prefer(value: str) -> None:
        ssh(lab, "sender", f"postconf -e smtp_address_preference={value} && postfix reload")

    prefer("ipv6")
    yield
    prefer("any")


def test_the_sender_delivers_over_ipv6_and_tls(lab: manager.LabPaths, sender_prefers_ipv6: None) -> None:
    before = int(ssh(lab, "sender", "wc -l < /var/log/mail.log").stdout)
    message_id = send_via_sender("over IPv6")
    wait_until(lambda: maildir_copies(lab, message_id) == 1, 20, "the probe in the shared store")
    log = ssh(lab, "sender", f"tail -n +{before + 1} /var/log/mail.log").stdout
    assert "Trusted TLS connection established to mx1.example.test[2001:db8:51:100::11]:25" in log, log
    assert any("relay=mx1.example.test[2001:db8:51:100::11]:25" in line and "status=sent" in line
               for line in log.splitlines()), log


def test_mailbox_base_is_one_shared_mount(lab: manager.LabPaths) -> None:
    for mx in ("mx1", "mx2"):
        fstype = ssh(lab, mx, f"findmnt -n -o FSTYPE,SOURCE {topo.MAILBOX_BASE}").stdout.split()
        assert fstype == ["fuse.sshfs", f"vmail@{topo.host('storage').address()}:{topo.STORAGE_EXPORT}"]
    ssh(lab, "mx1", f"echo written-on-mx1 > {topo.MAILBOX_BASE}/.shared-check")
    try:
        assert ssh(lab, "mx2", f"cat {topo.MAILBOX_BASE}/.shared-check").stdout.strip() == "written-on-mx1"
    finally:
        ssh(lab, "mx1", f"rm -f {topo.MAILBOX_BASE}/.shared-check")


def test_mail_to_sender_lands_exactly_once_in_the_maildir(lab: manager.LabPaths) -> None:
    message_id = send_via_sender("lab: primary path")
    wait_until(lambda: maildir_copies(lab, message_id) >= 1, 20, "the mail in the shared Maildir")
    log = ssh(lab, "mx1", "grep -F 'status=sent (delivered to maildir)' /var/log/mail.log").stdout
    assert log, "mx1 logged no Maildir delivery"
    assert maildir_copies(lab, message_id) == 1


@pytest.fixture
def mx1_stopped(lab: manager.LabPaths, request: pytest.FixtureRequest) -> None:
    """mx1's Postfix stopped, its restart registered before the stop (heal before harm)."""
    request.addfinalizer(lambda: ssh(lab, "mx1", "postfix status >/dev/null 2>&1 || service postfix start"))
    ssh(lab, "mx1", "service postfix stop")
    wait_until(lambda: ssh(lab, "mx1", "postfix status", check=False).returncode != 0, 10, "mx1's Postfix to stop")


@pytest.mark.parametrize("topology", ["shared"])
def test_shared_topology_mx2_delivers_to_the_maildir_while_mx1_is_down(topology, lab, mx1_stopped) -> None:
    message_id = send_via_sender("lab: failover shared")
    wait_until(lambda: maildir_copies(lab, message_id) == 1, 20, "delivery through mx2")
    log = ssh(lab, "mx2", f"grep -F 'message-id=<{message_id}>' /var/log/mail.log").stdout
    assert log, "mx2 did not accept the mail"


def mx_records() -> list[tuple[int, str]]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [topo.host("dns").address()]
    return sorted((r.preference, str(r.exchange)) for r in resolver.resolve(topo.DOMAIN, "MX"))


MX3 = topo.host("mx3", backups=2)


@pytest.mark.parametrize("backups", [2])
class TestSecondBackupMx:
    """`lab up --backups 2`: one boot of mx3 shared by these tests; the last one goes back to 1 backup."""

    def test_mx3_answers_ssh_with_strict_host_keys_and_smtp_220(self, backups: int, lab: manager.LabPaths) -> None:
        assert ssh(lab, "mx3", "hostname").stdout.strip() == MX3.fqdn
        assert ssh(lab, MX3.address(), "hostname").stdout.strip() == MX3.fqdn
        with socket.create_connection((MX3.address(), 25), timeout=5) as sock:
            assert sock.recv(128).startswith(b"220 mx3.example.test ESMTP")
        assert ssh(lab, "mx3", "pgrep -x keepalived", check=False).returncode == 1, "keepalived stays on mx1/mx2"

    def test_dns_answers_mx_10_20_30_and_a_ptr_for_mx3(self, backups: int, lab: manager.LabPaths) -> None:
        assert mx_records() == [(10, "mx1.example.test."), (20, "mx2.example.test."), (30, "mx3.example.test.")]
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [topo.host("dns").address()]
        assert str(resolver.resolve_address(MX3.address())[0]) == "mx3.example.test."

    def test_mx3_mounts_and_delivers_into_the_shared_store(self, backups: int, lab: manager.LabPaths) -> None:
        fstype = ssh(lab, "mx3", f"findmnt -n -o FSTYPE,SOURCE {topo.MAILBOX_BASE}").stdout.split()
        assert fstype == ["fuse.sshfs", f"vmail@{topo.host('storage').address()}:{topo.STORAGE_EXPORT}"]
        ssh(lab, "mx3", f"echo written-on-mx3 > {topo.MAILBOX_BASE}/.shared-check-mx3")
        try:
            assert ssh(lab, "mx1", f"cat {topo.MAILBOX_BASE}/.shared-check-mx3").stdout.strip() == "written-on-mx3"
        finally:
            ssh(lab, "mx3", f"rm -f {topo.MAILBOX_BASE}/.shared-check-mx3")
        message_id = f"{uuid.uuid4().hex}@mxdrill.test"
        message = EmailMessage()
        message["From"], message["To"], message["Message-Id"] = "tester@harness.example.test", topo.RECIPIENTS[0], f"<{message_id}>"
        message["Subject"] = "lab: straight to mx3"
        message.set_content("mx3 delivers with virtual(8)")
        with smtplib.SMTP(MX3.address(), 25, timeout=10) as client:
            client.send_message(message)
        wait_until(lambda: maildir_copies(lab, message_id) == 1, 20, "mx3's delivery in the shared Maildir")

    def test_lab_inventory_names_mx3_and_works_from_anywhere(
        self, backups: int, lab: manager.LabPaths, tmp_path: Path
    ) -> None:
        saved = tmp_path / "elsewhere" / "hosts.yml"
        saved.parent.mkdir()
        argv = [sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(lab.state_dir.resolve())]
        printed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True, cwd=tmp_path).stdout
        subprocess.run([*argv, "--output", str(saved)], capture_output=True, timeout=30, check=True, cwd=tmp_path)
        assert saved.read_text() == printed
        inventory = load_inventory(saved)
        assert [(h.name, h.mx_priority) for h in inventory.backups] == [("mx2.example.test", 20), ("mx3.example.test", 30)]
        pool = Sessions(10)
        try:  # the saved file's absolute key and known_hosts paths work from its directory
            assert pool[inventory.hosts["mx3.example.test"]].check("hostname").strip() == MX3.fqdn
        finally:
            pool.close_all()

    def test_going_back_to_one_backup_stops_mx3_and_nothing_else(self, backups: int, lab: manager.LabPaths) -> None:
        untouched = {h.name: hosts.init_pid(h) for h in topo.HOSTS if h.name != "dns"}  # dns reloads its zones
        manager.up("shared", topo.DEFAULT_PREFIX, lab, say=lambda _m: None)
        assert {name: hosts.init_pid(topo.host(name)) for name in untouched} == untouched
        assert MX3.namespace not in network.lab_namespaces()
        assert "mx3" not in (lab.ssh_dir / "known_hosts").read_text() + (lab.ssh_dir / "ssh_config").read_text()
        assert mx_records() == [(10, "mx1.example.test."), (20, "mx2.example.test.")]
        assert manager.failing("shared", topo.DEFAULT_PREFIX) == []


@pytest.mark.parametrize("topology", ["relay"])
def test_relay_topology_mx2_queues_while_mx1_is_down(topology, lab, mx1_stopped) -> None:
    message_id = send_via_sender("lab: failover relay")

    def queued_on_mx2() -> list[dict]:
        lines = ssh(lab, "mx2", "postqueue -j").stdout.splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    queued = wait_until(lambda: [m for m in queued_on_mx2() if m["queue_name"] == "deferred"], 20, "a deferred mail on mx2")
    reasons = [r.get("delay_reason", "") for m in queued for r in m["recipients"]]
    assert any("mx1.example.test" in reason for reason in reasons), reasons
    ssh(lab, "mx1", "service postfix start")
    ssh(lab, "mx2", "postqueue -f")
    wait_until(lambda: maildir_copies(lab, message_id) == 1, 20, "the drain from mx2 to mx1")
    wait_until(lambda: not queued_on_mx2(), 20, "mx2's queue to empty")
