"""`lab up --domains 4`: four mail domains on one DNS host, one shared store and one sender, each
domain its own MX pair. Booted once for the module (the switch to the relay topology reboots only the
four backups); the module puts the default lab back at its end, so no other test inherits it."""

from __future__ import annotations

import json
import shlex
import smtplib
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import dns.resolver
import pytest

from mxdrill.lab import hosts, manager, network
from mxdrill.lab import topology as topo

from lab_helpers import REPO, ssh, wait_until

DOMAINS = 4
FLEET = topo.lab_hosts(domains=DOMAINS)
MXS = [h for h in FLEET if h.role == "mx"]
FURTHER = list(range(2, DOMAINS + 1))


def pair(number: int) -> tuple[topo.LabHost, topo.LabHost]:
    """Domain `number`'s primary and backup, as the running lab names them."""
    domain = topo.domain_name(number)
    primary, backup = sorted((h for h in MXS if h.domain == domain), key=lambda h: h.mx_priority or 0)
    return primary, backup


@pytest.fixture(scope="module", autouse=True)
def default_lab_afterwards(lab_session: manager.LabPaths):
    """Whatever happens in this module, the lab goes back to the default (one domain) at its end."""
    yield
    manager.up("shared", topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None)


@pytest.fixture
def fleet(lab_session: manager.LabPaths, request: pytest.FixtureRequest) -> manager.LabPaths:
    """The lab of four domains, in the topology the test asks for with @pytest.mark.parametrize('topology', ...)."""
    callspec = getattr(request.node, "callspec", None)
    topology = callspec.params.get("topology", "shared") if callspec else "shared"
    manager.up(topology, topo.DEFAULT_PREFIX, lab_session, say=lambda _m: None, domains=DOMAINS)
    return lab_session


def send(recipient: str, subject: str) -> str:
    """Hand one mail for `recipient` to the lab's sender, which routes it by the domain's MX records; its Message-Id."""
    message_id = f"{uuid.uuid4().hex}@mxdrill.test"
    headers = {"From": "tester@harness.example.test", "To": recipient, "Subject": subject, "Message-Id": f"<{message_id}>"}
    text = "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + f"\r\n{subject}\r\n"
    with smtplib.SMTP(topo.host("sender").address(), 25, timeout=10) as client:
        client.sendmail("tester@harness.example.test", [recipient], text)
    return message_id


def stored(paths: manager.LabPaths, message_id: str) -> list[str]:
    """Every file of the shared store (read on the storage host) that holds this Message-Id, relative to the export."""
    needle = shlex.quote(f"Message-Id: <{message_id}>")
    found = ssh(paths, "storage", f"cd {topo.STORAGE_EXPORT} && grep -rilF {needle} . || true").stdout.split()
    return sorted(path.removeprefix("./") for path in found)


def queue(paths: manager.LabPaths, lab_host: topo.LabHost) -> list[dict]:
    """The host's Postfix queue, as `postqueue -j` lists it."""
    return [json.loads(line) for line in ssh(paths, lab_host.name, "postqueue -j").stdout.splitlines() if line.strip()]


@pytest.fixture
def primary_down(fleet: manager.LabPaths, request: pytest.FixtureRequest) -> topo.LabHost:
    """Domain `number`'s primary with its Postfix stopped; the restart is registered before the stop."""
    primary = pair(request.node.callspec.params["number"])[0]
    request.addfinalizer(lambda: ssh(fleet, primary.name, "postfix status >/dev/null 2>&1 || service postfix start"))
    ssh(fleet, primary.name, "service postfix stop")
    stopped = lambda: ssh(fleet, primary.name, "postfix status", check=False).returncode != 0  # noqa: E731
    wait_until(stopped, 10, f"{primary.name}'s Postfix to stop")
    return primary


@pytest.mark.parametrize("name", [h.name for h in MXS])
def test_every_mx_answers_smtp_and_ssh_with_its_own_hostname(fleet: manager.LabPaths, name: str) -> None:
    lab_host = topo.host(name, domains=DOMAINS)
    with socket.create_connection((lab_host.address(), 25), timeout=5) as sock:
        assert sock.recv(128).startswith(f"220 {lab_host.fqdn} ESMTP".encode())
    assert ssh(fleet, lab_host.address(), "hostname").stdout.strip() == lab_host.fqdn
    keepalived = ssh(fleet, name, "pgrep -x keepalived", check=False).returncode == 0
    assert keepalived == lab_host.vrrp, "keepalived (the VIP) runs for the first domain only"


@pytest.mark.parametrize("number", range(1, DOMAINS + 1))
def test_dns_gives_each_domain_mx_10_and_mx_20_and_ptrs(fleet: manager.LabPaths, number: int) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [topo.host("dns").address()]
    domain = topo.domain_name(number)
    records = sorted((r.preference, str(r.exchange)) for r in resolver.resolve(domain, "MX"))
    assert records == [(10, f"mx1.{domain}."), (20, f"mx2.{domain}.")]
    for lab_host in pair(number):
        assert [r.address for r in resolver.resolve(lab_host.fqdn, "A")] == [lab_host.address()]
        assert str(resolver.resolve_address(lab_host.address())[0]) == f"{lab_host.fqdn}."


@pytest.mark.parametrize("number", range(1, DOMAINS + 1))
def test_mail_from_the_sender_lands_once_in_the_shared_store_under_its_domain(fleet: manager.LabPaths, number: int) -> None:
    domain = topo.domain_name(number)
    message_id = send(f"probe@{domain}", f"lab: domain {number}")
    copies = wait_until(lambda: stored(fleet, message_id), 20, f"the mail in {domain}'s Maildir")
    assert len(copies) == 1 and copies[0].startswith(f"{domain}/probe/new/"), copies
    assert copies[0].endswith(f".mx1.{domain}"), "delivered by the domain's primary (Maildir names carry the host)"


