"""Non-disruptive checks (acceptance after a migration): DNS by the seeds' rules, SMTP health, the backup
takes the domain, refuses relaying and unknown users, keeps queued mail long enough, shared storage
mounted on every MX and written through from each to the others. Each names its cause and its fix."""

from __future__ import annotations

import pytest

from mxdrill import preflight
from mxdrill.inventory import Host, Inventory
from mxdrill.mailhost import MailHost
from mxdrill.remote import Sessions


@pytest.fixture(scope="module")
def delivering(inventory: Inventory, hosts: dict[str, MailHost]) -> list[Host]:
    """The MXs that deliver into mailboxes themselves (asked of each MTA once)."""
    return [h for h in inventory.mxs if hosts[h.name].mta.delivery_role(inventory.domain) == "delivers"]


def test_dns_mx_records_match_the_inventory(inventory: Inventory) -> None:
    """Seeds 000-002's MX rules: an error fails this check, a warning is shown in pytest's warnings summary."""
    bad = preflight.errors(preflight.dns_findings(inventory))
    assert not bad, " | ".join(bad)


def test_every_mx_answers_smtp(inventory: Inventory) -> None:
    findings = [preflight.smtp_answers(host) for host in inventory.mxs]
    bad = [f"{f.host}: {f.detail}" for f in findings if not f.ok]
    assert not bad, " | ".join(bad)


def test_every_backup_accepts_the_domain_and_refuses_relaying(inventory: Inventory) -> None:
    findings = []
    for backup in inventory.backups:
        findings += [preflight.accepts_domain(backup, inventory.recipients[0]), preflight.refuses_relay(backup)]
    bad = [f"{f.check} on {f.host}: {f.detail}" for f in findings if not f.ok]
    assert not bad, " | ".join(bad)


def test_every_backup_rejects_unknown_recipients(inventory: Inventory) -> None:
    """Seed 000: a backup accepting any user at RCPT bounces later to forged senders (backscatter): a warning."""
    bad = preflight.errors([preflight.rejects_unknown_recipient(b, inventory.domain) for b in inventory.backups])
    assert not bad, " | ".join(bad)


def test_every_queueing_backup_keeps_mail_long_enough(inventory: Inventory, hosts: dict[str, MailHost]) -> None:
    """Seed 000: a backup that queues for the primary must keep the mail at least as long as it may be down."""
    queueing = [b for b in inventory.backups if hosts[b.name].mta.delivery_role(inventory.domain) == "relays"]
    if not queueing:
        pytest.skip("no backup queues mail for the domain here (each delivers into the mailboxes itself)")
    findings = [f for b in queueing for f in preflight.queue_lifetime(b.name, hosts[b.name].mta.config(*preflight.QUEUE_LIFETIMES))]
    bad = preflight.errors(findings)
    assert not bad, " | ".join(bad)


def test_the_backups_match_the_primarys_configuration(inventory: Inventory, hosts: dict[str, MailHost]) -> None:
    """Seed 003's "configuration identique": restrictions, DNSBLs, size limit and TLS level, MX by MX (warnings)."""
    values = {h.name: hosts[h.name].mta.config(*preflight.PARITY) for h in inventory.mxs}
    bad = preflight.errors(preflight.parity(values, inventory.primary.name))
    assert not bad, " | ".join(bad)


def test_shared_storage_is_mounted_on_every_delivering_mx(inventory: Inventory, sessions: Sessions, delivering: list[Host]) -> None:
    findings = [preflight.storage_mount(sessions[h], h.mailbox_base, inventory.storage_fstype) for h in delivering]
    bad = [f"{f.host}: {f.detail}" for f in findings if not f.ok]
    assert not bad, " | ".join(bad)


def test_a_write_on_each_mx_is_read_on_every_other(
    inventory: Inventory, sessions: Sessions, run_id: str, delivering: list[Host]
) -> None:
    """Seed 003 Problème 3's own test (touch on one MX, ls on the other), with a deadline for NFS caching."""
    if len(delivering) < 2:
        pytest.skip("fewer than two MXs deliver into mailboxes here (the backup relays): nothing to share")
    findings = preflight.cross_writes([sessions[h] for h in delivering], inventory.primary.mailbox_base, run_id)
    bad = [f"{f.host}: {f.detail}" for f in findings if not f.ok]
    assert not bad, " | ".join(bad)
