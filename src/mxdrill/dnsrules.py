"""The seeds' rules for a domain's MX records, as pure functions of what DNS answered.

Seeds 000-002 ("Erreurs courantes") list what goes wrong with MX setups; each rule here names the
cause, the evidence and the fix instead of one "published ≠ declared" line. They read a `DnsView`
(gathered once by `dnscheck.view`), so each is tested on recorded answers without a nameserver.
An **error** blocks the drill's disruptive steps; a **warning** is reported and does not.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from mxdrill.finding import Finding, problem

MIN_MX_TTL = 3600  # seed 003: the MX TTL a sender caches; lower makes every outage a DNS storm


@dataclass(frozen=True)
class MxAnswer:
    """One published MX record and what its target resolves to."""

    preference: int
    target: str  # without the trailing dot
    ttl: int
    cname: str | None = None  # the target is an alias of this name
    addresses: tuple[str, ...] = ()  # A and AAAA of the target (after any alias)


@dataclass(frozen=True)
class DnsView:
    """What the declared nameserver said about the domain's MXs."""

    domain: str
    mxs: tuple[MxAnswer, ...]
    wildcard_mx: bool = False  # a random name under the domain has MX records too
    ptrs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # MX address -> its PTR names
    forward: dict[str, tuple[str, ...]] = field(default_factory=dict)  # PTR name -> its addresses
    spf: str | None = None  # the domain's `v=spf1` TXT record, if it publishes one
    domain_addresses: tuple[str, ...] = ()  # A and AAAA of the domain itself (SPF's `a`)


@dataclass(frozen=True)
class DeclaredMx:
    name: str
    priority: int | None
    address: str


def is_address(target: str) -> bool:
    try:
        ipaddress.ip_address(target)
    except ValueError:
        return False
    return True


def target_shape(view: DnsView) -> list[Finding]:
    """An MX must name a host with its own A/AAAA records: not an IP address, not an alias (RFC 2181 §10.3)."""
    found = []
    for mx in view.mxs:
        record = f"MX {mx.preference} {mx.target}"
        if is_address(mx.target):
            found.append(problem("dns-mx-target", mx.target, f"{record} is an IP address, not a host name: senders look it up as a name and fail",
                                 f"publish `MX {mx.preference} <host name>.` with an A record for {mx.target}"))
        elif mx.cname is not None:
            found.append(problem("dns-mx-target", mx.target,
                                 f"{record} is a CNAME to {mx.cname} (RFC 2181 §10.3 forbids it; some senders refuse it)",
                                 f"publish `MX {mx.preference} {mx.cname}.` instead"))
        elif not mx.addresses:
            found.append(problem("dns-mx-target", mx.target, f"{record} has no A or AAAA record: no sender can reach it",
                                 "add its address to the zone"))
    return found


def against_inventory(view: DnsView, declared: list[DeclaredMx]) -> list[Finding]:
    """Each published MX is a declared one with the declared priority, and each declared MX is published."""
    by_name = {d.name: d for d in declared}
    by_address = {d.address: d for d in declared}
    found, seen = [], set()
    for mx in view.mxs:
        host = by_name.get(mx.target) or next((by_address[a] for a in mx.addresses if a in by_address), None)
        if host is None:
            found.append(problem("dns-mx-undeclared", mx.target,
                                 f"MX {mx.preference} {mx.target} is published but not in the inventory: split reception "
                                 "(an old MX left after a migration takes part of the mail)",
                                 "remove it from the zone, or declare it in mxdrill_backup"))
            continue
        seen.add(host.name)
        if host.priority is not None and host.priority != mx.preference:
            found.append(problem("dns-mx-priority", host.name,
                                 f"{host.name} is published as MX {mx.preference} but declared with mxdrill_mx_priority {host.priority}",
                                 "fix the zone or the inventory so they agree"))
    for host in declared:
        if host.name not in seen:
            published = ", ".join(f"{m.preference} {m.target}" for m in view.mxs) or "none"
            found.append(problem("dns-mx-missing", host.name,
                                 f"{host.name} is declared but {view.domain} publishes no MX for it (published: {published})",
                                 f"publish `MX {host.priority} {host.name}.`"))
    return found


def priorities(view: DnsView, declared: list[DeclaredMx] | None = None) -> list[Finding]:
    """A primary and a backup of equal preference are tried at random, not in order (seed 002): an error,
    unless the inventory declares those very MXs at that priority — then the sharing is meant (seed 003's
    round-robin), and the drill measures it instead."""
    meant = {d.name for d in declared or [] if d.priority is not None}
    priority_of = {d.name: d.priority for d in declared or []}
    by_preference: dict[int, list[str]] = {}
    for mx in view.mxs:
        by_preference.setdefault(mx.preference, []).append(mx.target)
    return [problem("dns-mx-equal-priority", ",".join(names),
                    f"{' and '.join(names)} share MX preference {preference}: senders pick one at random, so the "
                    "backup takes mail while the primary is up", "give the backup a higher number, or declare both "
                    f"with mxdrill_mx_priority {preference} if they are meant to share the mail")
            for preference, names in sorted(by_preference.items())
            if len(names) > 1 and not all(n in meant and priority_of[n] == preference for n in names)]


