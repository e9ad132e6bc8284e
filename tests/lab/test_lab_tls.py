"""The lab's TLS is real: every MX offers STARTTLS with a certificate that Python's ssl verifies against the
lab CA for the MX's own name, in both topologies, with mx3 and under systemd; the sender relays over a
trusted TLS connection and the MX writes so in Received:; a broken certificate installed on mx2 is refused
for its reason, and the lab's own is back after `restore`."""

from __future__ import annotations

import datetime
import shlex
import socket
import ssl

import pytest

from mxdrill.lab import manager, mxcert, tls
from mxdrill.lab import topology as topo

from lab_helpers import send_via_sender, ssh, wait_until

DAY = datetime.timedelta(days=1)


def _reply(stream) -> str:
    """One SMTP reply, every line of it (a multiline reply ends at the line whose code is followed by a space)."""
    lines = []
    while True:
        line = stream.readline().decode()
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "".join(lines)


def starttls_peer(paths: manager.LabPaths, name: str) -> dict:
    """STARTTLS to a lab MX, trusting only the lab CA and checking the MX's FQDN, as a sender given the CA does;
    the certificate it verified."""
    lab_host = topo.host(name, backups=2)
    context = ssl.create_default_context(cafile=str(paths.tls_ca))
    with socket.create_connection((lab_host.address(), 25), timeout=10) as raw:
        stream = raw.makefile("rb")
        assert _reply(stream).startswith("220 ")
        raw.sendall(b"EHLO harness.example.test\r\n")
        assert "STARTTLS" in [line[4:].strip().upper() for line in _reply(stream).splitlines()], f"{name} offers no STARTTLS"
        raw.sendall(b"STARTTLS\r\n")
        assert _reply(stream).startswith("220 ")
        with context.wrap_socket(raw, server_hostname=lab_host.fqdn) as secure:
            secure.sendall(b"QUIT\r\n")
            return secure.getpeercert()


def dns_names(peer: dict) -> list[str]:
    return [value for kind, value in peer["subjectAltName"] if kind == "DNS"]


@pytest.mark.parametrize("topology", topo.TOPOLOGIES)
@pytest.mark.parametrize("name", ["mx1", "mx2"])
def test_every_mx_offers_starttls_with_a_certificate_the_lab_ca_verifies_for_its_name(
    topology: topo.Topology, name: str, lab: manager.LabPaths
) -> None:
    peer = starttls_peer(lab, name)
    assert dns_names(peer) == [topo.host(name).fqdn]
    expires = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(peer["notAfter"]), datetime.timezone.utc)
    assert expires - tls.now() > 300 * DAY


@pytest.mark.parametrize("backups", [2])
def test_mx3_has_its_own_certificate_too(backups: int, lab: manager.LabPaths) -> None:
    assert dns_names(starttls_peer(lab, "mx3")) == ["mx3.example.test"]


@pytest.mark.parametrize("init", ["systemd"])
def test_the_systemd_profiles_mxs_serve_the_same_certificates(init: str, lab: manager.LabPaths) -> None:
    for name in ("mx1", "mx2"):
        assert dns_names(starttls_peer(lab, name)) == [topo.host(name).fqdn]


def test_the_sender_relays_over_trusted_tls_and_the_mx_says_so_in_received(lab: manager.LabPaths) -> None:
    message_id = send_via_sender("over TLS")
    needle = shlex.quote(f"Message-Id: <{message_id}>")
    found = wait_until(
        lambda: ssh(lab, "storage", f"grep -rlF {needle} {topo.STORAGE_EXPORT}", check=False).stdout.strip(),
        20, "the probe in the shared store")
    message = ssh(lab, "storage", f"cat {shlex.quote(str(found).splitlines()[0])}").stdout
    received = message.split("\n\n", 1)[0]
    assert "(using TLSv1" in received, received
    log = ssh(lab, "sender", "grep -F 'TLS connection established to mx1.example.test' /var/log/mail.log").stdout
    # the lab is dual-stack and the sender picks either address of mx1 (smtp_address_preference = any)
    mx1 = topo.host("mx1")
    assert any(f"Trusted TLS connection established to mx1.example.test[{address}]:25" in log
               for address in (mx1.address(), mx1.address6())), log


@pytest.mark.parametrize(("name", "start", "end", "reason"), [
    ("mx1.example.test", -DAY, 90 * DAY, "Hostname mismatch"),
    ("mx2.example.test", -30 * DAY, -DAY, "certificate has expired"),
])
def test_a_broken_certificate_on_mx2_is_refused_for_its_reason_until_it_is_restored(
    lab: manager.LabPaths, mx2_certificate, name: str, start: datetime.timedelta, end: datetime.timedelta, reason: str
) -> None:
    now = tls.now()
    mx2_certificate(*tls.issue(lab.tls_dir, name, not_before=now + start, not_after=now + end))
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        starttls_peer(lab, "mx2")
    assert dns_names(starttls_peer(lab, "mx1")) == ["mx1.example.test"]  # the other MX is untouched
    mxcert.restore("mx2", lab.tls_dir)
    assert dns_names(starttls_peer(lab, "mx2")) == ["mx2.example.test"]
