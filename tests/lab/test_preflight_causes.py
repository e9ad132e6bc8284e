"""Issue 12 (first part): the non-disruptive suite names the cause. Break the lab the way the seeds
warn about, run `pytest --hosts=hosts.yml -m "not disruptive"`, and find the finding, its host and
its fix; the healthy lab shows no error and no warning."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from mxdrill.lab import manager, tls

from lab_helpers import REPO, ssh

ZONE = "/etc/knot/zones/example.test.zone"
DAY = datetime.timedelta(days=1)


def acceptance(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "--hosts=hosts.yml", f"--reports={tmp_path / 'reports'}",
                           "-p", "no:cacheprovider", "-q", "-m", "not disruptive", "-k", "test_preflight"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture
def broken(lab: manager.LabPaths, request: pytest.FixtureRequest):
    """Run a shell command in a lab host; that host is rebooted from its pristine layers afterwards."""
    def breaker(host: str, command: str) -> None:
        request.addfinalizer(lambda: manager.reboot(host, lab, say=lambda _m: None))
        ssh(lab, host, command)

    return breaker


@pytest.mark.parametrize("topology", ["shared", "relay"])
def test_the_healthy_lab_has_no_error_and_no_warning(topology: str, lab: manager.LabPaths, tmp_path: Path) -> None:
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "warning" not in result.stdout.splitlines()[-1], result.stdout[-3000:]


def test_an_mx_published_as_a_cname_is_named_with_the_record_to_publish(broken, tmp_path: Path) -> None:
    broken("dns", f"sed -i -e 's/2026112401/2026112402/' -e 's/^@ IN MX 20 mx2.example.test./@ IN MX 20 backup.example.test./' "
                  f"-e '$a backup IN CNAME mx2.example.test.' {ZONE} && knotc zone-reload example.test >/dev/null")
    result = acceptance(tmp_path)
    assert result.returncode == 1
    assert ("MX 20 backup.example.test is a CNAME to mx2.example.test (RFC 2181 §10.3 forbids it; some senders refuse it): "
            "publish `MX 20 mx2.example.test.` instead") in result.stdout, result.stdout[-3000:]


def test_an_open_relay_backup_is_called_one(broken, tmp_path: Path) -> None:
    # every client counts as "my network": Postfix itself refuses to run with a bare `permit`
    broken("mx2", "postconf -e 'mynetworks = 0.0.0.0/0' && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 1
    assert "open relay: mx2.example.test accepts mail for any domain" in result.stdout, result.stdout[-3000:]
    assert "reject_unauth_destination" in result.stdout


def test_a_backup_that_takes_unknown_users_is_backscatter_a_warning(broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e 'virtual_mailbox_maps = static:example.test/probe/' && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]  # a warning: the drill may still run
    assert "backscatter: mx2.example.test accepts mail for a user who does not exist" in result.stdout


@pytest.mark.parametrize("topology", ["relay"])
def test_a_queueing_backup_that_bounces_after_a_day_is_an_error(topology: str, broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e maximal_queue_lifetime=1d && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 1
    assert ("maximal_queue_lifetime = 1d: mail this backup queues for a primary down longer than that is bounced, "
            "not delivered: postconf -e maximal_queue_lifetime=5d (or more) on mx2.example.test") in result.stdout


def test_a_backup_taking_smaller_mail_than_its_primary_is_a_warning_with_its_postconf(broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e message_size_limit=1024000 && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert ("smtp-size on mx2.example.test: mx2.example.test advertises SIZE 1024000, mx1.example.test SIZE 10240000: "
            "while mx1.example.test is down, mail of a size mx1.example.test takes is refused: "
            "postconf -e message_size_limit=10240000 on mx2.example.test (or raise it)") in result.stdout, result.stdout[-3000:]


def test_a_weaker_anti_spam_setting_on_the_backup_is_a_parity_warning_and_a_row_of_the_table(
        broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e 'smtpd_helo_restrictions = permit' && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "smtpd_helo_restrictions: mx1.example.test = (empty), mx2.example.test = permit" in result.stdout
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert "| ≠ smtpd_helo_restrictions | (empty) | permit |" in summary, summary


def test_an_mx_that_greets_under_another_name_is_a_warning(broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e myhostname=localhost.localdomain && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert ("smtp-greeting on mx2.example.test: mx2.example.test greets as `220 localhost.localdomain ESMTP` and says EHLO "
            "`localhost.localdomain`, not its MX name mx2.example.test: set myhostname = mx2.example.test") in result.stdout


def test_an_address_of_an_mx_that_does_not_answer_is_an_error_naming_it(broken, tmp_path: Path) -> None:
    broken("dns", f"sed -i -e 's/2026112401/2026112402/' -e '$a mx2 IN A 198.51.100.99' {ZONE} "
                  "&& knotc zone-reload example.test >/dev/null")
    result = acceptance(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "mx2.example.test resolves to 198.51.100.99, which did not answer" in result.stdout, result.stdout[-3000:]
    junit = (tmp_path / "reports" / "latest" / "junit.xml").read_text()
    assert 'name="test_preflight[smtp-every-address]"' in junit  # its own JUnit case, failed
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert "| smtp-every-address | mx2.example.test | error | mx2.example.test resolves to 198.51.100.99" in summary


def test_an_spf_record_that_leaves_out_the_backup_is_a_warning(broken, tmp_path: Path) -> None:
    broken("dns", f"sed -i -e 's/2026112401/2026112402/' -e 's/\"v=spf1 mx -all\"/\"v=spf1 ip4:198.51.100.11 -all\"/' {ZONE} "
                  "&& knotc zone-reload example.test >/dev/null")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert ("the SPF record of example.test (`v=spf1 ip4:198.51.100.11 -all`) does not cover mx2.example.test (198.51.100.12, 2001:db8:51:100::12)"
            in result.stdout), result.stdout[-3000:]


@pytest.mark.parametrize(("name", "start", "end", "why"), [
    ("mx1.example.test", -DAY, 300 * DAY, "Hostname mismatch, certificate is not valid for 'mx2.example.test'"),
    ("mx2.example.test", -30 * DAY, -DAY, "certificate has expired"),
], ids=["names-another-host", "expired"])
def test_a_certificate_a_verifying_sender_refuses_is_a_warning_saying_why(
        name: str, start: datetime.timedelta, end: datetime.timedelta, why: str, lab: manager.LabPaths, mx2_certificate,
        tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    mx2_certificate(*tls.issue(lab.tls_dir, name, not_before=now + start, not_after=now + end))
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]  # senders still deliver, unverified: the drill may run
    assert (f"smtp-tls on mx2.example.test: STARTTLS on mx2.example.test fails verification for mx2.example.test ({why}"
            in result.stdout), result.stdout[-3000:]
    assert "install a certificate for mx2.example.test, chained to the CA in mxdrill_tls_ca" in result.stdout


def test_a_certificate_expiring_within_the_declared_days_is_a_warning(lab: manager.LabPaths, mx2_certificate, tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    mx2_certificate(*tls.issue(lab.tls_dir, "mx2.example.test", not_before=now - DAY, not_after=now + 10 * DAY))
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "smtp-tls on mx2.example.test: the certificate of mx2.example.test expires in 10 days" in result.stdout, result.stdout[-3000:]


def test_a_backup_without_starttls_while_the_primary_has_it_is_a_warning(broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e smtpd_tls_security_level=none && postfix reload")
    result = acceptance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "smtp-tls on mx2.example.test: mx2.example.test offers no STARTTLS while mx1.example.test do" in result.stdout
    assert "smtpd_tls_security_level: mx1.example.test = may, mx2.example.test = none" in result.stdout  # and parity says so


def test_a_dual_stack_mx_whose_ipv6_side_is_dead_is_an_error_naming_the_address(broken, tmp_path: Path) -> None:
    broken("mx2", "postconf -e inet_protocols=ipv4 && postfix stop >/dev/null && postfix start >/dev/null")
    result = acceptance(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "mx2.example.test resolves to 2001:db8:51:100::12, which did not answer" in result.stdout, result.stdout[-3000:]
