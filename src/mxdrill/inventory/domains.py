"""One inventory, many mail domains (a fleet): which primary and which backups serve which domain.

The Ansible way to say which domain a host serves is a variable, so an MX's domain is its effective
mxdrill_domain, merged like any other (all.vars < parent groups < child groups < host vars, the
group_vars/ and host_vars/ files included). A fleet lists every primary in mxdrill_primary and every
backup in mxdrill_backup, and sets mxdrill_domain (with mxdrill_recipients and whatever else differs)
in the vars of one group per domain. Storage, DNS and sender serve every domain.

An inventory whose primaries all serve one domain is a one-domain inventory, and every rule keeps the
words it had before fleets: a second primary is one host too many for mxdrill_primary, and a backup
naming another domain breaks a domain-wide variable. Once the primaries serve several domains, each
domain needs exactly one primary and some backups, every backup a domain that has a primary, and the
messages say where the domain was set, since in a fleet that is the line the user has to change.
"""

from dataclasses import dataclass, field

from mxdrill.inventory.ansible import ALL_VARS, Layout
from mxdrill.inventory.checks import (
    Loaded,
    at_most_one,
    check_distinct_addresses,
    check_domain_vars_agree,
    check_mx_priorities,
    check_timing,
)
from mxdrill.inventory.schema import RECIPIENTS_HINT, DomainVars, validate
from mxdrill.inventory.source import dotted


@dataclass
class Domain:
    """One mail domain during loading: its primary, the settings read from it, and its backups."""

    primary: Loaded
    settings: DomainVars
    backups: list[Loaded] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.settings.mxdrill_domain

    @property
    def mxs(self) -> list[Loaded]:
        return [self.primary, *self.backups]


def domain_key(mx: Loaded) -> str | None:
    """The mail domain an MX serves, compared as DNS names compare (case, final dot), from its
    effective mxdrill_domain as written: hosts are grouped before a primary's value is validated."""
    var = mx.variables.get("mxdrill_domain")
    if var is None:
        return None
    return var.value.lower().removesuffix(".") if isinstance(var.value, str) else repr(var.value)


def set_at(mx: Loaded, var: str = "mxdrill_domain") -> str:
    """Where `var` was set for this MX, as a message quotes it: `hosts.yml:30 all.children.example2.vars.mxdrill_domain`."""
    source, key = mx.where(var)
    line = source.line(key)
    return f"{source.name}{f':{line}' if line else ''} {dotted(key)}"


# --- splitting -------------------------------------------------------------------------------------

def split_domains(primaries: list[Loaded], backups: list[Loaded]) -> list[Domain]:
    """The domains in the primaries' order, each with its one primary, its settings and its backups."""
    by_key: dict[str | None, list[Loaded]] = {}
    for primary in primaries:
        by_key.setdefault(domain_key(primary), []).append(primary)
    fleet = len(by_key) > 1
    for same in by_key.values():
        _one_primary(same, fleet)
    domains = {key: Domain(same[0], _settings(same[0], fleet)) for key, same in by_key.items()}
    for backup in backups:
        _home(backup, domains, fleet).backups.append(backup)
    if fleet:
        for domain in domains.values():
            _require_backup(domain)
    return list(domains.values())


def _one_primary(primaries: list[Loaded], fleet: bool) -> None:
    """A drill stops the one primary of its domain: a second one would be an MX no drill takes down."""
    first, *others = primaries
    if not others:
        return
    if not fleet:  # the words of a one-domain inventory
        at_most_one({p.host.name: p.listed for p in primaries}, "mxdrill_primary", first.inventory)
    second = others[0]
    raise second.inventory.error(
        second.listed,
        f"mxdrill_primary takes one host per mail domain and has {first.host.name} for {domain_key(first)} "
        f"already (this host's mxdrill_domain is set at {set_at(second)}): list {second.host.name} in "
        "mxdrill_backup, or in a group of its own domain that sets mxdrill_domain")


