"""Probe mails, and delivering them the way a real sending MTA would: MX by MX, in priority order.

Each probe carries a unique token in its Message-Id and in an X-Mxdrill-Probe header, so it can be
found in queues, logs and mailboxes on any host. Every connection attempt is recorded: the drill's
evidence is which MX accepted which probe, with which queue id, after how many refusals.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import ssl
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib

PROBE_HEADER = "X-Mxdrill-Probe"
# Who the harness says it is: a reserved name (RFC 2606), so no real domain is impersonated.
HARNESS_HELO = "mxdrill.invalid"
HARNESS_SENDER = "mxdrill@mxdrill.invalid"
QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")
TlsMode = Literal["none", "starttls-opportunistic", "starttls-required"]
# Connections open at once to one MX, like Postfix's default_destination_concurrency_limit: a real
# sender never opens 300 connections to one MX, and an MX past its smtpd process limit refuses some.
MX_CONCURRENCY = 20
_open_to: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()


def _slot(address: str) -> asyncio.Semaphore:
    """The bound on connections to one MX address, shared by every probe sent in this event loop."""
    per_address = _open_to.setdefault(asyncio.get_running_loop(), {})
    return per_address.setdefault(address, asyncio.Semaphore(MX_CONCURRENCY))


@dataclass(frozen=True)
class Probe:
    """One probe mail: `token` is its identity everywhere (Message-Id local part, header, subject)."""

    token: str
    recipient: str
    sender: str
    phase: str

    @property
    def message_id(self) -> str:
        return f"{self.token}@mxdrill.probe"


@dataclass(frozen=True)
class MxTarget:
    """One MX of the domain as a sender sees it: preference, name, address, and the inventory host name."""

    preference: int
    name: str
    address: str
    host: str


@dataclass
class Attempt:
    """One connection to one MX and what came of it."""

    target: MxTarget
    outcome: Literal["accepted", "rejected", "deferred", "unreachable"]
    code: int | None
    reply: str
    started: float
    elapsed: float
    tls: str | None = None  # the TLS version of the session (None: in clear)


@dataclass
class Delivery:
    """The fate of one probe: all attempts, and which MX took it (if any)."""

    probe: Probe
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def accepted(self) -> Attempt | None:
        return next((a for a in self.attempts if a.outcome == "accepted"), None)

    @property
    def queue_id(self) -> str | None:
        accepted = self.accepted
        match = QUEUED_AS.search(accepted.reply) if accepted else None
        return match.group(1) if match else None


def new_run_id() -> str:
    """A short id shared by every probe of one drill, so a drill's probes can be cleaned up together."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def make_probe(run_id: str, sequence: int, recipient: str, sender: str, phase: str) -> Probe:
    return Probe(token=f"mxdrill-{run_id}-{sequence:03d}", recipient=recipient, sender=sender, phase=phase)


def message_bytes(probe: Probe) -> bytes:
    """The probe as sent: built once per probe with Python's email package (it folds and checks the
    headers), its bytes cached, since flattening it costs as much as the rest of a transaction."""
    return _message_bytes(probe)


@functools.lru_cache(maxsize=4096)
def _message_bytes(probe: Probe) -> bytes:
    return build_message(probe).as_bytes()


def build_message(probe: Probe) -> EmailMessage:
    message = EmailMessage()
    message["From"] = probe.sender
    message["To"] = probe.recipient
    message["Subject"] = f"mxdrill probe {probe.token} ({probe.phase})"
    message["Date"] = formatdate(usegmt=True)
    message["Message-Id"] = f"<{probe.message_id}>"
    message[PROBE_HEADER] = probe.token
    message.set_content(
        f"This is an mxdrill failover probe ({probe.phase}).\n"
        f"Token: {probe.token}\nIt is safe to delete; a passing drill removes it itself.\n"
    )
    return message


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per kind, shared by every connection: aiosmtplib otherwise builds one per
    connection, reading the whole CA store each time (~25 ms of CPU: 4x fewer probes per second)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _start_tls(mode: TlsMode) -> bool | None:
    """aiosmtplib upgrades whenever STARTTLS is offered (start_tls=None); make the choice explicit."""
    return {"none": False, "starttls-opportunistic": None, "starttls-required": True}[mode]


