"""What one drill exercises: which primary fails, which backup must take over, and how.

A sender tries the MXs in preference order, so a backup takes mail only when every MX preferred
over it is unreachable. The drill of (primary, second backup) therefore takes down the primary
*and* the first backup: with MX 10, 20 and 30, `mx1->mx3` proves mx3 takes the mail when mx1 and
mx2 are both gone, exactly as a real sender would find it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mxdrill.faults.modes import DEFAULT_MODES, FIRST_BACKUP_ONLY, MODES, TAKES_DOWN
from mxdrill.inventory import Host, Inventory


@dataclass(frozen=True)
class Scenario:
    primary: Host
    backup: Host
    fault: str
    down: tuple[Host, ...]  # every host the fault takes down: the primary, then the backups preferred over `backup`
    domain: str = ""  # the mail domain whose MXs these are (a fleet drills each of its domains)

    @property
    def id(self) -> str:
        return f"{self.primary.name}->{self.backup.name}:{self.fault}"


def scenarios(inventory: Inventory, modes: tuple[str, ...] = DEFAULT_MODES) -> list[Scenario]:
    """One scenario per backup and fault mode, backups in the order senders try them.

    `vip` is drilled once per domain that declares a VIP, with the first backup: VRRP moves the address
    between the primary and it, and taking more hosts down would not move it anywhere else. `mailstore`
    is drilled once per domain that declares a mail store: it takes that host down, and both MXs queue;
    `userdb` once per domain that declares its user database: it takes that host down.
    """
    found = []
    for index, backup in enumerate(inventory.backups):
        down = (inventory.primary, *inventory.backups[:index])
        for mode in modes:
            if mode in TAKES_DOWN:
                target = getattr(inventory, TAKES_DOWN[mode])  # inventory.mailstore, inventory.userdb
                if index == 0 and target is not None:
                    found.append(Scenario(inventory.primary, backup, mode, (target,), inventory.domain))
            elif mode not in FIRST_BACKUP_ONLY or (index == 0 and inventory.vip is not None):
                found.append(Scenario(inventory.primary, backup, mode, down, inventory.domain))
    return found + peer_scenarios(inventory, modes)


def peer_scenarios(inventory: Inventory, modes: tuple[str, ...]) -> list[Scenario]:
    """MXs at the primary's own priority share the mail, so either may be the one lost: the drill also takes
    each such peer down with the primary as its backup. Not `vip` (VRRP's MASTER is the primary) and not the
    modes that take down another host than an MX."""
    return [Scenario(peer, inventory.primary, mode, (peer,), inventory.domain)
            for peer in inventory.peers[1:] for mode in modes if mode not in FIRST_BACKUP_ONLY]


def fleet_scenarios(domains: list[Inventory], modes: tuple[str, ...] = DEFAULT_MODES) -> list[Scenario]:
    """Every domain's scenarios, domain after domain."""
    return [scenario for inventory in domains for scenario in scenarios(inventory, modes)]


def parse_modes(text: str, where: str) -> tuple[str, ...]:
    """`stop,kill,reject` as fault modes, in order, each once; ValueError naming the unknown one and the known."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise ValueError(f"{where}: unknown fault mode {unknown[0]!r}" if unknown else f"{where}: no fault mode given")
    return names
