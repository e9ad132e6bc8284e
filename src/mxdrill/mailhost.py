"""A declared host with its seams: its SSH session, its MTA, its mail log and its mailbox store.

This is where each host's implementations are chosen (pytest-testinfra chooses a backend per host
the same way): Postfix, the mail log (a file or the journal, chosen per host), and the mailbox store:
Maildir where the MXs deliver themselves, or, when the inventory declares a mail store the MXs relay
to (`mxdrill_mailstore`), that host's Dovecot, one store shared by every MX. A new MTA, log source
or store is chosen here and nowhere else; the drill and the checks only see the protocols.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mxdrill.inventory import Host, Inventory
from mxdrill.logs import LogSource
from mxdrill.logs.auto import AutoLog
from mxdrill.logs.file import FileLog
from mxdrill.logs.journald import JournalLog
from mxdrill.mta import Mta
from mxdrill.mta.postfix import Postfix
from mxdrill.remote import Remote, Sessions
from mxdrill.sender import SenderPath
from mxdrill.store import MailboxStore
from mxdrill.store.dovecot import DovecotStore
from mxdrill.store.maildir import MaildirStore


@dataclass(frozen=True)
class MailHost:
    host: Host
    remote: Remote
    mta: Mta
    log: LogSource
    store: MailboxStore

    @property
    def name(self) -> str:
        return self.host.name


def mail_hosts(inventory: Inventory, sessions: Sessions, detect: bool = True) -> dict[str, MailHost]:
    """Every MX of the inventory with its seams, and the mail store the MXs relay to, if one is declared
    (last: the fault `mailstore` takes it down, and its log shows each final delivery); nothing is
    connected until a seam is used.

    `detect=False` (the dry-run plan): nothing is ever asked of a host, not even which unit runs Postfix.
    """
    found = {}
    mailstore = inventory.mailstore
    shared = DovecotStore(sessions[mailstore]) if mailstore is not None else None
    primary = Postfix(sessions[inventory.primary], detect)
    folders = functools.cache(lambda: primary.mailbox_paths(inventory.recipients))
    folders_of = functools.cache(lambda recipient: primary.mailbox_paths([recipient]))
    for host in inventory.mxs:
        remote = sessions[host]
        store = shared or MaildirStore(remote, host.mailbox_base, inventory.storage_fstype, folders, folders_of)
        found[host.name] = MailHost(host, remote, Postfix(remote, detect), log_source(host, remote), store)
    if mailstore is not None and shared is not None:
        remote = sessions[mailstore]
        found[mailstore.name] = MailHost(mailstore, remote, Postfix(remote, detect), log_source(mailstore, remote), shared)
    return found


def stores_of(hosts: dict[str, MailHost]) -> dict[str, MailboxStore]:
    """Each distinct mailbox store once, by the host it is read on: every MX's Maildir, or the one mail store
    every MX relays to (it is every MX's `store`)."""
    found: dict[str, MailboxStore] = {}
    for host in hosts.values():
        found.setdefault(host.store.host, host.store)
    return found


def support_hosts(inventory: Inventory, sessions: Sessions) -> dict[str, Remote]:
    """The hosts a fault may take down that carry no mail themselves (the user database), by name."""
    return {host.name: sessions[host] for host in (inventory.userdb,) if host is not None}


def log_source(host: Host, remote: Remote) -> LogSource:
    """The host's declared log source; `auto` looks at the host when the drill first reads it."""
    if host.log_source == "file":
        return FileLog(remote, host.mail_log)
    if host.log_source == "journald":
        return JournalLog(remote)
    return AutoLog(remote, host.mail_log)


def sender_path(inventory: Inventory, sessions: Sessions) -> SenderPath | None:
    """The declared sender host's MTA as a probe path (`--via sender`), or None when none is declared."""
    host = inventory.sender
    if host is None:
        return None
    remote = sessions[host]
    return SenderPath(remote, Postfix(remote), log_source(host, remote), inventory.drain_deadline)
