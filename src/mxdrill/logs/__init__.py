"""Where a host's mail log is read from: one small protocol, one module per kind of source.

The drill only ever reads what a host logged since the drill began: it takes a cursor when it
starts and later reads the lines written after it. A text file (`file.py`) is the source today;
the systemd journal is the next one. Unit tests use a fake (tests/unit/fakes.py).
"""

from __future__ import annotations

from typing import Protocol


class LogSource(Protocol):
    """A host's mail log, read from a cursor on."""

    def describe(self) -> str:
        """Where the lines come from, for the report: `file /var/log/mail.log`."""
        ...

    def cursor(self) -> str:
        """An opaque position: the end of the log now."""
        ...

    def lines_since(self, cursor: str) -> list[str]:
        """Every line written after `cursor`."""
        ...
