"""One preflight fact about one host: what was seen (the evidence) and, when it is wrong, what to do.

Shared by the pure rule modules (`dnsrules`, `smtprules`) and the checks that ask the hosts
(`preflight`), so that a finding reads the same in pytest's output, the history and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """`ok`, or a problem of some `severity`: an error blocks the drill, a warning is reported and never does."""

    check: str
    host: str
    ok: bool
    detail: str  # the evidence, in words a postmaster can act on
    severity: Severity = "error"
    fix: str = ""  # what to change, on which host (empty when ok)

    @property
    def blocks(self) -> bool:
        return not self.ok and self.severity == "error"

    @property
    def status(self) -> str:
        """pass / warn / error: the report's column."""
        return "pass" if self.ok else "warn" if self.severity == "warning" else "error"

    @property
    def message(self) -> str:
        """The one line a postmaster sees: the evidence, then the fix."""
        return f"{self.detail}: {self.fix}" if self.fix else self.detail


def problem(check: str, host: str, detail: str, fix: str, severity: Severity = "error") -> Finding:
    return Finding(check, host, False, detail, severity, fix)