def _settings(primary: Loaded, fleet: bool) -> DomainVars:
    """The domain's variables, read from its primary. In a fleet, a recipient outside the domain most
    often comes from all.vars, inherited by a domain group that sets mxdrill_domain alone: say where."""
    hint = {RECIPIENTS_HINT: f" (mxdrill_domain is set at {set_at(primary)}: set this domain's "
                             "mxdrill_recipients there too)"}
    return validate(DomainVars, primary.variables, primary.inventory, ALL_VARS, hint if fleet else None)


def _home(backup: Loaded, domains: dict[str | None, Domain], fleet: bool) -> Domain:
    """The domain a backup serves: its own mxdrill_domain's in a fleet; else the only one (where
    check_domain_vars_agree refuses a backup naming another domain, in the words it always had)."""
    if not fleet:
        return next(iter(domains.values()))
    key = domain_key(backup)
    if key in domains:
        return domains[key]
    known = ", ".join(domain.name for domain in domains.values())
    if key is None:
        raise backup.error("mxdrill_domain", f"backup {backup.host.name} has no mxdrill_domain and the fleet's domains "
                                             f"are {known}: list it in the group of its domain")
    raise backup.error("mxdrill_domain",
                       f"backup {backup.host.name} serves mail domain {key}, which has no primary (the fleet's domains: "
                       f"{known}): list it in the group of one of these instead, or add {key}'s primary to mxdrill_primary")


def _require_backup(domain: Domain) -> None:
    """Each domain's drill needs a backup to take the mail while its primary is down."""
    if not domain.backups:
        raise domain.primary.error(
            "mxdrill_domain",
            f"mail domain {domain.name} has a primary ({domain.primary.host.name}) but no backup: list a backup "
            "MX (one that must take the mail) in mxdrill_backup and give it this mxdrill_domain")


# --- the rules, per domain ---------------------------------------------------------------------------

def check_domains(domains: list[Domain], hosts: list[Loaded]) -> None:
    """The rules across hosts for each domain, and the one that spans the fleet: distinct MX addresses.

    In a one-domain inventory every other role host must agree with the primary on the domain-wide
    variables; in a fleet only the domain's backups must, since storage, DNS and sender serve every
    domain and cannot agree with each primary (their domain-wide variables are not read).
    """
    fleet = len(domains) > 1
    for domain in domains:
        if fleet:
            check_domain_vars_agree(domain.primary, domain.backups,
                                    f"set it once where {domain.name}'s mxdrill_domain is set ({set_at(domain.primary)})")
        else:
            check_domain_vars_agree(domain.primary, [h for h in hosts if h is not domain.primary])
        check_mx_priorities(domain.primary, domain.backups)
    check_distinct_addresses([mx for domain in domains for mx in domain.mxs],
                             {mx.host.name: domain.name for domain in domains for mx in domain.mxs})
    for domain in domains:
        check_timing(domain.settings, domain.primary)


def check_domain_not_shadowed(layout: Layout, primaries: list[Loaded]) -> None:
    """A domain group's mxdrill_domain written in the inventory gives way to group_vars/all's: Ansible
    ranks every group_vars file above every group's inline vars. Its MXs would silently join the
    default domain, and the fleet would read as one domain with many primaries; say so at the group."""
    shadowing = layout.groups["all"].file_vars.get("mxdrill_domain")
    for primary in primaries:
        if shadowing is None or primary.variables.get("mxdrill_domain") is not shadowing:
            continue
        for group in layout.ancestry(layout.hosts[primary.host.name]):
            inline = group.vars.get("mxdrill_domain")
            if group.name != "all" and inline is not None and inline.value != shadowing.value:
                raise inline.error(
                    f"{shadowing.source.name} sets mxdrill_domain for {primary.host.name} over this (Ansible ranks "
                    f"group_vars/all above a group's vars in the inventory): move this group's vars to "
                    f"group_vars/{group.name}.yml, or mxdrill_domain from group_vars/all to all.vars")