@pytest.mark.parametrize("number", FURTHER)
def test_shared_topology_the_backup_delivers_for_its_domain_while_its_primary_is_down(
    fleet: manager.LabPaths, number: int, primary_down: topo.LabHost
) -> None:
    domain = topo.domain_name(number)
    message_id = send(f"probe@{domain}", f"lab: domain {number} failover shared")
    copies = wait_until(lambda: stored(fleet, message_id), 20, f"delivery through mx2.{domain}")
    assert len(copies) == 1 and copies[0].startswith(f"{domain}/probe/new/") and copies[0].endswith(f".mx2.{domain}"), copies


def test_lab_inventory_renders_the_running_fleet_and_ansible_gives_each_mx_its_domain(
    fleet: manager.LabPaths, tmp_path: Path
) -> None:
    saved = tmp_path / "fleet.yml"
    argv = [sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(fleet.state_dir.resolve()),
            "--output", str(saved)]
    subprocess.run(argv, capture_output=True, timeout=30, check=True, cwd=tmp_path)
    ansible = Path(sys.executable).parent / "ansible-inventory"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_HOME": str(tmp_path / "ansible"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    listed = subprocess.run([str(ansible), "-i", str(saved), "--list"], capture_output=True, text=True, timeout=60,
                            check=True, cwd=tmp_path, env=env)
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert {h.fqdn: hostvars[h.fqdn]["mxdrill_domain"] for h in MXS} == {h.fqdn: h.domain for h in MXS}
    assert {h.fqdn: hostvars[h.fqdn]["ansible_host"] for h in MXS} == {h.fqdn: h.address() for h in MXS}
    assert str(fleet.ssh_dir.resolve() / "id_ed25519") in saved.read_text()


@pytest.mark.parametrize("topology", ["relay"])
@pytest.mark.parametrize("number", FURTHER)
def test_relay_topology_the_backup_queues_for_its_domain_then_drains_to_the_primary(
    topology: str, fleet: manager.LabPaths, number: int, primary_down: topo.LabHost
) -> None:
    primary, backup = pair(number)
    message_id = send(f"probe@{primary.domain}", f"lab: domain {number} failover relay")
    queued = wait_until(lambda: [m for m in queue(fleet, backup) if m["queue_name"] == "deferred"], 20,
                        f"a deferred mail on {backup.name}")
    reasons = [r.get("delay_reason", "") for m in queued for r in m["recipients"]]
    assert [r["address"] for m in queued for r in m["recipients"]] == [f"probe@{primary.domain}"]
    assert all(primary.fqdn in reason for reason in reasons), reasons
    assert stored(fleet, message_id) == []
    ssh(fleet, primary.name, "service postfix start")
    ssh(fleet, backup.name, "postqueue -f")
    copies = wait_until(lambda: stored(fleet, message_id), 20, f"the drain from {backup.name} to {primary.name}")
    assert len(copies) == 1 and copies[0].startswith(f"{primary.domain}/probe/new/"), copies
    assert copies[0].endswith(f".{primary.fqdn}"), "delivered by the primary, once it is back"
    wait_until(lambda: not queue(fleet, backup), 20, f"{backup.name}'s queue to empty")


def test_going_back_to_one_domain_stops_the_further_domains_and_reboots_only_the_dns_host(fleet: manager.LabPaths) -> None:
    untouched = {h.name: hosts.init_pid(h) for h in topo.HOSTS if h.name != "dns"}  # dns reloads its zones
    manager.up("shared", topo.DEFAULT_PREFIX, fleet, say=lambda _m: None)
    assert {name: hosts.init_pid(topo.host(name)) for name in untouched} == untouched
    assert not {h.namespace for h in FLEET[len(topo.HOSTS):]} & set(network.lab_namespaces())
    assert "mx1-d2" not in (fleet.ssh_dir / "known_hosts").read_text() + (fleet.ssh_dir / "ssh_config").read_text()
    assert manager.failing("shared", topo.DEFAULT_PREFIX) == []
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [topo.host("dns").address()]
    with pytest.raises(dns.resolver.NoNameservers):  # knot refuses a zone it no longer serves
        resolver.resolve("example2.test", "MX")


def test_a_fleet_drill_over_xdist_runs_four_drills_into_one_summary(fleet: manager.LabPaths, tmp_path: Path) -> None:
    """Issue 11: the running fleet's inventory, `pytest -n 4 --dist loadgroup` from a user's directory:
    one drill per domain, each on its worker, every one PASS, all in one summary and one history."""
    made = subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(fleet.state_dir),
                           "--output", str(tmp_path / "hosts.yml")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    result = subprocess.run([sys.executable, "-m", "pytest", "--hosts=hosts.yml", "-p", "no:cacheprovider", "-n", "4",
                             "--dist", "loadgroup", "--require-drill"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "mxdrill: PASS (4 drills)" in result.stdout
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    assert summary["verdict"] == "PASS"
    assert sorted(d["scenario"] for d in summary["drills"]) == sorted(
        f"{p.fqdn}->{b.fqdn}:stop" for p, b in (pair(n) for n in range(1, DOMAINS + 1)))
    history = (tmp_path / "reports" / "latest" / "history.jsonl").read_text().splitlines()
    injected = [json.loads(line) for line in history if '"fault.injected"' in line]
    assert len(injected) == DOMAINS and len({e["host"] for e in injected}) == DOMAINS
