"""Steady state before any fault: DNS as declared, every MX answers, the backup will take the mail,
shared storage is the same mount on every MX and a write on one is read on the others.

Each check returns a `Finding`; the drill starts nothing disruptive unless the findings about its
backup are all good. The same checks are the non-disruptive acceptance suite (`-m "not disruptive"`).
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import aiosmtplib

from mxdrill import dnscheck, dnsrules, smtp, smtprules
from mxdrill.dnsrules import DeclaredMx
from mxdrill.finding import Finding, problem
from mxdrill.greeting import Greeting, greet
from mxdrill.inventory import Host, Inventory
from mxdrill.remote import Remote, RemoteError
from mxdrill.smtp import HARNESS_HELO, HARNESS_SENDER
from mxdrill.store import normalize_source
from mxdrill.waiting import poll_until

RELAY_TEST_RECIPIENT = "mxdrill-relay-test@relay-check.invalid"


class MxdrillWarning(UserWarning):
    """A preflight finding that does not block the drill (a low TTL, a missing PTR): shown, never fatal."""


def errors(findings: list[Finding]) -> list[str]:
    """The findings that block, as `check on host: message`; the warnings among them go to pytest's
    warnings summary (a check of the acceptance suite fails only on an error)."""
    for finding in findings:
        if not finding.ok and not finding.blocks:
            warnings.warn(MxdrillWarning(f"{finding.check} on {finding.host}: {finding.message}"), stacklevel=2)
    return [f"{f.check} on {f.host}: {f.message}" for f in findings if f.blocks]


def dns_findings(inventory: Inventory) -> list[Finding]:
    """The domain's MX records as a sender sees them (the declared nameserver), against the seeds' rules
    (dnsrules): one passing finding when nothing is wrong, else each problem with its cause and fix."""
    try:
        view = dnscheck.view(inventory.domain, inventory.nameserver)
    except dnscheck.DnsError as error:
        return [problem("dns-mx", inventory.domain, str(error), "check mxdrill_nameserver and that it serves the domain")]
    declared = [DeclaredMx(h.name, h.mx_priority, h.address) for h in inventory.mxs]
    found = dnsrules.findings(view, declared, inventory.min_mx_ttl)
    if not found:
        published = ", ".join(f"MX {m.preference} {m.target}" for m in view.mxs)
        spf = ("" if not view.spf else "; SPF covers every MX" if dnsrules.spf_judged(view)
               else "; SPF delegates (include:, redirect=...): not judged here")
        return [Finding("dns-mx", inventory.domain, True, f"{published}, as declared; TTL, targets and PTRs as the seeds advise{spf}")]
    return found


def _rcpt(host: Host, recipient: str, check: str, timeout: float) -> tuple[int, str] | Finding:
    """The MX's answer to RCPT TO:<recipient> (nothing is delivered), or the finding that it could not be asked."""
    try:
        return asyncio.run(smtp.rcpt_check(host.address, recipient, helo=HARNESS_HELO, sender=HARNESS_SENDER, timeout=timeout))
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        return problem(check, host.name, f"RCPT TO:<{recipient}> could not be tried: {error}", f"see smtp-every-address for {host.name}")


def accepts_domain(host: Host, recipient: str, timeout: float = 10.0) -> Finding:
    """seed 003 Problème 2: a backup that answers 'Relay access denied' for the domain loses the mail."""
    answer = _rcpt(host, recipient, "accepts-domain", timeout)
    if isinstance(answer, Finding):
        return answer
    code, message = answer
    detail = f"RCPT TO:<{recipient}> → {code} {message}"
    if 200 <= code < 300:
        return Finding("accepts-domain", host.name, True, detail)
    if 400 <= code < 500:  # it would take the domain but cannot tell now: a lookup table, a resource
        return problem("accepts-domain", host.name, f"{detail} (a temporary failure: senders keep the mail and retry)",
                       f"see why {host.name} cannot answer now: its mail log, and the user-lookups check of its tables")
    return problem("accepts-domain", host.name, detail,
                   f"list the domain in relay_domains or virtual_mailbox_domains (postconf -n) on {host.name}")


def refuses_relay(host: Host, timeout: float = 10.0) -> Finding:
    """An MX that relays for anybody is an open relay: it must refuse a foreign recipient."""
    answer = _rcpt(host, RELAY_TEST_RECIPIENT, "refuses-relay", timeout)
    if isinstance(answer, Finding):
        return answer
    code, message = answer
    detail = f"RCPT TO:<{RELAY_TEST_RECIPIENT}> → {code} {message}"
    if code >= 400:
        return Finding("refuses-relay", host.name, True, detail)
    return problem("refuses-relay", host.name,
                   f"open relay: {host.name} accepts mail for any domain ({detail}); spammers will use it and get it blocklisted",
                   f"end smtpd_relay_restrictions with reject_unauth_destination (postconf -n) on {host.name}")


