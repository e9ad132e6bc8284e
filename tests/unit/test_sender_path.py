"""--via sender: a real sending MTA's log read as attempts, MX by MX (pure), and its submission command."""

from __future__ import annotations

from mxdrill import smtp
from mxdrill.mta import trails_by_message_id
from mxdrill.mta.postfix import parse_log_line
from mxdrill.sender import attempts_from_log, submit_command

MX1 = smtp.MxTarget(10, "mx1.example.test.", "198.51.100.11", "mx1.example.test")
MX2 = smtp.MxTarget(20, "mx2.example.test.", "198.51.100.12", "mx2.example.test")
MID = "mxdrill-run-004@mxdrill.probe"


def log(*bodies: str) -> list[str]:
    return [f"2026-12-02T10:00:0{n}.000000+00:00 sender postfix/{b}" for n, b in enumerate(bodies)]


def attempts(lines: list[str]) -> list[smtp.Attempt]:
    events = [e for e in map(parse_log_line, lines) if e is not None]
    trail_events = [e for t in trails_by_message_id(events).get(MID, []) for e in t.events]
    return attempts_from_log(trail_events, lines, [MX1, MX2])


def test_a_sender_that_fell_back_to_mx20_shows_mx10_failed_first_in_its_own_words() -> None:
    lines = log(
        "pickup[7]: 4A1B2C: uid=0 from=<mxdrill@mxdrill.invalid>",
        f"cleanup[8]: 4A1B2C: message-id=<{MID}>",
        "smtp[9]: connect to mx1.example.test[198.51.100.11]:25: Connection timed out",
        "smtp[9]: 4A1B2C: to=<probe@example.test>, relay=mx2.example.test[198.51.100.12]:25, delay=5.2, "
        "delays=0/0/5.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7D8E9F)",
    )
    first, second = attempts(lines)
    assert (first.target, first.outcome) == (MX1, "unreachable") and "Connection timed out" in first.reply
    assert (second.target, second.outcome, second.code) == (MX2, "accepted", 250)
    delivery = smtp.Delivery(smtp.Probe("mxdrill-run-004", "probe@example.test", "s", "outage"), [first, second])
    assert delivery.queue_id == "7D8E9F", "the MX's queue id, as the harness's own client records it"


def test_a_deferred_round_is_no_acceptance_and_a_bounce_is_final() -> None:
    deferred = log(f"cleanup[8]: 4A1B2C: message-id=<{MID}>",
                   "smtp[9]: 4A1B2C: to=<probe@example.test>, relay=mx2.example.test[198.51.100.12]:25, delay=1, "
                   "delays=0/0/0/1, dsn=4.3.0, status=deferred (host said: 451 try later)")
    assert [a.outcome for a in attempts(deferred)] == ["deferred"]
    bounced = log(f"cleanup[8]: 4A1B2C: message-id=<{MID}>",
                  "smtp[9]: 4A1B2C: to=<probe@example.test>, relay=mx1.example.test[198.51.100.11]:25, delay=1, "
                  "delays=0/0/0/1, dsn=5.1.1, status=bounced (host said: 550 no such user)")
    assert [a.outcome for a in attempts(bounced)] == ["rejected"]


def test_the_probe_is_piped_to_the_senders_own_sendmail_quoted() -> None:
    probe = smtp.make_probe("run", 4, "probe@example.test", smtp.HARNESS_SENDER, "outage")
    command = submit_command(probe)
    assert command.endswith("| /usr/sbin/sendmail -i -f mxdrill@mxdrill.invalid -- probe@example.test")
    assert f"Message-Id: <{probe.message_id}>" in command


def test_a_dual_stack_sender_reaching_the_mx_over_ipv6_is_matched_by_the_mx_name() -> None:
    lines = log(f"cleanup[8]: 4A1B2C: message-id=<{MID}>",
                "smtp[9]: 4A1B2C: to=<probe@example.test>, relay=mx1.example.test[2001:db8:51:100::11]:25, delay=0.1, "
                "delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7D8E9F)")
    (taken,) = attempts(lines)
    assert taken.outcome == "accepted" and taken.target.host == "mx1.example.test"
