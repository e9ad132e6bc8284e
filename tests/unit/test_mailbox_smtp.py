"""Pure parts of probes and mailbox scans: tokens, queue ids from 250 replies, counting by location."""

from __future__ import annotations

from mxdrill import smtp
from mxdrill.faults.deadman import _self_excluding
from mxdrill.inventory import ServiceControl
from mxdrill.mta.postfix import heal_command
from mxdrill.store import maildir as mailbox
from mxdrill.store import normalize_source


def test_probe_carries_its_token_in_message_id_header_and_subject() -> None:
    probe = smtp.make_probe("20261124T150000-abc123", 7, "probe@example.test", "mxdrill@mxdrill.invalid", "outage")
    message = smtp.build_message(probe)
    assert probe.token == "mxdrill-20261124T150000-abc123-007"
    assert message["Message-Id"] == f"<{probe.token}@mxdrill.probe>"
    assert message[smtp.PROBE_HEADER] == probe.token
    assert probe.token in message["Subject"] and "outage" in message["Subject"]


def test_queue_id_comes_from_the_accepting_reply() -> None:
    target = smtp.MxTarget(20, "mx2.example.test", "198.51.100.12", "mx2.example.test")
    probe = smtp.make_probe("r", 1, "probe@example.test", "a@b", "outage")
    delivery = smtp.Delivery(probe, [
        smtp.Attempt(target, "unreachable", None, "ConnectionRefusedError", 0.0, 0.001),
        smtp.Attempt(target, "accepted", 250, "2.0.0 Ok: queued as 4F2A1FDE3BF", 0.0, 0.01),
    ])
    assert delivery.accepted is delivery.attempts[1]
    assert delivery.queue_id == "4F2A1FDE3BF"


SCAN = """#mount fuse.sshfs vmail@198.51.100.20:/srv/vhosts
/var/mail/vhosts/example.test/probe/new/1.V1.mx1:Message-Id: <mxdrill-run1-001@mxdrill.probe>
/var/mail/vhosts/example.test/probe/cur/2.V2.mx1:2,S:Message-ID: <mxdrill-run1-002@mxdrill.probe>
/var/mail/vhosts/example.test/probe/new/3.V3.mx2:Message-Id: <mxdrill-run1-002@mxdrill.probe>
"""


def test_scan_counts_copies_per_token_and_names_the_shared_location() -> None:
    scan = mailbox.parse_scan("mx1.example.test", "/var/mail/vhosts", SCAN, "fuse.sshfs")
    assert scan.location == "198.51.100.20:/srv/vhosts"
    assert scan.copies == {"mxdrill-run1-001": 1, "mxdrill-run1-002": 2}
    assert scan.paths["mxdrill-run1-002"][0].endswith("/cur/2.V2.mx1:2,S")


def test_a_local_disk_is_its_own_location_per_host() -> None:
    scan = mailbox.parse_scan("mx2.example.test", "/var/mail/vhosts", "#mount ext4 /dev/vda\n", "nfs4")
    assert scan.location == "mx2.example.test:/var/mail/vhosts (local ext4)"
    assert not scan.copies


def test_nfs_sources_with_and_without_user_are_the_same_store() -> None:
    assert normalize_source("vmail@10.0.0.5:/export") == normalize_source("10.0.0.5:/export")


def test_maildir_dirs_are_new_and_cur_of_each_recipient() -> None:
    assert mailbox.maildir_dirs("/var/mail/vhosts/", ["example.test/probe/"]) == [
        "/var/mail/vhosts/example.test/probe/new", "/var/mail/vhosts/example.test/probe/cur",
    ]


def test_dead_man_heal_is_idempotent_and_its_pattern_does_not_match_itself() -> None:
    service = ServiceControl(stop="systemctl stop postfix", start="systemctl start postfix", status="postfix status")
    assert heal_command(service) == ("( for _ in 1 2 3; do { postfix status\n} || exit 1; sleep 0.1; done ) >/dev/null 2>&1"
                                     " || { systemctl start postfix\n}")
    pattern = _self_excluding("mxdrill-deadman-r1-mx1")
    assert pattern == "[m]xdrill-deadman-r1-mx1"
    import re

    assert re.search(pattern, "sh -c sleep 300; x mxdrill-deadman-r1-mx1")
    assert not re.search(pattern, f"pkill -f -- {pattern}")


def test_running_counts_only_when_confirmed_every_time(tmp_path) -> None:
    """`postfix status` says "running" of a stopped Postfix when another status call holds master.pid's
    lock: one false "running" among the confirmations must not count (the shell really runs here)."""
    import subprocess

    from mxdrill.mta.postfix import confirmed

    answers = tmp_path / "answers"
    answers.write_text("0\n1\n0\n")  # running, not running, running: a stopped Postfix fooled twice
    status = f"read rc < {answers} && sed -i 1d {answers} && exit $rc"
    assert subprocess.run(["sh", "-c", confirmed(f"sh -c '{status}'")]).returncode == 1
    answers.write_text("0\n0\n0\n")
    assert subprocess.run(["sh", "-c", confirmed(f"sh -c '{status}'")]).returncode == 0


