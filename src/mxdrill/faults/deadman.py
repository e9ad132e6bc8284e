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

from mxdrill.remote import Remote

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
            f"--timer-property={TIMER_ACCURACY} /bin/sh -c {shlex.quote(command)}"
        )
        return DeadMan(remote.host.name, "systemd-run", tag, window, command)
    # $0 of the detached shell is the tag, so cancel finds exactly this process and nothing else.
    # POSIX sleep takes whole seconds: round up, so the heal never fires before the window is over
    script = f"sleep {math.ceil(window)}; {command}"
    remote.check(
        f"nohup setsid /bin/sh -c {shlex.quote(script)} {shlex.quote(tag)} </dev/null >/dev/null 2>&1 &"
    )
    return DeadMan(remote.host.name, "sleep", tag, window, command)


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
        # pkill only signals: give the shell a moment to go before asking again (bounded, 1 s).
        command = (f"pkill -f -- {pattern}; for _ in 1 2 3 4 5 6 7 8 9 10; do "
                   f"pgrep -f -- {pattern} >/dev/null || exit 0; sleep 0.1; done; exit 1")
    return remote.run(command).rc == 0


def _self_excluding(tag: str) -> str:
    """A pattern for the tag that does not match itself: the shell running pkill carries it too."""
    return f"[{tag[0]}]{tag[1:]}"
