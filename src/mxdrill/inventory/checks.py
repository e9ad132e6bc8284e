"""The rules no single variable can break, only an inventory as a whole: they keep a drill from starting
on an inventory that types alone would accept.

A drill stops exactly one primary and expects a backup to take its mail, so there must be exactly one
primary (per mail domain: `domains` splits a fleet), at least one backup and no host in both roles;
senders try MXs by preference, so no backup may have a lower MX priority than its primary; the drill
tells MXs apart by address, so no two may share one; domain-wide settings are read from the primary,
so another host saying otherwise is a mistake;
and the timings must fit together, or the host's own dead-man's switch would restart the primary in
the middle of a drill that is still working (`check_timing` says how). Each rule raises an
InventoryError at the key the user has to change.
"""

import ipaddress
from dataclasses import dataclass

from mxdrill.inventory.ansible import ALL_CHILDREN, Layout, Var
from mxdrill.inventory.model import Host
from mxdrill.inventory.schema import DOMAIN_VARS, OPTIONAL_ROLES, ROLE_GROUPS, DomainVars, host_name_problem
from mxdrill.inventory.source import InventoryError, KeyPath, Source, describe, dotted


@dataclass
class Loaded:
    """One role host during loading: its model, its effective vars and where it is listed as an MX."""

    host: Host
    variables: dict[str, Var]
    listed: KeyPath
    inventory: Source  # where the host is listed

    def where(self, var: str) -> tuple[Source, KeyPath]:
        """The file and key path where `var` was set for this host, or where it should be set when it was not."""
        found = self.variables.get(var)
        return (found.source, found.key) if found else (self.inventory, (*self.listed, var))

    def error(self, var: str, message: str) -> InventoryError:
        source, key = self.where(var)
        return source.error(key, message)


# --- roles ------------------------------------------------------------------------------------------

def role_members(layout: Layout, source: Source) -> dict[str, dict[str, KeyPath]]:
    """Role group -> {host: where listed}, checked: some primaries, some backups, at most one of the rest.

    How many primaries is a question for each mail domain, so `domains.split_domains` asks it once
    the hosts' variables say which domain each MX serves.
    """
    roles = {group: layout.members(group) if group in layout.groups else {} for group in ROLE_GROUPS}
    _require_group(layout, source, "mxdrill_primary", "the primary MX (the one the drill stops)")
    _require_group(layout, source, "mxdrill_backup", "a backup MX (one that must take the mail)")
    for group in OPTIONAL_ROLES:
        at_most_one(roles[group], group, source)
    for primary in roles["mxdrill_primary"]:
        if primary in roles["mxdrill_backup"]:
            raise source.error(roles["mxdrill_backup"][primary],
                               f"{primary} is the primary already: a host is either primary or backup, not both")
    return roles


def _require_group(layout: Layout, source: Source, name: str, what: str) -> None:
    ini = source.syntax == "ini"
    if name not in layout.groups and ini:
        raise source.error((name,), f"missing: add a section [{name}] with {what} on a line of its own")
    if name not in layout.groups:
        raise source.error((*ALL_CHILDREN, name), f"missing: add a group {name} under all.children with {what} in its hosts")
    if not layout.members(name):
        where = f"[{name}]" if ini else dotted((*layout.groups[name].key, "hosts"))
        raise source.error(layout.groups[name].key, f"no host: add {what} under {where}")


def at_most_one(members: dict[str, KeyPath], group: str, source: Source) -> None:
    """A role one host plays (for the whole inventory, or for one domain): the second host listed is the mistake."""
    if len(members) > 1:
        first, second = list(members)[:2]
        raise source.error(members[second], f"{group} takes exactly one host and has {first} already")


# --- the MXs ----------------------------------------------------------------------------------------

def check_mx_priorities(primary: Loaded, backups: list[Loaded]) -> None:
    """Senders try the lowest MX priority first: a backup below its primary's would take the mail first. One at
    the primary's own priority shares the mail with it (seed 003 "Load Balancing avec Round-Robin DNS")."""
    for mx in (primary, *backups):
        if mx.host.mx_priority is None:
            raise mx.error("mxdrill_mx_priority",
                           "missing: every MX needs mxdrill_mx_priority, its MX preference in DNS (e.g. 10)")
    for backup in backups:
        if backup.host.mx_priority < primary.host.mx_priority:  # type: ignore[operator]
            raise backup.error(
                "mxdrill_mx_priority",
                f"a backup needs an MX priority no lower than the primary {primary.host.name}'s "
                f"({primary.host.mx_priority}), got {backup.host.mx_priority}: senders try the lowest first "
                "(the same priority shares the mail between them)",
            )


