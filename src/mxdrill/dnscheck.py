"""DNS as a sender sees it: the domain's MX records, asked of the declared nameserver (dnspython)."""

from __future__ import annotations

from dataclasses import dataclass

import secrets

import dns.exception
import dns.resolver
import dns.reversename

from mxdrill.dnsrules import DnsView, MxAnswer, is_address


class DnsError(Exception):
    """The declared nameserver did not answer the question; the message names the server and the name."""


@dataclass(frozen=True)
class MxRecord:
    preference: int
    exchange: str  # without the trailing dot


def resolver_for(nameserver: str | None, timeout: float) -> dns.resolver.Resolver:
    """The declared nameserver only (no fallback to /etc/resolv.conf), or the system resolver if none is declared."""
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver]
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def _server(nameserver: str | None) -> str:
    return nameserver or "the system resolver"


def mx_records(domain: str, nameserver: str | None, timeout: float = 3.0) -> list[MxRecord]:
    """The domain's MX records, lowest preference first (the order a sending MTA tries them)."""
    try:
        answer = resolver_for(nameserver, timeout).resolve(domain, "MX")
    except (dns.exception.DNSException, OSError) as error:
        raise DnsError(f"MX lookup of {domain} at {_server(nameserver)} failed: {error}") from None
    records = [MxRecord(r.preference, str(r.exchange).rstrip(".")) for r in answer]
    return sorted(records, key=lambda r: (r.preference, r.exchange))


def addresses(name: str, nameserver: str | None, timeout: float = 3.0) -> list[str]:
    """A records of an MX name (the lab and the seeds are IPv4)."""
    try:
        answer = resolver_for(nameserver, timeout).resolve(name, "A")
    except (dns.exception.DNSException, OSError) as error:
        raise DnsError(f"A lookup of {name} at {_server(nameserver)} failed: {error}") from None
    return sorted(r.address for r in answer)


def _answers(resolver: dns.resolver.Resolver, name: str, kind: str) -> list[str]:
    """The records of one type at a name; none (not an error) when the name or the type is absent."""
    try:
        return [r.to_text() for r in resolver.resolve(name, kind)]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as error:
        raise DnsError(f"{kind} lookup of {name} failed: {error}") from None


def view(domain: str, nameserver: str | None, timeout: float = 3.0) -> DnsView:
    """Everything the MX rules read, asked of the declared nameserver: the MX records with their TTL,
    each target's alias and addresses, each address's PTR and each PTR name's addresses."""
    resolver = resolver_for(nameserver, timeout)
    try:
        answer = resolver.resolve(domain, "MX")
    except (dns.exception.DNSException, OSError) as error:
        raise DnsError(f"MX lookup of {domain} at {_server(nameserver)} failed: {error}") from None
    mxs = []
    for record in sorted(answer, key=lambda r: (r.preference, str(r.exchange))):
        target = str(record.exchange).rstrip(".")
        cname = None if is_address(target) else next(iter(_answers(resolver, target, "CNAME")), None)
        found = () if is_address(target) else tuple(_answers(resolver, target, "A") + _answers(resolver, target, "AAAA"))
        mxs.append(MxAnswer(record.preference, target, answer.rrset.ttl, cname.rstrip(".") if cname else None, found))
    ptrs = {a: tuple(n.rstrip(".") for n in _answers(resolver, dns.reversename.from_address(a).to_text(), "PTR"))
            for mx in mxs for a in mx.addresses}
    forward = {n: tuple(_answers(resolver, n, "A") + _answers(resolver, n, "AAAA")) for names in ptrs.values() for n in names}
    wildcard = bool(_answers(resolver, f"mxdrill-wildcard-check-{secrets.token_hex(4)}.{domain}", "MX"))
    spf = next((t for t in (_txt(r) for r in _answers(resolver, domain, "TXT")) if t.lower().startswith("v=spf1")), None)
    own = tuple(_answers(resolver, domain, "A") + _answers(resolver, domain, "AAAA"))
    return DnsView(domain, tuple(mxs), wildcard, ptrs, forward, spf, own)


def _txt(record: str) -> str:
    """A TXT record's text: its quoted strings joined (an SPF record may be split into several)."""
    return "".join(part.strip('"') for part in record.split('" "')) if record.startswith('"') else record


def addresses_of(name: str, nameserver: str | None, timeout: float = 3.0) -> list[str]:
    """Every A and AAAA of a name: a sender may try any of them, so each must answer."""
    resolver = resolver_for(nameserver, timeout)
    return _answers(resolver, name, "A") + _answers(resolver, name, "AAAA")
