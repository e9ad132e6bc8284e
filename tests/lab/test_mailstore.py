"""Issue 14, seed 003 Scénario 3 on the lab (`mxdrill lab up --topology store`): both MXs only relay,
over TLS with SASL, to a mail store whose Dovecot delivers by LMTP. The drill runs from the inventory
`mxdrill lab inventory` writes, finds each probe by asking Dovecot in every folder, survives the mail
store going down (both MXs queue, nothing bounces, both drain), and a relay whose TLS or SASL is broken
is a preflight error naming the MX, before anything disruptive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxdrill.lab import manager

from lab_helpers import error_line, lab_inventory, ssh
from test_drill import kinds, primary_running, run_drill

pytestmark = pytest.mark.parametrize("topology", ["store"])


@pytest.fixture
def store_hosts(lab: manager.LabPaths, tmp_path: Path) -> Path:
    """The store topology's inventory, as `mxdrill lab inventory` writes it for the running lab."""
    inventory = lab_inventory(lab, tmp_path / "hosts.yml")
    assert "mxdrill_mailstore:" in inventory.read_text() and "mxdrill_storage:" not in inventory.read_text()
    return inventory


def summary_drills(tmp_path: Path) -> dict[str, dict]:
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    return {d["scenario"].rsplit(":", 1)[1]: d for d in summary["drills"]}


def test_the_drill_and_the_mail_store_down_pass_with_every_probe_found_in_dovecot_and_none_bounced(
        topology: str, lab: manager.LabPaths, store_hosts: Path, tmp_path: Path) -> None:
    result, events = run_drill(tmp_path, "--faults", "stop,kill,mailstore", "--via", "harness,sender", hosts=store_hosts)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    drills = summary_drills(tmp_path)
    assert {mode: d["verdict"] for mode, d in drills.items()} == {"stop": "pass", "kill": "pass", "mailstore": "pass"}
    assert all(d["ledger"]["lost"] == 0 and d["ledger"]["duplicated"] == 0 for d in drills.values())
    # the mail store down: both MXs took the outage probes sent to each, and both queued them (status=deferred)
    store_down = [e for e in events if (e["scenario"] or "").endswith(":mailstore")]
    queued = {e["host"] for e in store_down if e["kind"] == "probe.queued"}
    assert queued == {"mx1.example.test", "mx2.example.test"}
    assert all("mailstore.example.test" in e["data"]["reason"] for e in store_down if e["kind"] == "probe.queued")
    assert drills["mailstore"]["ledger"]["queued"] == 6, "3 outage probes to each MX"
    assert not any("status=bounced" in (e["data"].get("line") or "") for e in events if e["kind"] == "evidence")
    assert [e["host"] for e in store_down if e["kind"] == "fault.injected"] == ["mailstore.example.test"]
    # found by asking Dovecot: in every folder (the lab's Sieve files outage probes into Drill), each with its path
    found = [e for e in events if e["kind"] == "probe.found"]
    assert {e["data"]["location"] for e in found} == {"dovecot@mailstore.example.test"}
    assert any("/Drill/" in e["data"]["path"] for e in found) and any("/INBOX/" in e["data"]["path"] for e in found)
    outage = {e["probe"] for e in events if e["kind"] == "probe.sent" and e["data"]["phase"] == "outage"
              and (e["scenario"] or "").endswith(":stop")}
    routes = {e["probe"]: e["data"]["route"] for e in found if e["probe"] in outage}
    assert routes and all(route[-2:] == ["mx2.example.test", "mailstore.example.test"] for route in routes.values()), routes
    # the final delivery of each probe is the store's LMTP line, once
    finals = [e for e in events if e["kind"] == "evidence" and "dovecot-lmtp" in (e["data"].get("line") or "")]
    assert finals
    assert primary_running(lab) and ssh(lab, "mailstore", "postfix status", check=False).returncode == 0
    run_prefix = next(e["probe"] for e in events if e["probe"]).rsplit("-", 1)[0]
    left = ssh(lab, "mailstore", f"doveadm -f json search -A HEADER Message-ID {run_prefix}-").stdout.strip()
    assert left == "[]", "a passing drill expunges its own probes from every folder"


@pytest.mark.parametrize(("breakage", "reason"), [
    ("sed -i 's/lab-relay-secret/a-changed-secret/' /etc/postfix/sasl_passwd",
     "SASL authentication failed; server mailstore.example.test"),
    ("postconf -e smtp_tls_CAfile=/etc/ssl/certs/ca-certificates.crt", "Server certificate not verified"),
], ids=["sasl", "tls"])
def test_a_broken_relay_to_the_store_is_a_preflight_error_naming_the_mx_and_the_reason(
        topology: str, breakage: str, reason: str, mx2_broken, store_hosts: Path, tmp_path: Path) -> None:
    mx2_broken(f"{breakage} && postfix reload")
    result, events = run_drill(tmp_path, hosts=store_hosts)
    assert result.returncode == 1
    line = error_line(result.stdout, "relay-to-mailstore")
    assert line.startswith("  ERROR relay-to-mailstore on mx2.example.test: mx2.example.test cannot hand mail for "
                           "probe@example.test to the mail store mailstore.example.test:"), result.stdout[-3000:]
    assert reason in line
    assert "fault.injected" not in kinds(events), "nothing disruptive runs"
