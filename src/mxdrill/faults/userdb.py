"""The `userdb` fault: the database the MXs look their domains and users up in goes down (seed 003
Scénario 2, users in a shared MySQL/MariaDB), while every MTA keeps running.

What must happen is what Postfix promises for a lookup table it cannot reach: a temporary failure.
Each MX answers RCPT with 4xx (`451 4.3.0 Temporary lookup failure`), so senders keep the mail and
retry, and mail an MX had already queued is deferred, not bounced. A 5xx here — a map that treats
"no answer" as "no such user" — would bounce the domain's mail for as long as the database is away.
The heal starts the database and waits until it answers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mxdrill.faults import deadman
from mxdrill.remote import Remote
from mxdrill.waiting import wait_for

SERVICE = "mariadb"  # Debian's unit and init script (MySQL's is `mysql`; declare your own through the inventory later)
ANSWERS = "mariadb-admin ping --connect-timeout=2 >/dev/null 2>&1 || mysqladmin ping --connect-timeout=2 >/dev/null 2>&1"


def service_command(action: str) -> str:
    """The host's own way to start or stop the database: systemd where it runs, else its init script."""
    return f"if [ -d /run/systemd/system ]; then systemctl {action} {SERVICE}; else service {SERVICE} {action}; fi"


def start_command() -> str:
    """Start the database unless it answers, and wait (≤ 30 s) until it does: also the dead-man's heal. A
    subshell, so that its `exit` ends this attempt only, not the dead-man's loop of retries around it."""
    return (f"( {{ {ANSWERS}; }} || {{ {service_command('start')} >/dev/null 2>&1; "
            f"for _ in $(seq 60); do {{ {ANSWERS}; }} && exit 0; sleep 0.5; done; exit 1; }} )")


@dataclass
class UserDbDown(deadman.Switched):
    """Stop the user database over SSH; it counts as down once it no longer answers a ping."""

    remote: Remote
    settle_seconds: float = 30.0
    name: str = "userdb"
    switch: deadman.DeadMan | None = field(default=None, repr=False)

    def heal_command(self) -> str:
        return start_command()

    def describe(self) -> str:
        return f"run `{service_command('stop')}` (the MXs' domain and user lookups fail)"

    def answers(self) -> bool:
        return self.remote.run(ANSWERS).rc == 0

    def inject(self) -> None:
        self.remote.check(service_command("stop"))
        wait_for(lambda: not self.answers(), self.settle_seconds, f"{self.host}: the user database stopping")

    def heal(self) -> None:
        self.remote.check(self.heal_command(), timeout=max(self.settle_seconds, 35.0))
