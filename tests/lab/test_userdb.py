"""Issue 14, seed 003 Scénario 2 on the lab (`mxdrill lab up --userdb mysql`): both MXs look their domains
and users up in one MariaDB (`mysql:` maps). The drill runs from `mxdrill lab inventory`; the preflight
asks each MX's own lookups and compares them; with the database down every MX answers 4xx, nothing
bounces, and once it is back the senders' retries are taken and delivered. The database password in
the MXs' map files appears in no report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxdrill.lab import manager
from mxdrill.lab import topology as topo

from lab_helpers import error_line, lab_inventory, ssh
from test_drill import kinds, primary_running, run_drill

pytestmark = pytest.mark.parametrize("userdb", ["mysql"])


@pytest.fixture
def userdb_hosts(lab: manager.LabPaths, tmp_path: Path) -> Path:
    """The inventory of the lab with its users in MariaDB, as `mxdrill lab inventory` writes it."""
    inventory = lab_inventory(lab, tmp_path / "hosts.yml")
    assert "mxdrill_userdb:" in inventory.read_text()
    return inventory


def test_the_drill_and_the_user_database_down_pass_with_4xx_from_every_mx_and_no_secret_in_the_reports(
        userdb: str, lab: manager.LabPaths, userdb_hosts: Path, tmp_path: Path) -> None:
    assert "mysql:/etc/postfix/mysql-virtual-mailbox-maps.cf" in ssh(lab, "mx2", "postconf -h virtual_mailbox_maps").stdout
    result, events = run_drill(tmp_path, "--faults", "stop,userdb", hosts=userdb_hosts)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    drills = {d["scenario"].rsplit(":", 1)[1]: d for d in summary["drills"]}
    assert {mode: d["verdict"] for mode, d in drills.items()} == {"stop": "pass", "userdb": "pass"}
    assert all(d["ledger"]["lost"] == 0 and d["ledger"]["duplicated"] == 0 for d in drills.values())
    down = [e for e in events if (e["scenario"] or "").endswith(":userdb")]
    assert [e["host"] for e in down if e["kind"] == "fault.injected"] == ["userdb.example.test"]
    outage = {e["probe"] for e in down if e["kind"] == "probe.sent" and e["data"]["phase"] == "outage"}
    refusals = [e for e in down if e["kind"] == "probe.rejected" and e["probe"] in outage]
    assert {e["host"] for e in refusals} == {"mx1.example.test", "mx2.example.test"}, "each MX was offered each probe"
    assert all(400 <= e["data"]["code"] < 500 for e in refusals), "a temporary failure, never a bounce"
    assert "Temporary lookup failure" in refusals[0]["data"]["message"]
    assert {e["probe"] for e in down if e["kind"] == "probe.delivered"} >= outage, "the retries were delivered"
    assert drills["userdb"]["drain"] is not None
    lookups = [e for e in events if e["kind"] == "preflight" and e["data"]["check"] == "user-lookups"]
    assert {e["host"] for e in lookups} >= {"mx1.example.test", "mx2.example.test"} and all(e["data"]["ok"] for e in lookups)
    assert ssh(lab, "userdb", "mariadb-admin ping", check=False).returncode == 0 and primary_running(lab)
    for report in (tmp_path / "reports").rglob("*"):
        if report.is_file():
            assert topo.USERDB_PASSWORD not in report.read_text(errors="replace"), f"the database password is in {report}"


def test_an_mx_whose_map_cannot_reach_the_database_is_a_preflight_error_naming_it(
        userdb: str, mx2_broken, userdb_hosts: Path, tmp_path: Path) -> None:
    mx2_broken(f"sed -i 's/^password = .*/password = not-the-password/' /etc/postfix/mysql-virtual-mailbox-*.cf && postfix reload")
    result, events = run_drill(tmp_path, hosts=userdb_hosts)
    assert result.returncode == 1
    line = error_line(result.stdout, "user-lookups")
    assert line.startswith("  ERROR user-lookups on mx2.example.test: mx2.example.test cannot look up example.test or "
                           "probe@example.test in mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf"), result.stdout[-3000:]
    assert "Access denied" in line and "not-the-password" not in result.stdout
    assert "fault.injected" not in kinds(events)
