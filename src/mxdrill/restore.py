"""`mxdrill restore`: heal whatever a dead drill left broken, from the pending-heals file.

Safe at any time: each heal is `status || start`, each dead-man's switch is cancelled only after its
host is healthy, and with nothing pending it only confirms every MX's MTA is running.
"""

from __future__ import annotations

from collections.abc import Callable

from mxdrill import pending
from mxdrill.faults import deadman
from mxdrill.inventory import Fleet
from mxdrill.locks import release_host_lock
from mxdrill.mailhost import mail_hosts, support_hosts
from mxdrill.remote import RemoteError, Sessions
from mxdrill.waiting import wait_for


def restore(inventory: Fleet, say: Callable[[str], None] = print) -> int:
    """Returns the number of problems left (0 = every MX of every domain runs and nothing is pending)."""
    path = pending.state_file(inventory.path)
    try:
        owed = pending.load(path)
    except pending.PendingError as error:
        say(f"restore: {error}")
        return 1
    sessions = Sessions(max(domain.command_timeout for domain in inventory.domains))
    hosts = {name: host for domain in inventory.domains for name, host in mail_hosts(domain, sessions).items()}
    support = {name: remote for domain in inventory.domains for name, remote in support_hosts(domain, sessions).items()}
    problems = 0
    try:
        for heal in owed:
            host = hosts.get(heal.host)
            remote = host.remote if host is not None else support.get(heal.host)
            if remote is None:
                say(f"restore: {heal.host} is pending in {path} but not an MX of {inventory.path}; heal it by hand: {heal.heal}")
                problems += 1
                continue
            try:
                remote.check(heal.heal)  # the user database's heal itself waits until it answers
                if host is not None:
                    wait_for(host.mta.running, 30, f"{host.name}: the MTA starting")
                if heal.deadman_kind and heal.deadman_tag:
                    switch = deadman.DeadMan(heal.host, heal.deadman_kind, heal.deadman_tag, 0, heal.heal)  # type: ignore[arg-type]
                    if not deadman.disarm(remote, switch):
                        say(f"restore: {heal.host}: healed, but its dead-man's switch {heal.deadman_tag} is still "
                            f"armed; the entry stays in {path}: run restore again")
                        problems += 1
                        continue
                pending.remove(path, heal.host, heal.fault, heal.run)
                release_host_lock(remote, heal.run)  # the dead run's hold on the host ends with its heal
                say(f"restore: healed {heal.fault} on {heal.host} (`{heal.heal}`)")
            except Exception as error:  # report every host, then fail: one broken host must not hide another
                say(f"restore: {heal.host}: {error}")
                problems += 1
        for host in hosts.values():
            try:
                running = host.mta.running()
            except RemoteError as error:
                say(f"restore: {error}")
                problems += 1
                continue
            say(f"restore: {host.name}: MTA {'running' if running else 'NOT running'}")
            problems += 0 if running else 1
        if not owed:
            say(f"restore: nothing pending in {path}")
    finally:
        sessions.close_all()
    return problems