def rejects_unknown_recipient(host: Host, domain: str, tag: str | None = None, timeout: float = 10.0) -> Finding:
    """Seed 000: a backup that takes mail for users who do not exist bounces it later, to forged senders
    (backscatter: it gets the domain blocklisted). It must refuse them at RCPT, as the primary does.
    `tag` (the run id) names the user, so one run asks the same question wherever it asks it."""
    recipient = f"mxdrill-no-such-user-{tag or secrets.token_hex(4)}@{domain}"
    answer = _rcpt(host, recipient, "rejects-unknown-recipient", timeout)
    if isinstance(answer, Finding):
        return replace(answer, severity="warning")
    code, message = answer
    detail = f"RCPT TO:<{recipient}> → {code} {message}"
    if code >= 400:
        return Finding("rejects-unknown-recipient", host.name, True, detail)
    return problem("rejects-unknown-recipient", host.name,
                   f"backscatter: {host.name} accepts mail for a user who does not exist ({detail}) and would bounce it "
                   "later to whoever the sender claims to be",
                   "list the domain's users in relay_recipient_maps (a queueing backup) or its mailbox maps, "
                   "so unknown users are refused at RCPT", "warning")


# Seed 003 "configuration identique", seed 000: a backup with weaker anti-spam rules is where spam comes in.
# The size limit is judged from what each MX advertises (smtprules.size_limit), as a sender sees it.
PARITY = ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions", "smtpd_relay_restrictions",
          "smtpd_recipient_restrictions", "smtpd_data_restrictions", "postscreen_dnsbl_sites", "smtpd_tls_security_level")


def parity(values: dict[str, dict[str, str]], primary: str) -> list[Finding]:
    """Each backup's value of each PARITY parameter against the primary's: a difference is a warning
    naming both values (one passing finding per backup when all agree)."""
    found = []
    for backup, settings in values.items():
        if backup == primary:
            continue
        differing = [name for name in PARITY if settings.get(name, "") != values[primary].get(name, "")]
        found += [problem("config-parity", backup,
                          f"{name}: {primary} = {values[primary].get(name) or '(empty)'}, {backup} = {settings.get(name) or '(empty)'}; "
                          "a backup weaker than its primary is where spam gets in",
                          f"make them equal (postconf -e on {backup})", "warning") for name in differing]
        if not differing:
            found.append(Finding("config-parity", backup, True, f"{len(PARITY)} anti-spam and TLS settings as on {primary}"))
    return found


QUEUE_LIFETIMES = ("maximal_queue_lifetime", "bounce_queue_lifetime")
MIN_QUEUE_SECONDS = 5 * 86400  # Postfix's own default, 5 days; seed 000 advises at least that on a backup
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def postfix_seconds(value: str, default_unit: str = "d") -> float | None:
    """A Postfix time value (`5d`, `12h`, `3600s`, a bare number in the parameter's unit) in seconds."""
    text = value.strip().lower()
    unit = text[-1] if text[-1:] in TIME_UNITS else default_unit
    number = text[:-1] if text[-1:] in TIME_UNITS else text
    try:
        return float(number) * TIME_UNITS[unit]
    except ValueError:
        return None


def queue_lifetime(host: str, values: dict[str, str], minimum: float = MIN_QUEUE_SECONDS) -> list[Finding]:
    """A queueing backup must keep the domain's mail at least as long as the primary may be down
    (seed 000): below that, mail queued during a long outage is bounced, i.e. lost to the domain."""
    found = []
    for name in QUEUE_LIFETIMES:
        seconds = postfix_seconds(values.get(name, "5d"))
        detail = f"{name} = {values.get(name)}"
        if seconds is not None and seconds >= minimum:
            found.append(Finding("queue-lifetime", host, True, detail))
            continue
        found.append(problem("queue-lifetime", host,
                             f"{detail}: mail this backup queues for a primary down longer than that is bounced, not delivered",
                             f"postconf -e {name}={minimum / 86400:g}d (or more) on {host}"))
    return found


def storage_mount(remote: Remote, base: str, fstype: str) -> Finding:
    """The mailbox base is a mount of the declared type (testinfra's mount_point fact)."""
    try:
        mount = remote.facts.mount_point(base)
        exists = mount.exists
        found = f"{mount.filesystem} from {mount.device}" if exists else "not a mount point"
        ok = exists and mount.filesystem == fstype
    except RemoteError as error:
        return problem("storage-mounted", remote.host.name, str(error), "see the SSH error above")
    detail = f"{base}: {found} (declared {fstype})"
    if ok:
        return Finding("storage-mounted", remote.host.name, True, detail)
    return problem("storage-mounted", remote.host.name, f"{detail}: mail delivered here would land on this host's local disk "
                   "(seed 003 Problème 3)", f"mount the shared store on {base} (or fix mxdrill_storage_fstype)")


def same_store(remotes: list[Remote], base: str) -> Finding:
    """Every delivering MX mounts the mailbox base from one source: two sources = a split store."""
    sources = {}
    for remote in remotes:
        mount = remote.facts.mount_point(base)
        sources[remote.host.name] = normalize_source(mount.device) if mount.exists else "(not mounted)"
    ok = len(set(sources.values())) == 1
    detail = ", ".join(f"{name}: {source}" for name, source in sources.items())
    if ok:
        return Finding("storage-same-source", ",".join(sources), True, detail)
    return problem("storage-same-source", ",".join(sources), f"{detail}: mail taken by one MX would be invisible from the other "
                   "(seed 003 Problème 3)", "mount the same export on every delivering MX")


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
            findings.append(problem(
                "storage-cross-write", reader.host.name,
                f"{writer.host.name}'s marker {markers[writer.host.name]} not visible here after {deadline:g}s: "
                "the MXs do not share this storage", f"mount the same export on {reader.host.name} and {writer.host.name}",
            ))
    finally:
        for writer in remotes:
            writer.run(f"rm -f {shlex.quote(markers[writer.host.name])}")
    return findings