def ttl(view: DnsView, minimum: int = MIN_MX_TTL) -> list[Finding]:
    low = sorted({mx.ttl for mx in view.mxs if mx.ttl < minimum})
    if not low:
        return []
    return [problem("dns-mx-ttl", view.domain,
                    f"the MX records of {view.domain} have TTL {low[0]}s, below {minimum}s (seed 003): every change "
                    "and outage sends senders back to DNS", f"raise the TTL to {minimum} (or set mxdrill_min_mx_ttl)", "warning")]


def wildcard(view: DnsView) -> list[Finding]:
    if not view.wildcard_mx:
        return []
    return [problem("dns-mx-wildcard", view.domain,
                    f"*.{view.domain} has MX records: mail for any mistyped subdomain is accepted and queued",
                    "remove the wildcard MX unless you mean it", "warning")]


def reverse(view: DnsView) -> list[Finding]:
    """Each MX address has a PTR whose name points back at it (forward-confirmed): receivers check it."""
    found = []
    for mx in view.mxs:
        for address in mx.addresses:
            names = view.ptrs.get(address, ())
            confirmed = [n for n in names if address in view.forward.get(n, ())]
            if not names:
                found.append(problem("dns-ptr", mx.target, f"{address} ({mx.target}) has no PTR record: many receivers distrust mail from it",
                                     f"add `PTR {mx.target}.` in its reverse zone", "warning"))
            elif not confirmed:
                found.append(problem("dns-ptr", mx.target,
                                     f"{address} ({mx.target}) has PTR {', '.join(names)}, which does not resolve back to {address}",
                                     f"make the PTR name's A record {address}", "warning"))
    return found


def _in_spf(address: str, terms: list[str], view: DnsView, mx_addresses: set[str]) -> bool | None:
    """SPF's own order (RFC 7208 §4.6.2): the first mechanism that matches `address` decides, `+` passes,
    any other qualifier does not; nothing matching does not pass. None when evaluation reaches what
    only a full SPF check could follow (include:, exists:, a:/mx:/ptr of other names, redirect=)."""
    for term in terms:
        qualifier, mechanism = (term[0], term[1:]) if term[:1] in "+-~?" else ("+", term)
        name, _, value = mechanism.partition(":")
        name = name.split("/")[0].lower()
        if name in ("include", "exists", "ptr") or (name in ("a", "mx") and value):
            return None
        if "=" in name:  # a modifier (redirect=, exp=): redirect applies only if nothing matched
            continue
        matched = ((name == "mx" and address in mx_addresses) or (name == "a" and address in view.domain_addresses)
                   or name == "all" or (name in ("ip4", "ip6") and _in_network(address, value)))
        if matched:
            return qualifier == "+"
    return None if any(t.lower().startswith("redirect=") for t in terms) else False


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def spf(view: DnsView) -> list[Finding]:
    """The MXs send mail as the domain too (a backup's bounces, forwards): where the domain publishes SPF,
    each MX's addresses must pass it; `mx` in the record covers them all (seed 001)."""
    if not view.spf:
        return []
    terms = view.spf.split()[1:]
    mx_addresses = {a for mx in view.mxs for a in mx.addresses}
    found = []
    for mx in view.mxs:
        uncovered = [a for a in mx.addresses if _in_spf(a, terms, view, mx_addresses) is False]
        if uncovered:
            found.append(problem("dns-spf", mx.target,
                                 f"the SPF record of {view.domain} (`{view.spf}`) does not cover {mx.target} ({', '.join(uncovered)}): "
                                 "mail it sends as the domain (bounces, forwards) fails SPF at receivers",
                                 "add `mx` to the record (it covers every MX)", "warning"))
    return found


def spf_judged(view: DnsView) -> bool:
    """Whether every MX address's SPF result could be told here (no include:/redirect= reached)."""
    terms = (view.spf or "").split()[1:]
    mx_addresses = {a for mx in view.mxs for a in mx.addresses}
    return all(_in_spf(a, terms, view, mx_addresses) is not None for a in mx_addresses)


def findings(view: DnsView, declared: list[DeclaredMx], min_ttl: int = MIN_MX_TTL) -> list[Finding]:
    """Every rule over the view, in the order a postmaster would fix them (the shape of the records first)."""
    return [*target_shape(view), *against_inventory(view, declared), *priorities(view, declared), *ttl(view, min_ttl), *wildcard(view),
            *reverse(view), *spf(view)]
