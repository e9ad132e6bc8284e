"""`--dry-run`: the drill's plan — which command runs on which host, in what order, with which heal.

Written from the table of steps (one numbered line per step that acts; a step that only reads
what the line before it produced has none), for every scenario. Built from the inventory alone:
nothing is resolved, connected to or sent.
"""

from __future__ import annotations

from mxdrill.faults.modes import DEFAULT_MODES
from mxdrill.inventory import Inventory
from mxdrill.load import LoadSettings
from mxdrill.mailhost import mail_hosts, support_hosts
from mxdrill.remote import Sessions
from mxdrill.scenario import scenarios
from mxdrill.steps import STEPS, PlanContext


def plan_lines(inventory: Inventory, probes_per_phase: int, modes: tuple[str, ...] = DEFAULT_MODES,
               load: LoadSettings | None = None) -> list[str]:
    sessions = Sessions(inventory.command_timeout)
    hosts = mail_hosts(inventory, sessions, detect=False)  # never connected
    support = support_hosts(inventory, sessions)
    lines = [f"mxdrill plan for {inventory.path} (domain {inventory.domain}); nothing below has been run"]
    for number, scenario in enumerate(scenarios(inventory, modes), 1):
        context = PlanContext(inventory, scenario, probes_per_phase, hosts, load, support)
        lines.append(f"drill {number}: {scenario.id}")
        acting = [step for step in STEPS if step.plan is not None]
        lines += [f"  {n}. {step.plan(context)}" for n, step in enumerate(acting, 1)]  # type: ignore[misc]
    lines.append(f"deadline for the whole run: {inventory.drill_deadline:g}s; every remote command: {inventory.command_timeout:g}s")
    return lines
