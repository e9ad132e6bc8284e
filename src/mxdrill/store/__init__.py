"""Where delivered mail sits, as the drill needs it: find every copy of this run's probes.

One command per host, however many probes: the store reports each probe's copies and the storage
location they sit in (the mount source, or the host's local disk), so the shared store seen
through two MXs counts once while a copy on an MX's own disk is a second location. Maildir
(`maildir.py`) reads the files an MX delivered; Dovecot (`dovecot.py`) asks the mail store the MXs
relay to, in every folder. Unit tests use a fake.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class MailboxScan:
    """What one host's mailbox store holds of the drill's probes, and where that storage lives."""

    host: str
    base: str
    location: str
    fstype: str
    copies: Counter[str]
    paths: dict[str, list[str]]
    routes: dict[str, list[str]] = field(default_factory=dict)  # token -> hosts it passed (Received:), when the store tells


class MailboxStore(Protocol):
    """The mailboxes one host delivers into."""

    @property
    def host(self) -> str: ...
    def mark(self, run_id: str) -> None:
        """Note where run `run_id` begins in these mailboxes, so that its scans read only what arrived
        since (a probe mailbox holds years of mail); before the run's first probe is sent."""
        ...
    def unmark(self, run_id: str) -> None:
        """Remove what `mark` left (the drill's end, whatever its outcome)."""
        ...
    def scan(self, run_id: str, fresh: bool = False) -> MailboxScan:
        """Every copy of every probe of run `run_id`, with its storage location."""
        ...
    def find(self, message_id: str, recipient: str) -> list[str]:
        """The paths of the mails with this Message-Id in `recipient`'s mailbox (a user's own check)."""
        ...
    def remove(self, run_id: str, recipients: list[str] | None = None) -> int:
        """Delete run `run_id`'s probes (and nothing else) from the drill's recipients' mailboxes, or
        from those of `recipients`; returns how many copies went."""
        ...


def normalize_source(source: str) -> str:
    """`vmail@10.0.0.5:/export` and `10.0.0.5:/export` are the same store."""
    return source.split("@", 1)[-1]
