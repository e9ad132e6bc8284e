"""What a sender meets at each MX, judged: every address answers, the MX names itself, TLS is offered
everywhere it is offered anywhere, with a certificate a verifying sender accepts, and the backup
takes mail as large as the primary does.

Pure functions of recorded `Greeting`s (see `greeting.greet`), so each rule is tested without a server.
"""

from __future__ import annotations

import time

from mxdrill.finding import Finding, problem
from mxdrill.greeting import Greeting
from mxdrill.smtp import HARNESS_HELO

DAY = 86400.0
HELO_SHOWN = f"(EHLO {HARNESS_HELO})"


def every_address_answers(mx: str, greetings: list[Greeting]) -> list[Finding]:
    """Every A and AAAA of the MX name answers 220: a sender tries them in turn, and a dead address
    (often the IPv6 side of a dual-stack MX) makes it wait for a timeout on every message."""
    found = []
    for g in greetings:
        if g.answered:
            found.append(Finding("smtp-every-address", mx, True, f"{g.address}:25 said 220 {g.banner}"))
        elif g.unreachable:
            found.append(problem("smtp-every-address", mx, f"{mx}'s address {g.address} could not be checked: this machine has "
                                                           f"no route to it ({g.banner})",
                                 "run the harness where that address family is routed, to prove it", "warning"))
        else:
            said = f"said {g.code} {g.banner}" if g.code is not None else f"did not answer ({g.banner})"
            found.append(problem("smtp-every-address", mx,
                                 f"{mx} resolves to {g.address}, which {said}: senders that pick it wait or fail on every message",
                                 f"make the MTA listen on {g.address} (Postfix: inet_interfaces, inet_protocols = all) "
                                 f"or remove that address from {mx}'s records"))
    return found


def names_itself(mx: str, greeting: Greeting, name: str | None = None) -> list[Finding]:
    """The 220 banner and the EHLO reply give the MX's own name (`name`, as DNS publishes it; RFC 5321
    §4.1.1.1): receivers and people reading logs match it against DNS. A mismatch is a warning; an
    EHLO refused is an error (no sender gets further)."""
    name = name or mx
    if not greeting.answered:
        return []  # every_address_answers names it
    if greeting.ehlo_error is not None:
        return [problem("smtp-greeting", mx, f"{mx} greeted with 220 but broke off EHLO {HELO_SHOWN}: {greeting.ehlo_error}",
                        f"look at {mx}'s mail log for that session (smtpd_helo_restrictions, a client limit)")]
    banner_name = greeting.banner.split(" ")[0]
    names = {banner_name.lower(), greeting.ehlo_name.lower()}
    extensions = " ".join(sorted(greeting.extensions)) or "none"
    if names == {name.lower()}:
        return [Finding("smtp-greeting", mx, True, f"220 {greeting.banner}; EHLO {greeting.ehlo_name}: {extensions}")]
    return [problem("smtp-greeting", mx,
                    f"{mx} greets as `220 {greeting.banner}` and says EHLO `{greeting.ehlo_name}`, not its MX name {name}",
                    f"set myhostname = {name} (Postfix), or publish the MX under the name the host gives", "warning")]


def tls(mx: str, greeting: Greeting, offered_by: list[str], min_days: int, now: float | None = None,
        name: str | None = None) -> list[Finding]:
    """STARTTLS on every MX if on any (a sender that enforces TLS, by MTA-STS or DANE, defers mail to the
    MX without it); the certificate valid for the MX name, chained to the declared CA, not expiring soon.

    Warnings, all of them: most senders use TLS opportunistically and unverified (Postfix's default),
    so the mail still flows and the failover drill stays meaningful; the postmaster is told what a
    verifying sender would refuse."""
    name = name or mx
    if not greeting.answered or greeting.ehlo_error is not None:
        return []
    if not greeting.starttls:
        others = [name for name in offered_by if name != mx]
        if others:
            return [problem("smtp-tls", mx, f"{mx} offers no STARTTLS while {', '.join(others)} do: senders that require TLS "
                                            "(MTA-STS, DANE) defer the mail it should take, and the others send it in clear",
                            f"enable STARTTLS on {mx} (Postfix: smtpd_tls_cert_file, smtpd_tls_key_file, smtpd_tls_security_level = may)",
                            "warning")]
        return [problem("smtp-tls", mx, f"no MX of the domain offers STARTTLS: mail to it crosses the network in clear",
                        "give every MX a certificate and smtpd_tls_security_level = may", "warning")]
    cert = greeting.certificate
    shown = (f"certificate for {', '.join(cert.names) or cert.subject} issued by {cert.issuer}, valid until "
             f"{time.strftime('%Y-%m-%d', time.gmtime(cert.not_after))}") if cert else "no certificate seen"
    if greeting.tls_error is not None:
        return [problem("smtp-tls", mx, f"STARTTLS on {mx} fails verification for {name} ({greeting.tls_error}); {shown}",
                        f"install a certificate for {name}, chained to the CA in mxdrill_tls_ca (or a public CA), with its intermediates",
                        "warning")]
    days = (cert.not_after - (time.time() if now is None else now)) / DAY if cert else None
    if days is not None and days < min_days:
        return [problem("smtp-tls", mx, f"the certificate of {mx} expires in {days:.0f} days (under mxdrill_cert_min_days = {min_days}); {shown}",
                        f"renew the certificate of {mx} now", "warning")]
    return [Finding("smtp-tls", mx, True, f"STARTTLS {greeting.tls_version or ''}, {shown}".replace("  ", " "))]


def size_limit(mx: str, greeting: Greeting, primary: str, primary_greeting: Greeting | None) -> list[Finding]:
    """A backup taking smaller messages than the primary refuses, while the primary is down, mail the
    primary would have taken: the senders bounce it (seed 003: "configuration identique")."""
    if not greeting.answered or greeting.ehlo_error is not None:
        return []
    size = greeting.size
    said = "no SIZE" if size is None else "SIZE 0 (no limit)" if size == 0 else f"SIZE {size}"
    theirs = primary_greeting.size if primary_greeting is not None and primary_greeting.answered else None
    smaller = theirs is not None and size is not None and size > 0 and (theirs == 0 or size < theirs)
    if mx == primary or not smaller:
        return [Finding("smtp-size", mx, True, f"{mx} advertises {said}")]
    return [problem("smtp-size", mx, f"{mx} advertises SIZE {size}, {primary} SIZE {theirs or 'no limit'}: while {primary} is down, "
                                     f"mail of a size {primary} takes is refused",
                    f"postconf -e message_size_limit={theirs} on {mx} (or raise it)", "warning")]
