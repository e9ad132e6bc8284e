"""THE table of preflight checks: what a postmaster's acceptance suite and every drill's preflight ask.

Each row names a check, says whom it is about (the domain once, every MX, every backup) and whether
a drill's preflight runs it for its own pair of MXs. The non-disruptive suite makes one pytest item
of each row, so a scheduled run's JUnit shows which check broke; the drill's preflight step runs
the rows marked `in_drill` over its primary and backup; both record every finding in the history,
from which the report's Preflight section is written. Adding a check is one function and one row.

A `Survey` holds what the checks of one run share: each MX's greeting (one SMTP session per address)
and its delivery role are asked once, whichever check needs them first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from mxdrill import dnscheck, lookups, preflight, relaycheck, smtprules
from mxdrill.finding import Finding
from mxdrill.greeting import Greeting, greet
from mxdrill.history import History, Kind
from mxdrill.inventory import Host, Inventory
from mxdrill.mailhost import MailHost
from mxdrill.mta.postfix import tables_of


@dataclass
class Survey:
    """One domain's MXs, asked lazily and once: greetings per address, delivery roles, postconf values."""

    inventory: Inventory
    hosts: dict[str, MailHost]
    run_id: str
    history: History | None = None  # where findings are recorded (None: unit tests)
    scenario: str | None = None  # the drill whose preflight this is (None: the acceptance suite)
    timeout: float = 10.0
    _greetings: dict[str, list[Greeting]] = field(default_factory=dict)
    _roles: dict[str, str] = field(default_factory=dict)
    _published: dict[str, list[str]] | None = None

    def published(self) -> dict[str, list[str]]:
        """The domain's MX targets as DNS publishes them, each with its addresses (asked once)."""
        if self._published is None:
            self._published = {}
            try:
                records = dnscheck.mx_records(self.inventory.domain, self.inventory.nameserver)
            except dnscheck.DnsError:
                records = []  # the dns check names the failure
            for record in records:
                try:
                    self._published[record.exchange] = dnscheck.addresses_of(record.exchange, self.inventory.nameserver)
                except dnscheck.DnsError:
                    self._published[record.exchange] = []
        return self._published

    def mx_name(self, mx: Host) -> str:
        """The name senders look up for this MX, which its certificate and banner must give: the inventory's
        name if DNS publishes it, else the published MX that has its address (an Ansible `mx1` with
        `ansible_host`), else the inventory's name."""
        published = self.published()
        if mx.name in published:
            return mx.name
        return next((name for name, found in published.items() if mx.address in found), mx.name)

    def addresses(self, mx: Host) -> list[str]:
        """Every address a sender may use for the MX (A and AAAA of its published name), else the declared one."""
        name = self.mx_name(mx)
        found = self.published().get(name)
        if found is None:
            try:
                found = dnscheck.addresses_of(name, self.inventory.nameserver)
            except dnscheck.DnsError:
                found = []
        return found or [mx.address]

    def greetings(self, mx: Host) -> list[Greeting]:
        if mx.name not in self._greetings:
            name = self.mx_name(mx)

            async def all_of() -> list[Greeting]:
                return list(await asyncio.gather(*(greet(a, name, self.inventory.tls_ca, self.timeout) for a in self.addresses(mx))))
            self._greetings[mx.name] = asyncio.run(all_of())
        return self._greetings[mx.name]

    def greeting(self, mx: Host) -> Greeting:
        """The greeting at the declared address (where the drill sends), else the first that answered."""
        found = self.greetings(mx)
        return next((g for g in found if g.address == mx.address), next((g for g in found if g.answered), found[0]))

    def role(self, mx: Host) -> str:
        """delivers / relays / ... (the MTA's own maps say so)."""
        if mx.name not in self._roles:
            self._roles[mx.name] = self.hosts[mx.name].mta.delivery_role(self.inventory.domain, self.inventory.mailstore_marks)
        return self._roles[mx.name]


Run = Callable[[Survey, list[Host]], list[Finding]]


@dataclass(frozen=True)
class Check:
    name: str  # its pytest id and its name in findings, the history and the report
    title: str  # what a postmaster reads
    run: Run  # over the MXs in play: all of the domain's (the suite) or a drill's primary and backup
    in_drill: bool = True  # a drill's preflight runs it for its own pair
    applies: str = ""  # why it found nothing to check, when it returns no finding (the suite's skip reason)


