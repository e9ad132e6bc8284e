"""A dead-man's switch on the host: the heal fires by itself unless the harness cancels it.

If the harness dies (SIGKILL, a lost SSH link, a crashed laptop), nobody would restart the primary.
So before a fault is injected, the host itself is told to run the heal after `window` seconds;
the harness cancels that once its own heal has run. With systemd (real hosts) this is a transient
timer (`systemd-run --on-active=`); without it (the lab, containers) a detached `sleep && heal`.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from mxdrill.remote import Remote, RemoteError

DEFAULT_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class DeadMan:
    """An armed switch: which host, which mechanism, and the name that finds it again."""

    host: str
    kind: Literal["systemd-run", "sleep"]
    tag: str
    window: float
    command: str

    def describe(self) -> str:
        return f"dead-man's switch on {self.host} ({self.kind}, {self.window:g}s): {shown(self.command)}"


def shown(command: str) -> str:
    """A heal command on one line, for people (the plan, the history): its `{ …\n}` groups unwrapped."""
    return re.sub(r"\{ (.*?)\n\}", r"\1", command, flags=re.DOTALL)


def has_systemd(remote: Remote) -> bool:
    return remote.run("[ -d /run/systemd/system ] && command -v systemd-run >/dev/null").rc == 0


# A transient timer's default accuracy is one minute: `--on-active=3s` fired after 5-6 s here.
TIMER_ACCURACY = "AccuracySec=100ms"


def arm(remote: Remote, tag: str, command: str, window: float = DEFAULT_WINDOW_SECONDS) -> DeadMan:
    """Schedule the heal `command` on the host; returns what is needed to cancel it (and to show it in a plan)."""
    if has_systemd(remote):
        remote.check(
            # an explicit description: the default one is the heal text, whose newlines garble the journal
            f"systemd-run --quiet --unit={shlex.quote(tag)} --description={shlex.quote('mxdrill dead-man switch: heal ' + remote.host.name)} "
            f"--on-active={int(window * 1000)}ms "
            f"--timer-property={TIMER_ACCURACY} /bin/sh -c {shlex.quote(_attempts(command))}"
        )
        return DeadMan(remote.host.name, "systemd-run", tag, window, command)
    # $0 of the detached shell is the tag, so cancel finds exactly this process and nothing else.
    remote.check(
        f"nohup setsid /bin/sh -c {shlex.quote(_sleeping_script(tag, command, window))} {shlex.quote(tag)} "
        "</dev/null >/dev/null 2>&1 &"
    )
    switch = DeadMan(remote.host.name, "sleep", tag, window, command)
    if not _running(remote, tag):
        raise RemoteError(f"{remote.host.name}: the dead-man's switch {tag} did not start (`/bin/sh`, `sleep` and "
                          "`setsid` must run there); nothing was harmed")
    return switch


# Nobody is left to retry a heal that did nothing: the switch runs it again, a bounded number of times,
# whatever it returned. The heal is idempotent (`status || start`), and a start can report success and
# start nothing: Debian's `service postfix start` asks `master -t` once, and a `postfix status` beside
# it (monitoring) makes it skip a stopped Postfix and print "." with exit 0 (seen in this lab's CI).
HEAL_ATTEMPTS = 3
HEAL_RETRY_SECONDS = 1


def _attempts(command: str) -> str:
    """The heal HEAL_ATTEMPTS times, HEAL_RETRY_SECONDS apart, whatever each returned; the exit status is
    the last attempt's (the transient unit shows it). Seen in CI: `systemctl start postfix@-` failing
    with "already running" of a stopped Postfix while a status poller held master.pid's lock."""
    return (f"for attempt in {' '.join(str(n) for n in range(1, HEAL_ATTEMPTS + 1))}; do {{ {command}\n}}; rc=$?; "
            f"echo \"mxdrill dead-man heal attempt $attempt exited $rc\"; "
            f"[ $attempt = {HEAL_ATTEMPTS} ] || sleep {HEAL_RETRY_SECONDS}; done; exit $rc")


def _sleeping_script(tag: str, command: str, window: float) -> str:
    """`sleep; heal`, telling the host's mail log that it fired and how the heal went.

    POSIX sleep takes whole seconds: round up, so the heal never fires before the window is over.
    The log line is the postmaster's evidence that the host healed itself (and the reason if not).
    """
    say = f"logger -p mail.notice -t mxdrill -- \"dead-man switch {tag}"
    return (f"{say} armed for {math.ceil(window)}s\"; sleep {math.ceil(window)}; {say} fired: healing\"; "
            f"for attempt in {' '.join(str(n) for n in range(1, HEAL_ATTEMPTS + 1))}; do "
            f"out=$({{ {command}\n}} 2>&1); rc=$?; {say} heal attempt $attempt exited $rc: $out\"; "
            f"sleep {HEAL_RETRY_SECONDS}; done")


def _running(remote: Remote, tag: str) -> bool:
    """Whether the switch's shell runs (asked for up to 1 s: it was just started in the background)."""
    return remote.run(_within_a_second(f"pgrep -f -- {shlex.quote(_self_excluding(tag))} >/dev/null")).rc == 0


def _within_a_second(condition: str) -> str:
    """A shell loop that exits 0 as soon as `condition` holds, 1 if it still does not after 1 s."""
    return f"for _ in 1 2 3 4 5 6 7 8 9 10; do {condition} && exit 0; sleep 0.1; done; exit 1"


def disarm(remote: Remote, switch: DeadMan) -> bool:
    """Cancel the switch after the harness's own heal, and check it is gone: True when nothing is armed.

    Harmless if it already fired. False (still armed) is the caller's to report: that switch would
    run its heal later, perhaps in the middle of the next drill's outage.
    """
    if switch.kind == "systemd-run":
        unit = shlex.quote(switch.tag)
        command = f"systemctl stop {unit}.timer {unit}.service 2>/dev/null; ! systemctl is-active --quiet {unit}.timer"
    else:
        pattern = shlex.quote(_self_excluding(switch.tag))
        # setsid made the shell a process group leader: end the group, so its `sleep` goes too;
        # a signal is only sent, so give them a moment to go before asking again
        command = (f"for pid in $(pgrep -f -- {pattern}); do kill -- -$pid 2>/dev/null; done; "
                   + _within_a_second(f"! pgrep -f -- {pattern} >/dev/null"))
    return remote.run(command).rc == 0


def _self_excluding(tag: str) -> str:
    """A pattern for the tag that does not match itself: the shell running pkill carries it too."""
    return f"[{tag[0]}]{tag[1:]}"


class Switched:
    """The dead-man's switch of one host fault, for any fault dataclass with `remote`, `switch` and
    `heal_command()`: it arms that heal on the host and cancels it, whatever the harm is."""

    remote: Remote
    switch: DeadMan | None

    def heal_command(self) -> str:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return self.remote.host.name

    def arm(self, tag: str, window: float) -> DeadMan:
        self.switch = arm(self.remote, tag, self.heal_command(), window)
        return self.switch

    def disarm(self) -> bool:
        return self.switch is None or disarm(self.remote, self.switch)
