"""The path a delivered message took, read from its `Received:` headers (RFC 5321 §4.4).

Each MTA that takes a message prepends one `Received:` header, so read bottom-up the headers are
the hops in order: the sender's MTA, the MX that took it, the mail store's Postfix, its LMTP
delivery. The Dovecot store records them with each copy it finds (`route` in the history's
`probe.found`), so the mailbox itself says which MX took each probe and that it was relayed to the
store; the MXs' logs say the same from the other end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FROM = re.compile(r"^\s*from\s+(?P<helo>\S+)(?:\s+\((?P<info>[^()]*)\))?", re.IGNORECASE)
_BY = re.compile(r"\bby\s+(?P<by>[A-Za-z0-9.-]+)", re.IGNORECASE)
_WITH = re.compile(r"\bwith\s+(?P<with>[A-Za-z0-9]+)", re.IGNORECASE)
_ADDRESS = re.compile(r"\[(?:IPv6:)?(?P<address>[0-9A-Fa-f:.]+)\]")
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Hop:
    """One `Received:` header: who handed the message over (`from`, as it named itself and as the
    receiver saw it), who took it (`by`) and how (`with`: SMTP, ESMTPS, ESMTPSA, LMTP...)."""

    by: str
    from_name: str = ""
    from_address: str = ""
    with_protocol: str = ""

    @property
    def authenticated(self) -> bool:
        """ESMTPA / ESMTPSA (RFC 3848): the client authenticated (the MX's SASL login to the store)."""
        return self.with_protocol.upper().endswith("A") and self.with_protocol.upper().startswith("ESMTP")

    @property
    def encrypted(self) -> bool:
        """ESMTPS / ESMTPSA / LMTPS (RFC 3848): the hop ran over TLS."""
        return self.with_protocol.upper() in ("ESMTPS", "ESMTPSA", "LMTPS", "LMTPSA")


def split_headers(text: str) -> list[str]:
    """Several `Received:` values joined by newlines (as `doveadm fetch hdr.received` prints them), each
    unfolded: a line that starts with white space continues the header before it."""
    headers: list[str] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and headers:
            headers[-1] += " " + line.strip()
        elif line.strip():
            headers.append(line.strip())
    return headers


def without_comments(text: str) -> str:
    """`text` with its (possibly nested) comments removed: Postfix nests `(256/256 bits)` in its TLS comment."""
    while True:
        stripped = _COMMENT.sub(" ", text)
        if stripped == text:
            return text
        text = stripped


def parse_hop(header: str) -> Hop | None:
    """One unfolded `Received:` value as a hop, or None when it names no receiving host."""
    header = header.split(";", 1)[0]  # the date
    bare = without_comments(header)
    by = _BY.search(bare)
    if by is None:
        return None
    found = _FROM.match(header)
    from_name = found.group("helo") if found else ""
    info = (found.group("info") or "") if found else ""
    address = _ADDRESS.search(info)
    reverse = info.split()[0] if info.split() and not info.startswith("[") else ""
    protocol = _WITH.search(bare)
    return Hop(by.group("by").lower(), (reverse or from_name).lower(), address.group("address") if address else "",
               protocol.group("with") if protocol else "")


def route(received: str) -> list[Hop]:
    """The hops of a message, first to last (the `Received:` headers bottom-up)."""
    hops = (parse_hop(header) for header in reversed(split_headers(received)))
    return [hop for hop in hops if hop is not None]


def hosts_passed(received: str) -> list[str]:
    """The hosts that took the message, first to last, each once (a host's LMTP hop to itself is not a new host)."""
    passed: list[str] = []
    for hop in route(received):
        if not passed or passed[-1] != hop.by:
            passed.append(hop.by)
    return passed
