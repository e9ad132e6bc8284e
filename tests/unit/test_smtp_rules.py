"""The preflight's SMTP and TLS rules on recorded greetings: each problem named with its host, evidence and fix."""

from __future__ import annotations

from dataclasses import replace

from mxdrill import smtprules
from mxdrill.greeting import Certificate, Greeting

MX1, MX2 = "mx1.example.test", "mx2.example.test"
NOW = 1_800_000_000.0
CERT = Certificate(MX2, (MX2,), "mxdrill lab CA", NOW + 300 * 86400)
HEALTHY = Greeting("198.51.100.12", 220, f"{MX2} ESMTP", MX2, {"size": "10240000", "starttls": "", "8bitmime": ""},
                   certificate=CERT, tls_version="TLSv1.3")


def test_a_healthy_mx_passes_every_rule_and_says_what_it_saw() -> None:
    found = [*smtprules.every_address_answers(MX2, [HEALTHY]), *smtprules.names_itself(MX2, HEALTHY),
             *smtprules.tls(MX2, HEALTHY, [MX1, MX2], 21, NOW), *smtprules.size_limit(MX2, HEALTHY, MX1, HEALTHY)]
    assert all(f.ok for f in found), found
    assert "STARTTLS TLSv1.3, certificate for mx2.example.test issued by mxdrill lab CA" in found[2].detail


def test_a_dead_address_of_a_dual_stack_mx_is_an_error_naming_the_address() -> None:
    dead = Greeting("2001:db8:51:100::12", None, "ConnectionRefusedError: [Errno 111] Connection refused")
    found = smtprules.every_address_answers(MX2, [HEALTHY, dead])
    assert [f.ok for f in found] == [True, False] and found[1].blocks
    assert "mx2.example.test resolves to 2001:db8:51:100::12, which did not answer" in found[1].detail
    assert "inet_protocols = all" in found[1].fix


def test_an_mx_greeting_under_another_name_is_a_warning() -> None:
    (found,) = smtprules.names_itself(MX2, replace(HEALTHY, banner="localhost ESMTP", ehlo_name="localhost"))
    assert (found.ok, found.severity, found.fix) == (False, "warning", f"set myhostname = {MX2} (Postfix), or publish the MX under the name the host gives")


def test_one_mx_without_starttls_while_the_other_has_it_is_a_warning() -> None:
    """Warnings: most senders use TLS unverified and opportunistically, so the mail flows and the drill stays meaningful."""
    plain = replace(HEALTHY, extensions={"size": "10240000"}, certificate=None)
    (found,) = smtprules.tls(MX2, plain, [MX1], 21, NOW)
    assert (found.ok, found.severity) == (False, "warning") and "offers no STARTTLS while mx1.example.test do" in found.detail
    (none,) = smtprules.tls(MX2, plain, [], 21, NOW)
    assert (none.ok, none.severity) == (False, "warning")


def test_a_certificate_that_fails_verification_is_a_warning_showing_what_the_mx_presented() -> None:
    wrong = replace(HEALTHY, tls_error="Hostname mismatch, certificate is not valid for 'mx2.example.test'.",
                    certificate=replace(CERT, names=("mx9.example.test",), subject="mx9.example.test"), tls_version=None)
    (found,) = smtprules.tls(MX2, wrong, [MX1, MX2], 21, NOW)
    assert (found.ok, found.severity) == (False, "warning")
    assert "Hostname mismatch" in found.detail and "certificate for mx9.example.test" in found.detail
    assert "install a certificate for mx2.example.test" in found.fix
    (published,) = smtprules.tls("mx2", wrong, [MX1, "mx2"], 21, NOW, name=MX2)  # an inventory name other than the MX's
    assert published.host == "mx2" and "install a certificate for mx2.example.test" in published.fix


def test_an_ehlo_broken_off_is_an_error_and_no_tls_or_size_verdict_is_made_on_it() -> None:
    broken = Greeting("198.51.100.12", 220, f"{MX2} ESMTP", ehlo_error="SMTPServerDisconnected: Server disconnected")
    (found,) = smtprules.names_itself(MX2, broken)
    assert found.blocks and "broke off EHLO (EHLO mxdrill.invalid)" in found.detail
    assert smtprules.tls(MX2, broken, [MX1], 21, NOW) == [] and smtprules.size_limit(MX2, broken, MX1, HEALTHY) == []


def test_an_address_this_machine_has_no_route_to_is_not_checked_a_warning() -> None:
    far = Greeting("2001:db8:51:100::12", None, "OSError: [Errno 101] Network is unreachable", unreachable=True)
    (found,) = smtprules.every_address_answers(MX2, [far])
    assert (found.ok, found.severity) == (False, "warning") and "could not be checked: this machine has no route" in found.detail


def test_a_certificate_expiring_within_the_declared_days_is_a_warning() -> None:
    soon = replace(HEALTHY, certificate=replace(CERT, not_after=NOW + 10 * 86400))
    (found,) = smtprules.tls(MX2, soon, [MX1, MX2], 21, NOW)
    assert (found.ok, found.severity) == (False, "warning") and "expires in 10 days" in found.detail


def test_a_backup_taking_smaller_mail_than_the_primary_is_a_warning_with_the_postconf() -> None:
    small = replace(HEALTHY, extensions={"size": "1024000"})
    (found,) = smtprules.size_limit(MX2, small, MX1, HEALTHY)
    assert (found.ok, found.severity) == (False, "warning") and found.fix == "postconf -e message_size_limit=10240000 on mx2.example.test (or raise it)"
    assert smtprules.size_limit(MX2, HEALTHY, MX1, small)[0].ok  # larger than the primary: fine
    assert smtprules.size_limit(MX2, replace(HEALTHY, extensions={"size": "0"}), MX1, HEALTHY)[0].ok  # no limit


def test_the_readme_lists_every_preflight_check_as_the_table_says() -> None:
    from pathlib import Path

    from mxdrill.survey import checks_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert checks_table() in readme, "regenerate the README's table of preflight checks from mxdrill.survey.checks_table()"
