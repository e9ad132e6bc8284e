"""Issue 14: the Dovecot mailbox store's reading of `doveadm -f json fetch`, the `Received:` path of a
message, and the relay preflight's reading of Postfix's `sendmail -bv` status. All pure: recorded
output from the lab's mail store, no host."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mxdrill import received, relaycheck
from mxdrill.drill import handed_over
from mxdrill.mta.postfix import parse_log_line
from mxdrill.store import dovecot

RUN = "20261202T185818-915712-6"

# What the lab's mail store holds after a probe went sender -> mx1 -> mailstore (ESMTPSA) -> LMTP (recorded).
RECEIVED = (
    "from mailstore.example.test\n\tby mailstore.example.test with LMTP\n\tid td3aDjxpEGv5AAAA59abrQ\n"
    "\t(envelope-from <root@example.test>)\n\tfor <probe@example.test>; Wed, 02 Dec 2026 18:53:48 +0000\n"
    "from mx1.example.test (mx1.example.test [198.51.100.11])\n"
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    "\t key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256)\n"
    "\t(No client certificate requested)\n\tby mailstore.example.test (Postfix) with ESMTPSA id 35ED6FDE4EE\n"
    "\tfor <probe@example.test>; Wed,  2 Dec 2026 18:53:48 +0000 (UTC)\n"
    "from sender.example.test (sender.example.test [IPv6:2001:db8:51:100::30])\n"
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    "\t key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256)\n"
    "\t(No client certificate requested)\n\tby mx1.example.test (Postfix) with ESMTPS id 2B716FDE4EA\n"
    "\tfor <probe@example.test>; Wed,  2 Dec 2026 18:53:48 +0000 (UTC)\n"
    "by sender.example.test (Postfix, from userid 0)\n\tid 1E5AFFDE4E5; Wed,  2 Dec 2026 18:53:48 +0000 (UTC)"
)


def row(token: str, mailbox: str = "INBOX", user: str = "probe@example.test", guid: str = "1796237628.M1P2.mailstore",
        via: str = RECEIVED) -> dict[str, str]:
    return {"username": user, "mailbox": mailbox, "guid": guid, "hdr.message-id": f"<{token}@harness.example.test>",
            "hdr.received": via}


# --- Received: ------------------------------------------------------------------------------------

def test_the_received_headers_read_bottom_up_are_the_hops_in_order_with_tls_and_sasl_named() -> None:
    hops = received.route(RECEIVED)
    assert [(h.by, h.from_name, h.from_address, h.with_protocol) for h in hops] == [
        ("sender.example.test", "", "", ""),
        ("mx1.example.test", "sender.example.test", "2001:db8:51:100::30", "ESMTPS"),
        ("mailstore.example.test", "mx1.example.test", "198.51.100.11", "ESMTPSA"),
        ("mailstore.example.test", "mailstore.example.test", "", "LMTP"),
    ]
    assert [(h.encrypted, h.authenticated) for h in hops[1:3]] == [(True, False), (True, True)]
    assert received.hosts_passed(RECEIVED) == ["sender.example.test", "mx1.example.test", "mailstore.example.test"]


def test_a_with_inside_a_nested_tls_comment_is_not_the_protocol() -> None:
    hop = received.parse_hop("from a.example (a.example [192.0.2.1]) (using TLSv1.3 with cipher X (256/256 bits) "
                             "key-exchange X25519) by b.example (Postfix) with ESMTPS id 1; Wed, 2 Dec 2026")
    assert hop is not None and (hop.by, hop.with_protocol) == ("b.example", "ESMTPS")


def test_a_header_that_names_no_receiving_host_is_no_hop_and_folding_is_undone() -> None:
    assert received.parse_hop("from x.example (unknown [192.0.2.9]); Wed, 2 Dec 2026") is None
    assert received.split_headers("from a\n\tby b with SMTP\nfrom c\n by d") == ["from a by b with SMTP", "from c by d"]
    assert received.route("") == []


# --- doveadm fetch -A --------------------------------------------------------------------------

def test_a_fetch_counts_each_probe_once_per_copy_in_every_folder_and_keeps_its_path_and_route() -> None:
    output = json.dumps([
        row(f"mxdrill-{RUN}-004", "Drill"),  # the lab's Sieve script files outage probes here
        row(f"mxdrill-{RUN}-001"),
        row(f"mxdrill-{RUN}-001", "Archive", guid="other"),  # a second copy, in another folder
        row(f"mxdrill-{RUN}-002", user="postmaster@example.test"),
        row("mxdrill-OTHERRUN-001"),  # another run's probe: not ours
        {"username": "probe@example.test", "mailbox": "INBOX", "guid": "g", "hdr.message-id": "<hello@example.test>"},
    ])
    scan = dovecot.parse_fetch("mailstore.example.test", RUN, output)
    assert dict(scan.copies) == {f"mxdrill-{RUN}-004": 1, f"mxdrill-{RUN}-001": 2, f"mxdrill-{RUN}-002": 1}
    assert scan.paths[f"mxdrill-{RUN}-004"] == ["probe@example.test/Drill/1796237628.M1P2.mailstore"]
    assert scan.paths[f"mxdrill-{RUN}-001"][1] == "probe@example.test/Archive/other"
    assert scan.routes[f"mxdrill-{RUN}-002"] == ["sender.example.test", "mx1.example.test", "mailstore.example.test"]
    assert (scan.location, scan.fstype) == ("dovecot@mailstore.example.test", "dovecot")


def test_an_empty_store_and_a_probe_without_received_headers_read_as_such() -> None:
    assert not dovecot.parse_fetch("s", RUN, "[]").copies
    assert not dovecot.parse_fetch("s", RUN, "").copies
    scan = dovecot.parse_fetch("s", RUN, json.dumps([row(f"mxdrill-{RUN}-001", via="")]))
    assert scan.routes[f"mxdrill-{RUN}-001"] == []


def test_one_command_asks_every_user_and_folder_for_the_runs_probes_since_the_mark() -> None:
    command = dovecot.fetch_command(RUN, 1796237000)
    assert command == (f"doveadm -f json fetch -A 'mailbox guid hdr.message-id hdr.received' SAVEDSINCE 1796237000 "
                       f"HEADER Message-ID mxdrill-{RUN}-")
    assert "SAVEDSINCE" not in dovecot.fetch_command(RUN, None)
    assert dovecot.token_of(f"<mxdrill-{RUN}-017@harness.example.test>", RUN) == f"mxdrill-{RUN}-017"
    assert dovecot.token_of(f"<mxdrill-{RUN}-017x@h>", RUN) is None


@dataclass
class Answers:
    """A remote that answers doveadm with a recorded fetch and remembers what it was asked."""

    output: str
    commands: list[str] = field(default_factory=list)

    @property
    def host(self):  # noqa: ANN201 - the store asks only its name
        return type("H", (), {"name": "mailstore.example.test"})()

    def run(self, command: str, *args: str, timeout: float | None = None):  # noqa: ANN201
        self.commands.append(command)
        return type("R", (), {"rc": 0, "stdout": self.output if "fetch" in command else "", "stderr": ""})()

    def check(self, command: str, *args: str, timeout: float | None = None) -> str:
        self.commands.append(command)
        return "1796237600\n"


def test_removing_expunges_the_runs_probes_in_every_folder_and_counts_the_copies_of_the_recipients_asked() -> None:
    remote = Answers(json.dumps([row(f"mxdrill-{RUN}-001"), row(f"mxdrill-{RUN}-002", user="postmaster@example.test")]))
    store = dovecot.DovecotStore(remote)  # type: ignore[arg-type]
    store.mark(RUN)
    assert len(store.scan(RUN).copies) == 2
    assert "SAVEDSINCE 1796237300" in remote.commands[-1], "the store's clock at the mark, less the margin"
    assert store.remove(RUN, ["postmaster@example.test"]) == 1
    assert remote.commands[-1] == f"doveadm expunge -u postmaster@example.test mailbox '*' HEADER Message-ID mxdrill-{RUN}-"
    assert store.remove(RUN) == 2 and remote.commands[-1].startswith("doveadm expunge -A mailbox '*' ")


# --- the relay preflight -----------------------------------------------------------------------

VERIFY_LOG = [
    "2026-12-02T18:55:48.656138+00:00 mx2 postfix/pickup[226]: A0197FDE2B1: uid=0 from=<>",
    "2026-12-02T18:55:48.731242+00:00 mx2 postfix/smtp[240]: A0197FDE2B1: to=<probe@example.test>, "
    "relay=mailstore.example.test[2001:db8:51:100::25]:25, delay=0.09, delays=0.02/0.02/0.03/0.02, dsn=2.1.5, "
    "status=deliverable (250 2.1.5 Ok)",
]


def events(lines: list[str]):  # noqa: ANN201
    return [e for e in (parse_log_line(line) for line in lines) if e is not None]


def test_the_relay_verdict_is_the_status_postfix_logged_for_the_verification_probe() -> None:
    found = relaycheck.verdict_event(events(VERIFY_LOG), "probe@example.test")
    assert found is not None and (found.status, found.detail) == ("deliverable", "250 2.1.5 Ok")
    assert relaycheck.verdict_event(events(VERIFY_LOG[:1]), "probe@example.test") is None
    assert relaycheck.verdict_event(events(VERIFY_LOG), "postmaster@example.test") is None


def test_the_advice_follows_postfixs_own_words_for_sasl_and_tls() -> None:
    sasl = relaycheck.advice("SASL authentication failed; server s said: 535 5.7.8 Error", "mx2", "store")
    assert "smtp_sasl_password_maps" in sasl and "doveadm auth test" in sasl
    assert "smtp_tls_CAfile" in relaycheck.advice("Server certificate not verified", "mx2", "store")
    assert "STARTTLS" in relaycheck.advice("TLS is required, but was not offered by host s[192.0.2.5]", "mx2", "store")


def test_a_final_delivery_is_a_local_socket_or_a_host_outside_the_inventory() -> None:
    marks = ["198.51.100.11", "mx1.example.test", "mailstore.example.test[", "[198.51.100.25]"]
    assert handed_over("mailstore.example.test[2001:db8:51:100::25]:25", marks)
    assert not handed_over("mailstore.example.test[private/dovecot-lmtp]", marks)
    assert handed_over("mx1.example.test[198.51.100.11]:25", marks)
    assert not handed_over("none", marks)