# --- the checks -------------------------------------------------------------------------------------

def _backups(survey: Survey, mxs: list[Host]) -> list[Host]:
    """The MXs in play but the first, which is the one a drill takes down (the domain's primary, or with
    equal MX priorities the peer under test: `mx2->mx1` checks mx1 as the backup)."""
    return mxs[1:]


def _delivering(survey: Survey, mxs: list[Host]) -> list[Host]:
    return [h for h in mxs if survey.role(h) == "delivers"]


def dns(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return preflight.dns_findings(survey.inventory)


def every_address(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [f for mx in mxs for f in smtprules.every_address_answers(mx.name, survey.greetings(mx))]


def greeting(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [f for mx in mxs for f in smtprules.names_itself(mx.name, survey.greeting(mx), survey.mx_name(mx))]


def tls(survey: Survey, mxs: list[Host]) -> list[Finding]:
    offered = [mx.name for mx in mxs if survey.greeting(mx).starttls]
    return [f for mx in mxs for f in smtprules.tls(mx.name, survey.greeting(mx), offered, survey.inventory.cert_min_days,
                                                   name=survey.mx_name(mx))]


def size(survey: Survey, mxs: list[Host]) -> list[Finding]:
    if not mxs:
        return []
    primary = mxs[0]
    theirs = survey.greeting(primary)
    return [f for mx in mxs for f in smtprules.size_limit(mx.name, survey.greeting(mx), primary.name, theirs)]


def accepts_domain(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [preflight.accepts_domain(b, survey.inventory.recipients[0]) for b in _backups(survey, mxs)]


def open_relay(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [preflight.refuses_relay(mx) for mx in mxs]


def unknown_recipient(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [preflight.rejects_unknown_recipient(mx, survey.inventory.domain, survey.run_id) for mx in _backups(survey, mxs)]


def queue_lifetime(survey: Survey, mxs: list[Host]) -> list[Finding]:
    # a relaying backup queues while the primary is down; an MX that forwards to a mail store, while the store is
    queueing = [h for h in mxs if survey.role(h) == "forwards" or (h in _backups(survey, mxs) and survey.role(h) == "relays")]
    return [f for b in queueing for f in preflight.queue_lifetime(
        b.name, survey.hosts[b.name].mta.config(*preflight.QUEUE_LIFETIMES), survey.inventory.min_queue_lifetime)]


def parity(survey: Survey, mxs: list[Host]) -> list[Finding]:
    if len(mxs) < 2:
        return []
    values = {h.name: survey.hosts[h.name].mta.config(*preflight.PARITY) for h in mxs}
    if survey.history is not None:  # the report's parity table: every value on every MX
        survey.history.append(Kind.CONFIG, scenario=survey.scenario, values=values, primary=mxs[0].name)
    return preflight.parity(values, mxs[0].name)


def storage_mounted(survey: Survey, mxs: list[Host]) -> list[Finding]:
    return [preflight.storage_mount(survey.hosts[h.name].remote, h.mailbox_base, survey.inventory.storage_fstype)
            for h in _delivering(survey, mxs)]


def storage_same_source(survey: Survey, mxs: list[Host]) -> list[Finding]:
    delivering = _delivering(survey, mxs)
    if len(delivering) < 2:
        return []
    return [preflight.same_store([survey.hosts[h.name].remote for h in delivering], survey.inventory.primary.mailbox_base)]


def storage_cross_write(survey: Survey, mxs: list[Host]) -> list[Finding]:
    delivering = _delivering(survey, mxs)
    if len(delivering) < 2:
        return []
    return preflight.cross_writes([survey.hosts[h.name].remote for h in delivering], survey.inventory.primary.mailbox_base,
                                  survey.run_id)


def relay_to_mailstore(survey: Survey, mxs: list[Host]) -> list[Finding]:
    store = survey.inventory.mailstore
    if store is None:
        return []
    recipient = survey.inventory.recipients[0]
    forwarding = [h for h in mxs if survey.role(h) == "forwards"]
    return [relaycheck.relay_finding(survey.hosts[h.name], recipient, store.name, address=store.address) for h in forwarding]


def user_lookups(survey: Survey, mxs: list[Host]) -> list[Finding]:
    domain, recipient = survey.inventory.domain, survey.inventory.recipients[0]
    found, answers = [], {}
    for mx in _delivering(survey, mxs):
        host = survey.hosts[mx.name]
        settings = host.mta.config("virtual_mailbox_domains", "virtual_mailbox_maps")
        domain_lookups = lookups.ask(host.remote, domain, tables_of(settings.get("virtual_mailbox_domains", "")))
        mailbox_lookups = lookups.ask(host.remote, recipient, tables_of(settings.get("virtual_mailbox_maps", "")))
        found.append(lookups.judge(mx.name, domain, recipient, settings.get("virtual_mailbox_domains", ""),
                                   domain_lookups, mailbox_lookups))
        answers[mx.name] = lookups.answer(mailbox_lookups)
    return [*found, *lookups.parity(answers, recipient, mxs[0].name)] if mxs else found


ONLY_RELAYS = "fewer than two MXs deliver into mailboxes here (the backup relays): nothing to share"

CHECKS: tuple[Check, ...] = (
    Check("dns", "DNS: the MX records as declared, as the seeds advise (targets, priorities, TTL, PTR, SPF)", dns),
    Check("smtp-every-address", "SMTP: every address of every MX answers 220", every_address),
    Check("smtp-greeting", "SMTP: the banner and EHLO give the MX's own name", greeting),
    Check("smtp-tls", "TLS: STARTTLS on every MX, with a certificate a verifying sender accepts", tls),
    Check("smtp-size", "SMTP: each backup takes messages as large as the primary", size),
    Check("accepts-domain", "each backup accepts the domain", accepts_domain),
    Check("refuses-relay", "no MX is an open relay", open_relay),
    Check("rejects-unknown-recipient", "each backup refuses unknown users at RCPT (no backscatter)", unknown_recipient),
    Check("queue-lifetime", "each queueing backup (and each MX forwarding to a mail store) keeps mail long enough",
          queue_lifetime, applies="no backup queues mail for the domain here (each delivers into the mailboxes itself)"),
    Check("relay-to-mailstore", "each MX hands the domain to the mail store (TLS and SASL as it requires)",
          relay_to_mailstore, applies="no mail store is declared (mxdrill_mailstore): the MXs deliver themselves"),
    Check("user-lookups", "each delivering MX looks the domain and a recipient up, with the same answer as the primary",
          user_lookups, applies="no MX delivers into mailboxes itself here"),
    Check("config-parity", "each backup's anti-spam and TLS settings match the primary's", parity),
    Check("storage-mounted", "shared storage is mounted on every delivering MX", storage_mounted,
          applies="no MX delivers into mailboxes itself here"),
    Check("storage-same-source", "every delivering MX mounts the same store", storage_same_source, applies=ONLY_RELAYS),
    Check("storage-cross-write", "a write on each MX is read on every other", storage_cross_write, in_drill=False,
          applies=ONLY_RELAYS),
)

def checks_table() -> str:
    """The README's table of preflight checks, written from `CHECKS` (a unit test keeps the two equal)."""
    rows = ["| check (pytest id) | what it proves | in each drill's preflight |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.title} | {'yes' if c.in_drill else 'no: the suite only'} |" for c in CHECKS]
    return "\n".join(rows) + "\n"


def run_check(check: Check, survey: Survey, mxs: list[Host]) -> list[Finding]:
    """One check over the MXs in play, each finding recorded (the report's Preflight section reads them)."""
    found = check.run(survey, mxs)
    if survey.history is not None:
        for f in found:
            survey.history.append(Kind.PREFLIGHT, scenario=survey.scenario, host=f.host, check=check.name, finding=f.check,
                                  ok=f.ok, status=f.status, detail=f.detail, fix=f.fix, severity=f.severity)
    return found


def drill_preflight(survey: Survey, mxs: list[Host]) -> list[Finding]:
    """Every check a drill's preflight runs, over its own primary and backup."""
    return [f for check in CHECKS if check.in_drill for f in run_check(check, survey, mxs)]
