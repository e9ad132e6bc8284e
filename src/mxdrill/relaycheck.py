"""Preflight: can each MX hand the domain's mail to the mail store it relays to? Asked of Postfix.

In seed 003's Scénario 3 the MXs relay everything to an internal store over TLS with SASL; a wrong
CA, a store that stopped offering STARTTLS, or a changed SASL password leaves an MX that accepts
mail and then only defers it. `sendmail -bv` makes Postfix's own smtp client do the whole hand-over
(connect, STARTTLS with the MX's TLS policy, AUTH, MAIL, RCPT) and stop before DATA: nothing is
delivered, and with the null sender no report is mailed. The verdict, and the reason when it fails,
is the status Postfix logs for that probe; a deferred one is deleted from the queue at once.
"""

from __future__ import annotations

import shlex
import time

from mxdrill.finding import Finding, problem
from mxdrill.mailhost import MailHost
from mxdrill.mta import LogEvent

CHECK = "relay-to-mailstore"
VERDICTS = ("deliverable", "undeliverable", "deferred", "bounced")
POLL_SECONDS = 0.2


def verdict_event(events: list[LogEvent], recipient: str) -> LogEvent | None:
    """The first verification status Postfix logged for `recipient` (its smtp client's, not the cleanup's)."""
    return next((e for e in events if e.to == recipient and e.status in VERDICTS), None)


def advice(detail: str, mx: str, store: str) -> str:
    """What to fix, from Postfix's own words for the failure."""
    lowered = detail.lower()
    if "sasl" in lowered or "authentication" in lowered or "535" in lowered:
        return (f"the SASL credentials {mx} sends (smtp_sasl_password_maps) must be an account of {store}'s "
                "SASL passdb; test with `postmap -q` on the map and `doveadm auth test` on the store")
    if "tls" in lowered or "certificate" in lowered or "starttls" in lowered:
        return (f"{mx} requires TLS toward {store} (smtp_tls_policy_maps / smtp_tls_security_level): make {store} "
                "offer STARTTLS with a certificate for its name chained to smtp_tls_CAfile on the MX")
    return f"make {store} accept the domain's mail from {mx} (its log says why it does not)"


def relay_finding(mx: MailHost, recipient: str, store: str, deadline: float = 20.0, address: str = "") -> Finding:
    """One verification probe through `mx` toward the store (named `store`, at `address`), judged by the status
    Postfix logs for it: deliverable, and to the store, not to some other next hop."""
    cursor = mx.log.cursor()
    mx.remote.check(f"sendmail -bv -f '' {shlex.quote(recipient)}")
    end = time.monotonic() + deadline
    while True:
        found = verdict_event(mx.mta.parse_log(mx.log.lines_since(cursor)), recipient)
        if found is not None or time.monotonic() > end:
            break
        time.sleep(POLL_SECONDS)
    if found is None:
        return problem(CHECK, mx.name, f"Postfix on {mx.name} logged no result for `sendmail -bv {recipient}` within "
                       f"{deadline:g}s", f"look at {mx.name}'s mail log; is its queue manager running?")
    relay = found.relay or ""
    if found.status == "deliverable" and (store in relay or (address and address in relay)):
        return Finding(CHECK, mx.name, True, f"{mx.name} hands {recipient} to {relay} ({found.detail})")
    if found.status == "deliverable":
        return problem(CHECK, mx.name, f"{mx.name} hands {recipient} to {relay}, not to the mail store {store}",
                       f"point {mx.name}'s transport_maps entry for the domain at {store}")
    if found.status == "deferred" and found.queue_id:
        mx.remote.run(f"postsuper -d {shlex.quote(found.queue_id)}")  # the verification probe, and nothing else
    return problem(CHECK, mx.name, f"{mx.name} cannot hand mail for {recipient} to the mail store {store}: "
                   f"{found.status} ({found.detail or 'no reason logged'})", advice(found.detail or "", mx.name, store))