def test_probes_to_one_mx_never_open_more_connections_than_a_real_mta_would(monkeypatch) -> None:
    """300 probes at once open at most MX_CONCURRENCY connections to the MX (issue 13: --probes 300)."""
    import asyncio

    from mxdrill import smtp

    open_now, most = 0, 0

    async def transaction(target, probe, **_kwargs):
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        await asyncio.sleep(0.001)
        open_now -= 1
        return smtp.Attempt(target, "accepted", 250, "ok", 0.0, 0.0)

    monkeypatch.setattr(smtp, "_transaction", transaction)
    target = smtp.MxTarget(10, "mx1.example.test", "198.51.100.11", "mx1.example.test")
    probes = [smtp.make_probe("r", n, "probe@example.test", smtp.HARNESS_SENDER, "before") for n in range(300)]

    async def all_of():
        return await asyncio.gather(*(smtp.deliver(p, [target], helo="h") for p in probes))

    assert all(d.accepted for d in asyncio.run(all_of()))
    assert most == smtp.MX_CONCURRENCY


def test_a_scan_reads_only_what_arrived_since_the_run_began_by_the_maildir_names_alone(tmp_path) -> None:
    """Issue 13: the cost grows with the probes, not with the mailbox. The real shell commands, on a local Maildir."""
    import subprocess
    import time

    base = tmp_path / "vhosts"
    new = base / "example.test" / "probe" / "new"
    new.mkdir(parents=True)
    run_id = "20261202T000000-abc123"

    def deliver(name: str, token: str) -> None:
        (new / name).write_text(f"Subject: x\nMessage-Id: <mxdrill-{run_id}-{token}@mxdrill.probe>\n\nbody\n")

    now = int(time.time())
    deliver(f"{now - 86400}.M1P1.mx1:2,S", "001")  # yesterday's, as its name says: never read
    dirs = mailbox.maildir_dirs(str(base), ["example.test/probe/"])
    sh = lambda command: subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout  # noqa: E731
    sh(mailbox.mark_command(str(base), run_id, "mx1"))
    deliver(f"{now}.M2P1.mx1", "002")  # delivered by this host now
    deliver(f"{now - 60}.M3P1.mx2", "003")  # by another MX whose clock is a minute behind
    deliver("not-a-maildir-name", "004")  # no time in its name: read, to be safe
    tokens = lambda out: sorted(t.rsplit("-", 1)[1] for t in mailbox.parse_scan("mx1", str(base), out, "ext4").copies)  # noqa: E731
    assert tokens(sh(mailbox.scan_command(str(base), dirs, run_id, "mx1"))) == ["002", "003", "004"]
    cursor = (base / f".mxdrill-since-{run_id}-mx1").read_text()
    sh(mailbox.mark_command(str(base), run_id, "mx1"))  # a second drill of the run keeps the first's cursor
    assert (base / f".mxdrill-since-{run_id}-mx1").read_text() == cursor
    assert tokens(sh(mailbox.scan_command(str(base), dirs, run_id, "mx2"))) == ["001", "002", "003", "004"]  # no cursor: all


def test_the_systemd_dead_man_runs_its_heal_three_times_whatever_each_returned() -> None:
    """A start fooled once by a status poller (\"already running\" of a stopped Postfix) is retried."""
    import subprocess

    from mxdrill.faults import deadman

    fooled_once = "if [ -e $T ]; then echo started; else : > $T; echo 'already running' >&2; false; fi"
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["sh", "-c", deadman._attempts(fooled_once)], capture_output=True, text=True,
                                env={"T": f"{tmp}/seen", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.count("started") == 2
    assert "heal attempt 1 exited 1" in result.stdout and "heal attempt 3 exited 0" in result.stdout


def test_a_poll_lists_again_only_the_directories_that_changed(tmp_path) -> None:
    """50,000 old messages in cur/ cost one stat per poll: an unchanged, settled directory is answered
    from the last scan; a file added (new mtime) makes it listed again."""
    import os
    import subprocess
    import time

    base = tmp_path / "vhosts"
    run_id = "20261202T000000-abc123"
    dirs = mailbox.maildir_dirs(str(base), ["example.test/probe/"])
    for d in dirs:
        os.makedirs(d)
    sh = lambda command: subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout  # noqa: E731
    cache = mailbox.DirCache()

    def poll() -> tuple[list[str], str]:
        raw = sh(mailbox.scan_command(str(base), dirs, run_id, "mx1", cache.mtimes))
        scan = mailbox.parse_scan("mx1", str(base), cache.merge(raw), "ext4")
        return sorted(scan.copies), raw

    def deliver(directory: str, token: str, age: int) -> None:
        path = f"{directory}/{int(time.time())}.M{token}P1.mx1"
        with open(path, "w") as handle:
            handle.write(f"Message-Id: <mxdrill-{run_id}-{token}@mxdrill.probe>\n\nx\n")
        past = time.time() - age
        os.utime(directory, (past, past))

    new, cur = dirs
    deliver(cur, "001", 60)
    deliver(new, "002", 60)
    assert poll()[0] == [f"mxdrill-{run_id}-001", f"mxdrill-{run_id}-002"]
    tokens, raw = poll()
    assert tokens == [f"mxdrill-{run_id}-001", f"mxdrill-{run_id}-002"] and raw.count("#same ") == 2, raw
    deliver(new, "003", 10)  # settled (10 s old) but changed: listed again, cur/ still not
    tokens, raw = poll()
    assert tokens[-1] == f"mxdrill-{run_id}-003" and len(tokens) == 3
    assert f"#same {cur}" in raw and f"#same {new}" not in raw
