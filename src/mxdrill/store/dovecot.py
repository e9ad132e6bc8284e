"""Mailboxes a Dovecot mail store holds, asked of Dovecot itself: the `MailboxStore` of seed 003
Scénario 3, where the MXs only relay and an internal store delivers with LMTP.

Dovecot knows where every message is, in every folder (a Sieve filter may file a probe anywhere):
one `doveadm fetch -A` per scan finds every copy of the run's probes for every user, by the probe's
Message-ID header, with its `Received:` headers, so that each probe's path (the MX that took it,
the relay to the store) comes from the mailbox. `SAVEDSINCE` keeps a scan to what arrived since the
run began, however much older mail the mailboxes hold.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field

from mxdrill.received import hosts_passed
from mxdrill.remote import Remote, RemoteError
from mxdrill.store import MailboxScan

CLOCK_MARGIN_SECONDS = 300  # as for Maildir: how far the harness's idea of "the run began" may be early
FETCH_FIELDS = "mailbox guid hdr.message-id hdr.received"


def probe_search(run_id: str) -> str:
    """The doveadm search query of this run's probes: a substring of their Message-ID header."""
    return f"HEADER Message-ID {shlex.quote(f'mxdrill-{run_id}-')}"


def fetch_command(run_id: str, since: int | None) -> str:
    """One command for the whole store: every user (-A), every folder, JSON out."""
    saved = f"SAVEDSINCE {since} " if since is not None else ""
    return f"doveadm -f json fetch -A {shlex.quote(FETCH_FIELDS)} {saved}{probe_search(run_id)}"


def token_of(message_id: str, run_id: str) -> str | None:
    """`<mxdrill-RUN-007@harness...>` → `mxdrill-RUN-007`, for this run's probes only."""
    found = re.fullmatch(rf"\s*<?(mxdrill-{re.escape(run_id)}-\d+)@[^>]*>?\s*", message_id)
    return found.group(1) if found else None


def parse_fetch(host: str, run_id: str, output: str) -> MailboxScan:
    """doveadm's JSON (a list of {username, mailbox, guid, hdr.message-id, hdr.received}) as a scan.

    A copy's path is `user/folder/guid`; the store is one location whatever MX delivered into it.
    """
    rows = json.loads(output or "[]")
    copies: Counter[str] = Counter()
    paths: dict[str, list[str]] = {}
    routes: dict[str, list[str]] = {}
    for row in rows:
        token = token_of(row.get("hdr.message-id", ""), run_id)
        if token is None:
            continue
        copies[token] += 1
        paths.setdefault(token, []).append(f"{row.get('username', '?')}/{row.get('mailbox', '?')}/{row.get('guid', '?')}")
        routes.setdefault(token, hosts_passed(row.get("hdr.received", "")))
    return MailboxScan(host, "dovecot", f"dovecot@{host}", "dovecot", copies, paths, routes)


@dataclass
class DovecotStore:
    """The mail store's Dovecot, over the store host's SSH session (doveadm runs as root there)."""

    remote: Remote
    _since: dict[str, int] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.remote.host.name

    def mark(self, run_id: str) -> None:
        """The run begins now, by the store's clock (less the margin); a second drill of the run keeps the first's."""
        if run_id not in self._since:
            self._since[run_id] = int(self.remote.check("date +%s").strip()) - CLOCK_MARGIN_SECONDS

    def unmark(self, run_id: str) -> None:
        self._since.pop(run_id, None)

    def _doveadm(self, command: str) -> str:
        result = self.remote.run(command)
        if result.rc != 0:
            raise RemoteError(f"{self.host}: `{command}` failed (exit {result.rc}): {result.stderr.strip()[-300:]}: "
                              "is Dovecot running there, and its userdb iterable (doveadm -A)?")
        return result.stdout

    def scan(self, run_id: str, fresh: bool = False) -> MailboxScan:
        """Every copy of the run's probes in every user's every folder (Dovecot has no stale view to refresh)."""
        return parse_fetch(self.host, run_id, self._doveadm(fetch_command(run_id, self._since.get(run_id))))

    def find(self, message_id: str, recipient: str) -> list[str]:
        query = f"HEADER Message-ID {shlex.quote(message_id)}"
        rows = json.loads(self._doveadm(f"doveadm -f json fetch -u {shlex.quote(recipient)} 'mailbox guid' {query}") or "[]")
        return [f"{recipient}/{row.get('mailbox', '?')}/{row.get('guid', '?')}" for row in rows]

    def remove(self, run_id: str, recipients: list[str] | None = None) -> int:
        """Expunge the run's probes (and nothing else) from every folder of every user, or of `recipients`."""
        copies = [path for paths in self.scan(run_id, fresh=True).paths.values() for path in paths
                  if recipients is None or path.split("/", 1)[0] in recipients]
        if not copies:
            return 0
        users = ["-A"] if recipients is None else [f"-u {shlex.quote(r)}" for r in recipients]
        for user in users:
            self._doveadm(f"doveadm expunge {user} mailbox '*' {probe_search(run_id)}")
        return len(copies)
