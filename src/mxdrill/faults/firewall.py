"""The `reject` and `blackhole` faults: inbound SMTP on the host refused (TCP reset) or silently dropped,
while the MTA itself keeps running — the two ways a sender finds a dead MX differently: a reset makes
it try the next MX at once, a drop makes it wait its whole connect timeout (Postfix: 30 s by default).

The rule lives in a table of its own (`inet mxdrill`), so the heal is one idempotent command that
removes exactly what the fault added and nothing of the host's own firewall; the same command is the
dead-man's switch, so a killed harness never leaves the rule behind.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

from mxdrill.faults import deadman
from mxdrill.remote import Remote

TABLE = "inet mxdrill"
SMTP_PORT = 25


def rules(action: Literal["reject", "drop"]) -> str:
    """The nftables table: before the host's own input rules (priority -10), for new connections only.
    It first replaces any table of that name (left by a killed run), so one rule, this one, is in force.

    Sessions already open finish: what a sender meets is a dead MX at its next connection. Dropping them
    too would cut a session after its final dot, its 250 lost: the sender sends again to MX 20 and the
    mail arrives twice — SMTP's own at-least-once (RFC 5321 §6.1), which the fault is not about."""
    verdict = "reject with tcp reset" if action == "reject" else "drop"
    return (f"table {TABLE} {{}}\ndelete table {TABLE}\n"
            f"table {TABLE} {{\n  chain input {{\n    type filter hook input priority -10; policy accept;\n"
            f"    tcp dport {SMTP_PORT} ct state new {verdict}\n  }}\n}}\n")


def heal_command() -> str:
    """Remove the fault's table if it is there; succeeds only when nft itself lists the tables and ours
    is not among them (a missing or refused `nft` must not pass for a heal)."""
    return (f"nft delete table {TABLE} 2>/dev/null; tables=$(nft list tables) && "
            f"! printf '%s\\n' \"$tables\" | grep -qx 'table {TABLE}'")


@dataclass
class FirewallSmtp(deadman.Switched):
    """Refuse (`reject`) or drop (`blackhole`) inbound TCP to port 25 on the host with nftables."""

    remote: Remote
    action: Literal["reject", "drop"]
    name: str = "reject"
    switch: deadman.DeadMan | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return heal_command()

    def describe(self) -> str:
        return f"nft add table {TABLE} with `tcp dport {SMTP_PORT} ct state new {'reject with tcp reset' if self.action == 'reject' else 'drop'}`"

    def inject(self) -> None:
        """Load the table in one transaction (`nft -f`), then read it back: the harm is confirmed, not assumed."""
        self.remote.check(f"printf '%s\\n' {shlex.quote(rules(self.action))} | nft -f - && nft list table {TABLE} >/dev/null")

    def heal(self) -> None:
        self.remote.check(self.heal_command())
