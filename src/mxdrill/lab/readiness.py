"""Readiness probes: the lab is up when its services answer, not when a timer says so.

Each probe is a cheap, bounded check run from the machine's side of the bridge — the same vantage
point as the harness — so "ready" means "the harness can use it".
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.rdatatype

from mxdrill.lab import hosts
from mxdrill.lab import topology as topo
from mxdrill.lab.topology import Init, LabHost, Topology

# `systemctl is-system-running` once boot is over: "degraded" still means every unit has been tried.
BOOTED = ("running", "degraded")


@dataclass(frozen=True)
class Probe:
    """One thing that must answer: `host` is the lab host to blame when it does not."""

    host: str
    service: str
    check: Callable[[], bool]


def banner_starts(address: str, port: int, prefix: bytes, timeout: float = 0.5) -> bool:
    """Connect and read the greeting: SMTP must say 220, SSH must say SSH-."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(prefix)
    except OSError:
        return False


def mariadb_greets(address: str, port: int = 3306, timeout: float = 0.5) -> bool:
    """MariaDB's first packet is its handshake: a 4-byte header, then protocol version 10."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = sock.recv(64)
    except OSError:
        return False
    return len(greeting) > 4 and greeting[4] == 10


def dns_answers_mx(server: str, timeout: float = 0.5, domain: str = topo.DOMAIN) -> bool:
    """Ask for the domain's MX over a connected UDP socket, bounded by `timeout`.

    Connected, so that while knot is not listening yet the ICMP port-unreachable fails the probe at
    once instead of after the whole timeout (which, probes being polled in turn, delayed every other
    probe of a DNS reboot by half a second).
    """
    query = dns.message.make_query(domain, dns.rdatatype.MX)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect((server, 53))
            sock.send(query.to_wire())
            reply = dns.message.from_wire(sock.recv(65535))
    except Exception:  # any DNS failure (refused, timeout, garbage) only means "not ready yet"
        return False
    return query.is_response(reply) and any(rrset.rdtype == dns.rdatatype.MX for rrset in reply.answer)


def storage_mounted(lab_host: LabHost) -> bool:
    """Read the host's mount table through its PID 1: the Maildir base must be an sshfs mount."""
    pid = hosts.init_pid(lab_host)
    if pid is None:
        return False
    try:
        mounts = Path(f"/proc/{pid}/mounts").read_text()
    except OSError:
        return False
    return any(
        fields[1] == topo.MAILBOX_BASE and fields[2] == "fuse.sshfs"
        for fields in (line.split() for line in mounts.splitlines())
        if len(fields) > 2
    )


def systemd_booted(lab_host: LabHost) -> bool:
    """A systemd host has finished booting: every unit it wants has started (or failed)."""
    return hosts.system_state(lab_host)[0] in BOOTED


def probes(
    topology: Topology,
    prefix: ipaddress.IPv4Network,
    only: Iterable[str] | None = None,
    backups: int = topo.DEFAULT_BACKUPS,
    init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
) -> list[Probe]:
    """Every probe of the lab with `backups` backup MXs and `domains` mail domains (or of the named hosts), in boot order.

    The DNS host is ready when it answers every domain's MX: a sender asking before knot has loaded the
    last zone would bounce that domain's mail.
    """
    lab_hosts = topo.lab_hosts(backups, domains)
    names = topo.mail_domains(domains)
    wanted = set(only) if only is not None else {h.name for h in lab_hosts}
    found: list[Probe] = []
    for lab_host in lab_hosts:
        if lab_host.name not in wanted:
            continue
        address = lab_host.address(prefix)
        found.append(Probe(lab_host.name, "ssh", lambda a=address: banner_starts(a, 22, b"SSH-")))
        if lab_host.role == "dns":
            found.append(Probe(lab_host.name, "dns", lambda a=address: all(dns_answers_mx(a, domain=d) for d in names)))
        if lab_host.role == "userdb":
            found.append(Probe(lab_host.name, "mariadb", lambda a=address: mariadb_greets(a)))
        if lab_host.role in ("mx", "sender", "mailstore"):
            found.append(Probe(lab_host.name, "smtp", lambda a=address: banner_starts(a, 25, b"220")))
        if topo.mounts_shared_storage(lab_host, topology):
            found.append(Probe(lab_host.name, "mount", lambda h=lab_host: storage_mounted(h)))
        if topo.runs_systemd(lab_host, init):
            found.append(Probe(lab_host.name, "systemd", lambda h=lab_host: systemd_booted(h)))
    if any(h.vrrp and h.name in wanted for h in lab_hosts):
        found.append(Probe("mx1", "vip-smtp", lambda: banner_starts(topo.vip(prefix), 25, b"220")))
    return found


def wait_all(
    pending: list[Probe], deadline_seconds: float, report: Callable[[Probe, float], None]
) -> list[Probe]:
    """Poll the probes until all pass or the deadline passes; return the ones still failing."""
    start = time.monotonic()
    while pending:
        still = []
        for probe in pending:
            if probe.check():
                report(probe, time.monotonic() - start)
            else:
                still.append(probe)
        pending = still
        if not pending or time.monotonic() - start > deadline_seconds:
            break
        time.sleep(0.05)
    return pending
