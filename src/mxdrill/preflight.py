"""Steady state before any fault: DNS as declared, every MX answers, the backup will take the mail,
shared storage is the same mount on every MX and a write on one is read on the others.

Each check returns a `Finding`; the drill starts nothing disruptive unless the findings about its
backup are all good. The same checks are the non-disruptive acceptance suite (`-m "not disruptive"`).
"""

from __future__ import annotations

import asyncio
import shlex
import time
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from mxdrill import dnscheck, dnsrules, smtp
from mxdrill.dnsrules import DeclaredMx
from mxdrill.inventory import Host, Inventory
from mxdrill.remote import Remote, RemoteError
from mxdrill.smtp import HARNESS_HELO, HARNESS_SENDER
from mxdrill.store import normalize_source
from mxdrill.waiting import poll_until

RELAY_TEST_RECIPIENT = "mxdrill-relay-test@relay-check.invalid"


class MxdrillWarning(UserWarning):
    """A preflight finding that does not block the drill (a low TTL, a missing PTR): shown, never fatal."""


@dataclass(frozen=True)
class Finding:
    """One preflight fact: `ok` or not, and the evidence in words a postmaster can act on."""

    check: str
    host: str
    ok: bool
    detail: str
    severity: Literal["error", "warning"] = "error"  # a warning is reported and never blocks the drill

    @property
    def blocks(self) -> bool:
        return not self.ok and self.severity == "error"


def dns_findings(inventory: Inventory) -> list[Finding]:
    """The domain's MX records as a sender sees them (the declared nameserver), against the seeds' rules
    (dnsrules): one passing finding when nothing is wrong, else each problem with its cause and fix."""
    try:
        view = dnscheck.view(inventory.domain, inventory.nameserver)
    except dnscheck.DnsError as error:
        return [Finding("dns-mx", inventory.domain, False, str(error))]
    declared = [DeclaredMx(h.name, h.mx_priority, h.address) for h in inventory.mxs]
    problems = dnsrules.findings(view, declared)
    if not problems:
        published = ", ".join(f"MX {m.preference} {m.target}" for m in view.mxs)
        return [Finding("dns-mx", inventory.domain, True, f"{published}, as declared; TTL, targets and PTRs as the seeds advise")]
    return [Finding(p.check, p.host, False, p.detail, p.severity) for p in problems]


async def _greeting(address: str, timeout: float) -> tuple[int | None, str]:
    client = aiosmtplib.SMTP(hostname=address, port=25, timeout=timeout, start_tls=False, local_hostname=HARNESS_HELO)
    try:
        response = await client.connect()
        await client.quit()
        return response.code, response.message
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        return None, f"{type(error).__name__}: {error}"


def smtp_answers(host: Host, timeout: float = 10.0) -> Finding:
    code, message = asyncio.run(_greeting(host.address, timeout))
    return Finding("smtp-220", host.name, code == 220, f"{host.address}:25 said {code} {message}".strip())


def accepts_domain(host: Host, recipient: str, timeout: float = 10.0) -> Finding:
    """seed 003 Problème 2: a backup that answers 'Relay access denied' for the domain loses the mail."""
    try:
        code, message = asyncio.run(smtp.rcpt_check(host.address, recipient, helo=HARNESS_HELO, sender=HARNESS_SENDER, timeout=timeout))
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        return Finding("accepts-domain", host.name, False, f"RCPT TO:<{recipient}> could not be tried: {error}")
    ok = 200 <= code < 300
    detail = f"RCPT TO:<{recipient}> → {code} {message}"
    if not ok:
        detail += "; list the domain in relay_domains or virtual_mailbox_domains (postconf -n) on this host"
    return Finding("accepts-domain", host.name, ok, detail)


def refuses_relay(host: Host, timeout: float = 10.0) -> Finding:
    """An MX that relays for anybody is an open relay: it must refuse a foreign recipient."""
    try:
        code, message = asyncio.run(smtp.rcpt_check(host.address, RELAY_TEST_RECIPIENT, helo=HARNESS_HELO, sender=HARNESS_SENDER, timeout=timeout))
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        return Finding("refuses-relay", host.name, False, f"RCPT TO:<{RELAY_TEST_RECIPIENT}> could not be tried: {error}")
    ok = code >= 400
    detail = f"RCPT TO:<{RELAY_TEST_RECIPIENT}> → {code} {message}"
    if not ok:
        detail = (f"open relay: {host.name} accepts mail for any domain ({detail}); spammers will use it and get it "
                  "blocklisted: end smtpd_relay_restrictions with reject_unauth_destination (postconf -n) on this host")
    return Finding("refuses-relay", host.name, ok, detail)


def storage_mount(remote: Remote, base: str, fstype: str) -> Finding:
    """The mailbox base is a mount of the declared type (testinfra's mount_point fact)."""
    try:
        mount = remote.facts.mount_point(base)
        exists = mount.exists
        found = f"{mount.filesystem} from {mount.device}" if exists else "not a mount point"
        ok = exists and mount.filesystem == fstype
    except RemoteError as error:
        return Finding("storage-mounted", remote.host.name, False, str(error))
    detail = f"{base}: {found} (declared {fstype})"
    if not ok:
        detail += "; mail delivered here would land on this host's local disk (seed 003 Problème 3)"
    return Finding("storage-mounted", remote.host.name, ok, detail)


def same_store(remotes: list[Remote], base: str) -> Finding:
    """Every delivering MX mounts the mailbox base from one source: two sources = a split store."""
    sources = {}
    for remote in remotes:
        mount = remote.facts.mount_point(base)
        sources[remote.host.name] = normalize_source(mount.device) if mount.exists else "(not mounted)"
    ok = len(set(sources.values())) == 1
    detail = ", ".join(f"{name}: {source}" for name, source in sources.items())
    if not ok:
        detail += "; mail taken by one MX would be invisible from the other (seed 003 Problème 3)"
    return Finding("storage-same-source", ",".join(sources), ok, detail)


def cross_writes(remotes: list[Remote], base: str, run_id: str, deadline: float = 10.0) -> list[Finding]:
    """A marker written on each MX must be read on every other within `deadline` (NFS attribute caching).

    All (reader, writer) pairs are polled in one wait against one deadline, so a broken store costs
    the deadline once, not once per pair.
    """
    markers = {r.host.name: f"{base.rstrip('/')}/.mxdrill-{run_id}-{r.host.name}" for r in remotes}
    waiting = [(reader, writer) for writer in remotes for reader in remotes if reader is not writer]
    findings = []
    start = time.monotonic()

    def all_read() -> bool:
        for reader, writer in list(waiting):
            result = reader.run(f"cat {shlex.quote(markers[writer.host.name])}")
            if result.rc == 0 and result.stdout.strip() == writer.host.name:
                findings.append(Finding("storage-cross-write", reader.host.name, True,
                                        f"read {writer.host.name}'s marker after {time.monotonic() - start:.2f}s"))
                waiting.remove((reader, writer))
        return not waiting

    try:
        for writer in remotes:
            writer.check(f"echo {shlex.quote(writer.host.name)} > {shlex.quote(markers[writer.host.name])}")
        poll_until(all_read, deadline, "each MX's marker to be read on the others", 0.1)
        for reader, writer in waiting:
            findings.append(Finding(
                "storage-cross-write", reader.host.name, False,
                f"{writer.host.name}'s marker {markers[writer.host.name]} not visible here after {deadline:g}s: "
                "the MXs do not share this storage",
            ))
    finally:
        for writer in remotes:
            writer.run(f"rm -f {shlex.quote(markers[writer.host.name])}")
    return findings
