"""DNS as a sender sees it: the domain's MX records, asked of the declared nameserver (dnspython)."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver


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