def _address_key(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower().removesuffix(".")


def check_distinct_addresses(mxs: list[Loaded], domains: dict[str, str] | None = None) -> None:
    """The drill tells the MXs apart by address; two MXs on one address cannot be told apart.

    In a fleet the rule spans every domain (one address cannot be two domains' MX in a drill either);
    `domains` (MX name -> its mail domain) lets the message say which domain the address belongs to.
    """
    owners: dict[str, str] = {}
    for mx in mxs:
        address = _address_key(mx.host.address)
        if address in owners:
            owner = owners[address]
            other = f" (an MX of {domains[owner]})" if domains and domains[owner] != domains[mx.host.name] else ""
            raise mx.error("ansible_host",
                           f"address {mx.host.address} is {owner}'s already{other}: each MX needs its own "
                           "(a shared virtual address goes in mxdrill_vip)")
        owners[address] = mx.host.name


ONCE_FOR_ALL = "set it once in all.vars (or group_vars/all.yml)"
"""Where a one-domain inventory sets its domain-wide variables."""


def check_domain_vars_agree(primary: Loaded, others: list[Loaded], advice: str = ONCE_FOR_ALL) -> None:
    """Domain-wide settings come from the primary: another host saying otherwise is a mistake.

    `advice` says where to set them instead: all.vars for one domain, the domain's group in a fleet.
    """
    for other in others:
        for name in sorted(DOMAIN_VARS & other.variables.keys()):
            mine, theirs = primary.variables.get(name), other.variables[name]
            if mine is None or mine.value != theirs.value:
                shown = describe(mine.value) if mine else "nothing"
                raise theirs.error(f"{name} is domain-wide and taken from the primary {primary.host.name}, "
                                   f"which has {shown}: {advice}")


# --- names ------------------------------------------------------------------------------------------

def check_host_names(members: dict[str, dict[str, KeyPath]], source: Source) -> None:
    """A role host's inventory name is what mxdrill connects to without ansible_host, and what its
    plans and reports show: it must be a host name or an address, not `mx1;touch x`."""
    for hosts in members.values():
        for name, key in hosts.items():
            problem = host_name_problem(name)
            if problem:
                raise source.error(key, problem)


# --- timing -----------------------------------------------------------------------------------------

WINDOW_MARGIN_SECONDS = 1.0
WINDOW_MARGIN_SHARE = 0.1


def window_needed(drain_deadline: float, settle: float) -> float:
    """The shortest dead-man's window that cannot fire while a working drill still has the primary
    down on purpose: see `check_timing`."""
    waited = drain_deadline + settle
    return waited + WINDOW_MARGIN_SECONDS + WINDOW_MARGIN_SHARE * waited


def check_timing(domain: DomainVars, primary: Loaded) -> None:
    """The dead-man's switch must not heal a drill that still works, and the drill deadline must let it finish.

    The switch is armed on the primary before its MTA is stopped and fires after
    mxdrill_deadman_window seconds unless the harness cancels it after its own heal. Between the two
    a working drill may wait up to mxdrill_mta_settle for the MTA to stop, then up to
    mxdrill_drain_deadline for the backup's log and queue to show the outage probes; the margin
    (1 s plus 10% of those waits) covers sending the probes and the SSH round trips around the waits.
    So the window must be longer than drain deadline + settle time + margin: shorter, and the host
    restarts the primary while the backup is being judged, and the drill fails for a fault of its own.

    The drill deadline must leave room for the whole outage and what follows it: the outage lasts at
    most the window (then the host heals itself), and the heal may wait up to the settle time for the
    MTA to start and up to the drain deadline for the drain. A shorter deadline would stop a working
    drill in the middle of its heal and report it as broken, so mxdrill_drill_deadline must be at
    least window + settle time + drain deadline.
    """
    window, drain, settle = domain.mxdrill_deadman_window, domain.mxdrill_drain_deadline, domain.mxdrill_mta_settle
    needed = window_needed(drain, settle)
    if window <= needed:
        raise _blame(primary, "mxdrill_deadman_window", "mxdrill_drain_deadline", "mxdrill_mta_settle").error(
            f"the dead-man's switch would restart the primary in the middle of a working drill: "
            f"mxdrill_deadman_window is {window:g}s, but with the primary down the drill may wait {settle:g}s "
            f"(mxdrill_mta_settle) for the MTA to stop and {drain:g}s (mxdrill_drain_deadline) for the backup, "
            f"plus {needed - settle - drain:g}s margin; set mxdrill_deadman_window above {needed:g}, "
            "or lower mxdrill_drain_deadline")
    deadline = domain.mxdrill_drill_deadline
    if deadline < window + settle + drain:
        raise _blame(primary, "mxdrill_drill_deadline", "mxdrill_deadman_window", "mxdrill_mta_settle",
                     "mxdrill_drain_deadline").error(
            f"mxdrill_drill_deadline {deadline:g}s leaves no room for the whole outage: it may last "
            f"{window:g}s (mxdrill_deadman_window), then the heal waits up to {settle:g}s (mxdrill_mta_settle) "
            f"and the drain up to {drain:g}s (mxdrill_drain_deadline); set mxdrill_drill_deadline to at least "
            f"{window + settle + drain:g}")


def _blame(primary: Loaded, *names: str) -> Var:
    """The first of `names` the inventory sets (the one the user chose), else where the first would go."""
    for name in names:
        if name in primary.variables:
            return primary.variables[name]
    source, key = primary.where(names[0])
    return Var(None, key, source)
