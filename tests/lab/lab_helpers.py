"""Helpers for lab tests: real SSH, real SMTP, polling with a deadline."""

from __future__ import annotations

import shlex
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mxdrill.lab import manager
from mxdrill.lab import topology as topo

REPO = Path(__file__).resolve().parents[2]


def ssh(paths: manager.LabPaths, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command on a lab host with OpenSSH, strict host-key checking against the lab's known_hosts."""
    argv = ["ssh", "-F", str(paths.ssh_dir / "ssh_config"), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", host, command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=check)


def lab_inventory(paths: manager.LabPaths, output: Path) -> Path:
    """The running lab's inventory, as `mxdrill lab inventory --output` writes it for a user."""
    made = subprocess.run([sys.executable, "-m", "mxdrill.cli", "lab", "inventory", "--state-dir", str(paths.state_dir),
                           "--output", str(output)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return output


def error_line(stdout: str, check: str) -> str:
    """The summary's `  ERROR <check> on <host>: ...` line of a run's output ('' if none)."""
    return next((line for line in stdout.splitlines() if line.strip().startswith(f"ERROR {check}")), "")


def send_via_sender(subject: str) -> str:
    """Hand one mail to the lab's sending MTA, which routes it by MX like any Internet sender; returns its Message-Id."""
    message_id = f"{uuid.uuid4().hex}@mxdrill.test"
    message = EmailMessage()
    message["From"] = "tester@harness.example.test"
    message["To"] = topo.RECIPIENTS[0]
    message["Subject"] = subject
    message["Message-Id"] = f"<{message_id}>"
    message.set_content(subject)
    with smtplib.SMTP(topo.host("sender").address(), 25, timeout=10) as client:
        client.send_message(message)
    return message_id


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> object:
    """Poll a condition until it holds or the deadline passes (fails naming what was awaited)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.1)


def maildir_copies(paths: manager.LabPaths, message_id: str) -> int:
    """How many files in the shared store (read on the storage host itself) carry this Message-Id."""
    base = shlex.quote(topo.STORAGE_EXPORT)
    needle = shlex.quote(f"Message-Id: <{message_id}>")
    result = ssh(paths, "storage", f"grep -rilF {needle} {base} | wc -l")
    return int(result.stdout.strip() or 0)
