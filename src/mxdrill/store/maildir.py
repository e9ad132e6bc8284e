"""Maildir mailboxes under a host's mailbox base: the drill's `MailboxStore` today.

Probes are counted by Message-Id, never by queue id (queue ids are per host and get reused). Each
MX reports where its mailbox base really lives (the mount source, or "local"), so the shared store
seen through two MXs is counted once, while a copy on an MX's local disk — seed 003's
"Problème 3 : Emails dupliqués" — shows up as a second location.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from mxdrill.remote import Remote
from mxdrill.store import MailboxScan, normalize_source

MOUNT_MARK = "#mount "
LISTED_MARK = "#listed "  # `#listed <mtime> <dir>`: the directory was read; its probe lines follow
SAME_MARK = "#same "  # `#same <dir>`: unchanged since the last scan: its lines are the last scan's
SETTLED_SECONDS = 2  # a directory's mtime has 1 s resolution: one changed this recently is read again
FOUND_LINE = re.compile(r"^(?P<path>.+?):Message-Id: <(?P<token>[^@>]+)@", re.IGNORECASE)


def maildir_dirs(base: str, relative_paths: list[str]) -> list[str]:
    """The new/ and cur/ directories of the recipients' Maildirs (tmp/ holds nothing delivered)."""
    dirs = []
    for relative in relative_paths:
        root = f"{base.rstrip('/')}/{relative.strip('/')}"
        dirs += [f"{root}/new", f"{root}/cur"]
    return dirs


def ere_escape(text: str) -> str:
    """`text` as a literal in a POSIX extended regex (Python's re.escape also escapes `-`, which grep 3.8 warns of)."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def probe_header_pattern(run_id: str) -> str:
    """grep -E pattern of the Message-Id header of this run's probes (and of no other mail)."""
    return f"^Message-Id: <mxdrill-{ere_escape(run_id)}-[0-9]+@"


CLOCK_MARGIN_SECONDS = 300  # how far the MXs' clocks may disagree (NTP keeps them far closer)


def cursor_path(base: str, run_id: str, host: str) -> str:
    """The run's cursor file in the mailbox base: it holds the epoch second before which nothing of the run arrived."""
    return f"{base.rstrip('/')}/.mxdrill-since-{run_id}-{host}"


def mark_command(base: str, run_id: str, host: str) -> str:
    """Write the cursor once per run (a second drill of the run keeps the first's): now, minus the margin
    for another MX's clock (a probe may be delivered by the other MX of a shared store)."""
    cursor = shlex.quote(cursor_path(base, run_id, host))
    return (f"[ -d {shlex.quote(base)} ] && [ ! -e {cursor} ] && echo $(( $(date +%s) - {CLOCK_MARGIN_SECONDS} )) > {cursor}; true")


# awk over a directory listing: the names a Maildir dates at or after the cursor `s` (and any it does not date)
KEEP_SINCE_CURSOR = '$0 !~ /^\\./ { if (s != "" && match($0, /^[0-9]+/) && substr($0, 1, RLENGTH) + 0 < s + 0) next; print d "/" $0 }'


def recent_files(dirs: list[str], cursor: str) -> str:
    """Shell: the files of `dirs`, NUL-separated, leaving out those a Maildir name dates before the cursor.

    A Maildir file's name begins with its delivery time (`1764633600.M1P2.host:2,S`), so a directory
    listing alone (readdir: no stat, no read of any file) tells what arrived since the run began: over
    NFS or sshfs, 50,000 old messages cost one listing instead of 50,000 round trips. A name that does
    not begin with a time, or no cursor at all (a base that appeared during the run), is always read.
    """
    listed = " ".join(shlex.quote(d) for d in dirs)
    return (f"since=$(cat {shlex.quote(cursor)} 2>/dev/null); "
            f"for d in {listed}; do ls -f \"$d\" 2>/dev/null | awk -v d=\"$d\" -v s=\"$since\" '{KEEP_SINCE_CURSOR}'; done | tr '\\n' '\\0'")


def scan_command(base: str, dirs: list[str], run_id: str, host: str = "", known: dict[str, int] | None = None) -> str:
    """Print the mount (type and source) under `base`, then, per directory, `path:Message-Id: <token@...>`
    per probe file, reading only what arrived since the run's cursor (`recent_files`): the cost grows
    with the probes, not with the mailbox.

    `known` (directory -> mtime at the last scan): a directory whose mtime is still that, and settled
    (SETTLED_SECONDS old), has had no file added, removed or renamed since; it is not listed again
    (`#same`), so a cur/ of 50,000 old messages costs one stat per poll, not one listing of 50,000 names.
    """
    pattern = shlex.quote(probe_header_pattern(run_id))
    cursor = shlex.quote(cursor_path(base, run_id, host))
    cases = "".join(f"{shlex.quote(d)}) echo {m};; " for d, m in (known or {}).items())
    listed = " ".join(shlex.quote(d) for d in dirs)
    return (
        f"printf '{MOUNT_MARK}%s\\n' \"$(findmnt -n -o FSTYPE,SOURCE --target {shlex.quote(base)} 2>/dev/null)\"; "
        f"since=$(cat {cursor} 2>/dev/null); now=$(date +%s); known() {{ case \"$1\" in {cases}*) echo -;; esac; }}; "
        f"for d in {listed}; do m=$(stat -c %Y \"$d\" 2>/dev/null) || continue; "
        f"if [ \"$(known \"$d\")\" = \"$m\" ] && [ $((now - m)) -ge {SETTLED_SECONDS} ]; then echo \"{SAME_MARK}$d\"; continue; fi; "
        f"echo \"{LISTED_MARK}$m $d\"; ls -f \"$d\" 2>/dev/null | awk -v d=\"$d\" -v s=\"$since\" '{KEEP_SINCE_CURSOR}' | tr '\\n' '\\0' "
        f"| xargs -0 -r grep -s -i -H -o -m1 -E {pattern}; done; true"
    )


