"""A mail log that lives in the systemd journal (Debian 12 and later install no rsyslog).

The cursor is the journal's own (`--show-cursor`): the last entry's when the drill begins; lines
are read with `--after-cursor`, Postfix's units only (`postfix*`: Debian's `postfix@-.service` as
well as RHEL's `postfix.service`), in `short-iso-precise`, which the Postfix parser reads like a
syslog file. An empty journal gives an empty cursor: everything is new.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from mxdrill.remote import Remote

UNITS = "postfix*"
CURSOR_MARK = "-- cursor: "


def cursor_of(output: str) -> str:
    """The cursor `journalctl --show-cursor` printed (after its last entry), or "" for an empty journal."""
    found = [line[len(CURSOR_MARK):].strip() for line in output.splitlines() if line.startswith(CURSOR_MARK)]
    return found[-1] if found else ""


@dataclass(frozen=True)
class JournalLog:
    remote: Remote
    units: str = UNITS

    def describe(self) -> str:
        return f"journald (units {self.units})"

    def cursor(self) -> str:
        # -n1 rather than -n0: older journalctl prints no cursor without an entry to put it after.
        return cursor_of(self.remote.run("journalctl -n1 --show-cursor -q -o cat --no-pager").stdout)

    def lines_since(self, cursor: str) -> list[str]:
        after = f"--after-cursor={shlex.quote(cursor)} " if cursor else ""
        text = self.remote.check(
            f"journalctl {after}-u {shlex.quote(self.units)} -o short-iso-precise -q --no-pager")
        return text.splitlines()
