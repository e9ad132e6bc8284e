"""What real hosts look like to the drill: the Postfix unit under systemd, the journal as the mail log,
and the choice between a log file and the journal per host (pure parts; the systemd lab covers the rest)."""

from __future__ import annotations

import pytest

from mxdrill.inventory import ServiceControl
from mxdrill.logs.auto import LogFacts, choose, parse_facts
from mxdrill.logs.journald import cursor_of
from mxdrill.mta.postfix import parse_log_line, postfix_unit, service_for

DECLARED_NOTHING = ServiceControl(stop=None, start=None, status="postfix status")


@pytest.mark.parametrize(("listing", "unit"), [
    ("postfix.service\npostfix@-.service\n.\n", "postfix@-.service"),  # Debian: the dummy and the instance
    ("postfix@-.service\npostfix@postfix-out.service\npostfix.service\n.\n", "postfix@-.service"),
    ("postfix@postfix-out.service\n.\n", "postfix@postfix-out.service"),
    ("postfix.service\n.\n", "postfix.service"),  # RHEL: the real unit
    (".\n", None),  # systemd, but Postfix is not a unit here
    ("-\n", None),  # no systemd
])
def test_the_unit_that_really_runs_postfix_is_found(listing: str, unit: str | None) -> None:
    assert postfix_unit(listing) == unit


def test_service_commands_come_from_the_unit_or_postfix_and_declared_ones_win() -> None:
    debian = service_for(DECLARED_NOTHING, "postfix@-.service")
    assert (debian.stop, debian.start) == ("systemctl stop postfix@-.service", "systemctl start postfix@-.service")
    plain = service_for(DECLARED_NOTHING, None)
    assert (plain.stop, plain.start, plain.status) == ("postfix stop", "postfix start", "postfix status")
    declared = ServiceControl(stop="service postfix stop", start=None, status="postfix status")
    assert service_for(declared, "postfix.service").stop == "service postfix stop"
    assert service_for(declared, "postfix.service").start == "systemctl start postfix.service"


def test_the_journal_cursor_is_read_from_show_cursor_output() -> None:
    output = "postfix/qmgr[12]: 4A1: removed\n-- cursor: s=0639;i=1a2;b=77;m=9;t=5f;x=aa\n"
    assert cursor_of(output) == "s=0639;i=1a2;b=77;m=9;t=5f;x=aa"
    assert cursor_of("-- No entries --\n") == ""


def test_journal_lines_in_short_iso_precise_parse_like_syslog_lines() -> None:
    line = ("2026-12-01T18:04:05.123456+0000 mx1.example.test postfix/smtp[311]: 4A1B2C3D4E: to=<probe@example.test>, "
            "relay=none, delay=0.1, dsn=4.4.1, status=deferred (connect to mx1.example.test[198.51.100.11]:25: Connection refused)")
    event = parse_log_line(line)
    assert event is not None and (event.queue_id, event.status, event.host) == ("4A1B2C3D4E", "deferred", "mx1.example.test")


NOW = 1_800_000_000


@pytest.mark.parametrize(("facts", "chosen"), [
    (LogFacts("", "/var/log/mail.log", NOW, True, NOW - 5), ("file", "/var/log/mail.log")),  # rsyslog writes it
    (LogFacts("", "/var/log/mail.log", NOW - 86400, True, NOW), ("journald", "")),  # left over from an upgrade
    (LogFacts("", "/var/log/mail.log", None, True, NOW), ("journald", "")),  # Debian 12: no file at all
    (LogFacts("", "/var/log/mail.log", None, True, None), ("journald", "")),
    (LogFacts("", "/var/log/maillog", NOW - 86400, False, None), ("file", "/var/log/maillog")),  # no systemd
    (LogFacts("", "/var/log/mail.log", NOW - 10, True, None), ("file", "/var/log/mail.log")),
    (LogFacts("/var/log/postfix.log", "/var/log/mail.log", None, True, NOW), ("file", "/var/log/postfix.log")),
])
def test_auto_takes_the_file_if_it_is_being_written_else_the_journal(facts: LogFacts, chosen: tuple[str, str]) -> None:
    assert choose(facts) == chosen


def test_the_probe_output_is_parsed() -> None:
    facts = parse_facts("/var/log/mail.log", f"maillog_file \nfile \njournal {NOW}\n")
    assert facts == LogFacts("", "/var/log/mail.log", None, True, NOW)
    assert parse_facts("/var/log/mail.log", f"maillog_file \nfile {NOW}\n").journal is False


@pytest.mark.parametrize("stderr", [
    "sudo: a password is required\n",
    "sudo: a terminal is required to read the password; either use the -S option to read from standard input\n",
    "drill is not in the sudoers file.  This incident will be reported.\n",
    "Sorry, user drill is not allowed to execute '/bin/sh -c postqueue -j' as root on mx1.example.test.\n",
])
def test_sudo_refusing_is_told_apart_from_the_command_failing(stderr: str) -> None:
    from mxdrill.remote import sudo_refusal

    assert sudo_refusal(stderr) is not None
    assert sudo_refusal("postfix/postfix-script: the Postfix mail system is not running\n") is None


def test_a_bastion_proxy_command_gets_host_port_and_user() -> None:
    from mxdrill.inventory import load_inventory
    from mxdrill.remote import proxy_argv
    from pathlib import Path

    host = load_inventory(Path(__file__).resolve().parents[2] / "hosts.yml").primary
    assert proxy_argv("ssh -W %h:%p -l %r bastion.example.net %%", host) == \
        "ssh -W 198.51.100.11:22 -l root bastion.example.net %"