@dataclass
class DirCache:
    """What the last scan saw per directory: its mtime and its probe lines (for `#same` answers)."""

    mtimes: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)

    def merge(self, output: str) -> str:
        """The scan's output with every `#same` directory's lines filled in from the last scan; the
        directories listed this time are remembered."""
        merged, current = [], None
        for line in output.splitlines():
            if line.startswith(LISTED_MARK):
                mtime, directory = line[len(LISTED_MARK):].split(" ", 1)
                current = directory
                self.mtimes[directory], self.lines[directory] = int(mtime), []
            elif line.startswith(SAME_MARK):
                current = None
                merged += self.lines.get(line[len(SAME_MARK):], [])
            elif current is not None and not line.startswith(MOUNT_MARK):
                self.lines[current].append(line)
                merged.append(line)
            else:
                merged.append(line)
        return "\n".join(merged) + "\n"


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


@dataclass
class MaildirStore:
    """The recipients' Maildirs under `base` on one host.

    `folders` says where each recipient's Maildir is, relative to `base`; it is asked once (of the
    primary's MTA, which owns the mailbox maps) and shared by every host's store.
    """

    remote: Remote
    base: str
    fstype: str
    folders: Callable[[], list[str]]
    folders_of: Callable[[str], list[str]] = lambda recipient: []  # one recipient's Maildirs (asked of the MTA)
    _dirs: list[str] | None = field(default=None, init=False, repr=False)
    _seen: dict[str, DirCache] = field(default_factory=dict, init=False, repr=False)  # run id -> last scan

    @property
    def host(self) -> str:
        return self.remote.host.name

    def dirs(self) -> list[str]:
        if self._dirs is None:
            self._dirs = maildir_dirs(self.base, self.folders())
        return self._dirs

    def mark(self, run_id: str) -> None:
        self.remote.check(mark_command(self.base, run_id, self.host))

    def unmark(self, run_id: str) -> None:
        self._seen.pop(run_id, None)
        self.remote.check(f"rm -f {shlex.quote(cursor_path(self.base, run_id, self.host))}")

    def scan(self, run_id: str, fresh: bool = False) -> MailboxScan:
        """`fresh`: list every directory (the final count); else a poll, which skips unchanged ones —
        except on NFS, whose attribute cache may show a directory's old mtime for up to acdirmax (60 s)."""
        seen = self._seen.setdefault(run_id, DirCache())
        trusted = {} if fresh or self.fstype.startswith("nfs") else seen.mtimes
        output = self.remote.check(scan_command(self.base, self.dirs(), run_id, self.host, trusted))
        return parse_scan(self.host, self.base, seen.merge(output), self.fstype)

    def find(self, message_id: str, recipient: str) -> list[str]:
        """The files in `recipient`'s Maildir whose Message-Id header is `message_id` (any mail, not only probes)."""
        dirs = " ".join(shlex.quote(d) for d in maildir_dirs(self.base, self.folders_of(recipient)))
        if not dirs:
            return []
        pattern = shlex.quote(f"^Message-Id:[[:space:]]*<{ere_escape(message_id.strip('<>'))}>")
        return self.remote.check(f"grep -s -r -i -l -E {pattern} {dirs}; true").splitlines()

    def remove(self, run_id: str, recipients: list[str] | None = None) -> int:
        """Delete this drill's probe files (and only them) from the drill's recipients' Maildirs, or
        from those of `recipients`; returns how many were removed."""
        pattern = probe_header_pattern(run_id)
        chosen = self.dirs() if recipients is None else [d for r in recipients for d in maildir_dirs(self.base, self.folders_of(r))]
        if not chosen:
            return 0
        cursor = cursor_path(self.base, run_id, self.host)
        # NUL-separated names: a planted file name with a newline must not make root delete another path.
        output = self.remote.check(
            f"{{ {recent_files(chosen, cursor)}; }} | xargs -0 -r grep -s -i -l -Z -E {shlex.quote(pattern)} "
            f"| xargs -0 -r sh -c 'rm -f -- \"$@\" && echo $#' rm; true"
        )
        return sum(int(n) for n in output.split() if n.isdigit())
