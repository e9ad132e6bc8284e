"""A mail log that is a text file on the host (rsyslog's /var/log/mail.log, Postfix's maillog_file).

The cursor is the file's size in bytes when it was taken; reading from it is one `tail -c`. A log
rotated meanwhile (smaller than the cursor) is read from its start, so nothing after the cursor
is missed in the new file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from mxdrill.remote import Remote


@dataclass(frozen=True)
class FileLog:
    remote: Remote
    path: str

    def describe(self) -> str:
        return f"file {self.path}"

    def cursor(self) -> str:
        output = self.remote.run(f"stat -c %s {shlex.quote(self.path)} 2>/dev/null || echo 0").stdout.strip()
        return output or "0"

    def lines_since(self, cursor: str) -> list[str]:
        offset, path = int(cursor or 0), shlex.quote(self.path)
        text = self.remote.check(
            f"size=$(stat -c %s {path} 2>/dev/null || echo 0); "
            f"if [ \"$size\" -ge {offset} ]; then tail -c +{offset + 1} {path}; else cat {path}; fi"
        )
        return text.splitlines()
