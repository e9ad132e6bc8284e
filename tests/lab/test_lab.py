"""The lab is real: SSH with strict host keys, SMTP, DNS, shared storage, failover mail paths, clean down."""

from __future__ import annotations

import json
import socket
import subprocess

import dns.resolver
import pytest

from mxdrill.lab import manager
from mxdrill.lab import topology as topo

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


@pytest.mark.parametrize("address", [topo.host("mx1").address(), topo.host("mx2").address(), topo.vip()])
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
