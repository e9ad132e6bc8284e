"""`--dry-run`: the drill's plan — which command runs on which host, in what order, with which heal.

Built from the inventory alone; nothing is resolved, connected to or sent.
"""

from __future__ import annotations

from mxdrill.drill import scenarios
from mxdrill.inventory import Inventory


def plan_lines(inventory: Inventory, probes_per_phase: int) -> list[str]:
    lines = [f"mxdrill plan for {inventory.path} (domain {inventory.domain}); nothing below has been run"]
    for number, scenario in enumerate(scenarios(inventory), 1):
        primary, backup = scenario.primary, scenario.backup
        start = f"{primary.service.status} >/dev/null 2>&1 || {primary.service.start}"
        lines += [
            f"drill {number}: {scenario.id}",
            f"  1. preflight: MX {inventory.domain} at {inventory.nameserver or 'the system resolver'}; "
            f"SMTP 220 from {primary.address} and {backup.address}; RCPT {inventory.recipients[0]} and a foreign "
            f"recipient at {backup.name}; `postconf -h` and mount of {backup.mailbox_base} on {backup.name}",
            f"  2. {probes_per_phase} probes by MX priority (expected: {primary.name} takes them)",
            f"  3. on {primary.name}: arm dead-man's switch (after {inventory.deadman_window:g}s: `{start}`), "
            f"record the heal in the pending-heals file, then run `{primary.service.stop}`",
            f"  4. {probes_per_phase} probes during the outage (expected: {backup.name} takes them); "
            f"read {backup.name}'s {backup.mail_log} and `postqueue -j`",
            f"  5. heal on {primary.name}: `{start}`; cancel the dead-man's switch; on {backup.name}: `postqueue -f`; "
            f"wait ≤ {inventory.drain_deadline:g}s for the drain",
            f"  6. {probes_per_phase} probes with {primary.name} back (expected: {primary.name} takes them)",
            f"  7. one mailbox scan per MX under {primary.mailbox_base}: each probe exactly once; "
            + ("keep the probes" if inventory.keep_probes else "then delete the probes"),
        ]
    lines.append(f"deadline for the whole run: {inventory.drill_deadline:g}s; every remote command: {inventory.command_timeout:g}s")
    return lines
