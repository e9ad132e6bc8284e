"""`auto`, the default log source: per host, the mail log file if it is being written, else the journal.

Fleets are mixed — hosts upgraded from Debian 11 and RHEL hosts keep a text log, fresh Debian 12
hosts have only the journal, and a file left over from before an upgrade may exist without growing.
So one command asks the host, once per drill, for: Postfix's own `maillog_file` (Postfix ≥ 3.4:
when set, Postfix writes it itself and it wins), whether the declared file exists and when it was
last written, and when the journal last heard from Postfix. The file wins when it is at least as
fresh as the journal (minus a minute of slack for buffering); otherwise the journal. Which one was
chosen is in the report (`describe`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from mxdrill.logs import LogSource
from mxdrill.logs.file import FileLog
from mxdrill.logs.journald import UNITS, JournalLog
from mxdrill.remote import Remote

SLACK_SECONDS = 60


@dataclass(frozen=True)
class LogFacts:
    maillog_file: str  # Postfix's own log file, "" when Postfix logs to syslog
    file: str
    file_mtime: int | None  # None: the file does not exist
    journal: bool  # systemd and journalctl on the host
    journal_last: int | None  # when Postfix last logged to the journal; None: never


def probe_command(path: str) -> str:
    quoted = shlex.quote(path)
    return (
        "printf 'maillog_file %s\\n' \"$(postconf -h maillog_file 2>/dev/null)\"; "
        f"printf 'file %s\\n' \"$(stat -c %Y {quoted} 2>/dev/null)\"; "
        "if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then "
        f"printf 'journal %s\\n' \"$(journalctl -u {shlex.quote(UNITS)} -n1 -o short-unix -q --no-pager 2>/dev/null "
        "| awk 'NR==1{print int($1)}')\"; fi"
    )


def parse_facts(path: str, output: str) -> LogFacts:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        values[key] = value.strip()

    def number(key: str) -> int | None:
        return int(values[key]) if values.get(key, "").isdigit() else None

    return LogFacts(values.get("maillog_file", ""), path, number("file"), "journal" in values, number("journal"))


def choose(facts: LogFacts) -> tuple[str, str]:
    """("file", path) or ("journald", ""): pure, so every mix of hosts is unit-tested."""
    if facts.maillog_file and facts.maillog_file.startswith("/"):
        return "file", facts.maillog_file
    if facts.file_mtime is not None:
        if not facts.journal or facts.journal_last is None or facts.file_mtime >= facts.journal_last - SLACK_SECONDS:
            return "file", facts.file
    if facts.journal:
        return "journald", ""
    return "file", facts.file


@dataclass
class AutoLog:
    remote: Remote
    path: str
    chosen: LogSource | None = field(default=None, init=False)

    def source(self) -> LogSource:
        if self.chosen is None:
            kind, path = choose(parse_facts(self.path, self.remote.run(probe_command(self.path)).stdout))
            self.chosen = FileLog(self.remote, path) if kind == "file" else JournalLog(self.remote)
        return self.chosen

    def describe(self) -> str:
        return f"auto: {self.source().describe()}"

    def cursor(self) -> str:
        return self.source().cursor()

    def lines_since(self, cursor: str) -> list[str]:
        return self.source().lines_since(cursor)
