"""Finding probes in mailboxes: one remote command per host, however many probes.

Probes are counted by Message-Id, never by queue id (queue ids are per host and get reused). Each
MX reports where its mailbox base really lives (the mount source, or "local"), so the shared store
seen through two MXs is counted once, while a copy on an MX's local disk — seed 003's
"Problème 3 : Emails dupliqués" — shows up as a second location.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass

from mxdrill.remote import Remote

MOUNT_MARK = "#mount "
FOUND_LINE = re.compile(r"^(?P<path>.+?):Message-Id: <(?P<token>[^@>]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class MailboxScan:
    """What one host's mailbox base holds of the drill's probes, and where that storage lives."""

    host: str
    base: str
    location: str
    fstype: str
    copies: Counter[str]
    paths: dict[str, list[str]]


def maildir_dirs(base: str, relative_paths: list[str]) -> list[str]:
    """The new/ and cur/ directories of the recipients' Maildirs (tmp/ holds nothing delivered)."""
    dirs = []
    for relative in relative_paths:
        root = f"{base.rstrip('/')}/{relative.strip('/')}"
        dirs += [f"{root}/new", f"{root}/cur"]
    return dirs


def probe_header_pattern(run_id: str) -> str:
    """grep -E pattern of the Message-Id header of this run's probes (and of no other mail)."""
    return f"^Message-Id: <mxdrill-{re.escape(run_id)}-[0-9]+@"


def scan_command(base: str, dirs: list[str], run_id: str) -> str:
    """Print the mount (type and source) under `base`, then `path:Message-Id: <token@...>` per probe file."""
    pattern = probe_header_pattern(run_id)
    return (
        f"printf '{MOUNT_MARK}%s\\n' \"$(findmnt -n -o FSTYPE,SOURCE --target {shlex.quote(base)} 2>/dev/null)\"; "
        f"grep -s -r -i -H -o -m1 -E {shlex.quote(pattern)} {' '.join(shlex.quote(d) for d in dirs)}; true"
    )


def parse_scan(host: str, base: str, output: str, storage_fstype: str) -> MailboxScan:
    """Pure: turn the scan command's output into counts per probe token and a storage location."""
    fstype, source = "", ""
    copies: Counter[str] = Counter()
    paths: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith(MOUNT_MARK):
            fields = line[len(MOUNT_MARK):].split(maxsplit=1)
            fstype, source = (fields + ["", ""])[:2]
            continue
        match = FOUND_LINE.match(line)
        if match:
            copies[match["token"]] += 1
            paths.setdefault(match["token"], []).append(match["path"])
    shared = fstype == storage_fstype or fstype.startswith(("nfs", "fuse.", "glusterfs", "cephfs"))
    location = normalize_source(source) if shared else f"{host}:{base} (local {fstype or 'unknown'})"
    return MailboxScan(host, base, location, fstype, copies, paths)


def normalize_source(source: str) -> str:
    """`vmail@10.0.0.5:/export` and `10.0.0.5:/export` are the same store."""
    return source.split("@", 1)[-1]


def scan(remote: Remote, base: str, maildirs: list[str], run_id: str, storage_fstype: str) -> MailboxScan:
    output = remote.check(scan_command(base, maildir_dirs(base, maildirs), run_id))
    return parse_scan(remote.host.name, base, output, storage_fstype)


def remove_probes(remote: Remote, base: str, maildirs: list[str], run_id: str) -> int:
    """Delete this drill's probe files (and only them); returns how many were removed."""
    pattern = probe_header_pattern(run_id)
    dirs = " ".join(shlex.quote(d) for d in maildir_dirs(base, maildirs))
    output = remote.check(
        f"grep -s -r -i -l -E {shlex.quote(pattern)} {dirs} | while IFS= read -r f; do rm -f -- \"$f\" && echo x; done; true"
    )
    return output.count("x")
