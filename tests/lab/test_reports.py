"""A drill on the lab leaves every report file, and summary.html renders in a real browser."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from mxdrill.lab import manager

from lab_helpers import REPO
from test_drill import run_drill

SCREENSHOT = REPO / "reports" / "summary-screenshot.png"


def test_a_drill_writes_every_report_file(lab: manager.LabPaths, tmp_path: Path) -> None:
    result, events = run_drill(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    run = (tmp_path / "reports" / "latest").resolve()
    assert {p.name for p in run.iterdir()} >= {
        "junit.xml", "history.jsonl", "summary.md", "summary.html", "summary.json", "inventory.json", "versions.json",
    }
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["drills"][0]["failover"] is not None
    assert (run / "summary.md").read_text().startswith("# mxdrill: PASS")
    versions = json.loads((run / "versions.json").read_text())
    assert all(v.startswith("Postfix 3.") for v in versions.values()) and len(versions) == 2
    assert "ansible_password" not in (run / "inventory.json").read_text()
    junit = ET.parse(run / "junit.xml").getroot()
    assert int(junit.find("testsuite").get("failures")) == 0
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert {"failover_seconds", "drain_seconds", "probes_sent", "probes_lost"} <= set(properties)
    assert properties["probes_sent"] == "9" and properties["probes_lost"] == "0"
    assert "mxdrill" in result.stdout and "failover" in result.stdout


def test_summary_html_renders_the_verdict_and_the_timeline(lab: manager.LabPaths, tmp_path: Path) -> None:
    result, _ = run_drill(tmp_path)
    page = (tmp_path / "reports" / "latest" / "summary.html").resolve()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "id=\"verdict\"" in dom.stdout and ">PASS<" in dom.stdout
    assert "<svg" in dom.stdout and "mx1.example.test stopped" in dom.stdout
    SCREENSHOT.parent.mkdir(exist_ok=True)
    subprocess.run(["chromium", *flags, "--window-size=1000,1400", f"--screenshot={SCREENSHOT}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000
