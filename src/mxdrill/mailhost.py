"""A declared host with its seams: its SSH session, its MTA, its mail log and its mailbox store.

This is where each host's implementations are chosen (pytest-testinfra chooses a backend per host
the same way): Postfix, a log file and Maildir today. A new MTA, log source or store is chosen
here and nowhere else; the drill and the checks only see the protocols.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mxdrill.inventory import Host, Inventory
from mxdrill.logs import LogSource
from mxdrill.logs.file import FileLog
from mxdrill.mta import Mta
from mxdrill.mta.postfix import Postfix
from mxdrill.remote import Remote, Sessions
from mxdrill.store import MailboxStore
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


def mail_hosts(inventory: Inventory, sessions: Sessions) -> dict[str, MailHost]:
    """Every MX of the inventory with its seams; nothing is connected until a seam is used."""
    primary = Postfix(sessions[inventory.primary])
    folders = functools.cache(lambda: primary.mailbox_paths(inventory.recipients))
    found = {}
    for host in inventory.mxs:
        remote = sessions[host]
        found[host.name] = MailHost(
            host, remote, Postfix(remote), FileLog(remote, host.mail_log),
            MaildirStore(remote, host.mailbox_base, inventory.storage_fstype, folders),
        )
    return found