async def send_to(target: MxTarget, probe: Probe, *, helo: str, timeout: float, tls: TlsMode) -> Attempt:
    """One SMTP transaction with one MX, once a connection slot to it is free (MX_CONCURRENCY)."""
    async with _slot(target.address):
        return await _transaction(target, probe, helo=helo, timeout=timeout, tls=tls)


async def _transaction(target: MxTarget, probe: Probe, *, helo: str, timeout: float, tls: TlsMode) -> Attempt:
    """One SMTP transaction with one MX; classify the result as an MTA would (4xx = try next, 5xx = stop)."""
    started = time.time()
    clock = time.monotonic()
    client = aiosmtplib.SMTP(
        hostname=target.address, port=25, local_hostname=helo, timeout=timeout,
        start_tls=_start_tls(tls), validate_certs=tls == "starttls-required",
        tls_context=tls_context(tls == "starttls-required") if tls != "none" else None,
    )
    tls_version = None
    try:
        async with client:
            errors, reply = await client.sendmail(probe.sender, [probe.recipient], message_bytes(probe))
            ssl_object = client.get_transport_info("ssl_object")
            tls_version = ssl_object.version() if ssl_object is not None else None
        code, text = 250, reply
        outcome: Literal["accepted", "rejected", "deferred", "unreachable"] = "accepted"
        if errors:
            code, text = errors[probe.recipient]
            outcome = "rejected" if code >= 500 else "deferred"
    except aiosmtplib.SMTPResponseException as error:
        code, text = error.code, error.message
        outcome = "rejected" if error.code >= 500 else "deferred"
    except aiosmtplib.SMTPRecipientsRefused as error:  # RCPT refused: its reply, e.g. 451 4.3.0 Temporary lookup failure
        refused = error.recipients[0]
        code, text = refused.code, refused.message
        outcome = "rejected" if refused.code >= 500 else "deferred"
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        code, text, outcome = None, f"{type(error).__name__}: {error}", "unreachable"
    return Attempt(target, outcome, code, text, started, time.monotonic() - clock, tls_version)


def preference_order(targets: list[MxTarget], shuffle: Callable[[list[str]], None] = random.shuffle) -> list[MxTarget]:
    """The targets lowest preference first, those of equal preference in random order, as RFC 5321 §5.1 has a
    sender pick among them: two MXs at MX 10 share the mail (seed 003's round-robin) instead of the first
    listed taking it all. Each MX's own addresses stay together, in their order (the MX is what is chosen)."""
    ordered: list[MxTarget] = []
    for preference in sorted({t.preference for t in targets}):
        hosts = list(dict.fromkeys(t.name for t in targets if t.preference == preference))
        shuffle(hosts)
        ordered += [t for name in hosts for t in targets if t.preference == preference and t.name == name]
    return ordered


async def deliver(probe: Probe, targets: list[MxTarget], *, helo: str, timeout: float = 10.0,
                  tls: TlsMode = "starttls-opportunistic") -> Delivery:
    """Try MX after MX in preference order until one accepts or one rejects permanently (RFC 5321 §5.1).

    STARTTLS where it is offered, unverified, as a sending MTA does by default (Postfix's
    smtp_tls_security_level = may): the preflight verifies certificates, the probes go as real mail goes."""
    delivery = Delivery(probe)
    for target in preference_order(targets):
        attempt = await send_to(target, probe, helo=helo, timeout=timeout, tls=tls)
        delivery.attempts.append(attempt)
        if attempt.outcome in ("accepted", "rejected"):
            break
    return delivery


async def rcpt_check(address: str, recipient: str, *, helo: str, sender: str, timeout: float = 10.0) -> tuple[int, str]:
    """EHLO, MAIL, RCPT, RSET: does this MX accept this recipient? Nothing is delivered."""
    client = aiosmtplib.SMTP(hostname=address, port=25, local_hostname=helo, timeout=timeout, start_tls=False)
    async with client:
        await client.ehlo()
        await client.mail(sender)
        try:
            response = await client.rcpt(recipient)
            code, message = response.code, response.message
        except aiosmtplib.SMTPResponseException as error:
            code, message = error.code, error.message
        await client.rset()
    return code, message
