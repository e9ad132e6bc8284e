"""Preflight: each delivering MX looks the domain and a probe recipient up, and they all get the same answer.

Seed 003 Scénario 2 keeps the users in one shared database (`mysql:` maps on every MX). What breaks
there is quiet: one MX whose map file points at another database, holds a stale password, or
queries another table delivers a user somewhere else, or refuses them, and nothing says so until
the primary is down. Postfix answers for itself: `postmap -q` with the very maps in `postconf`,
on each MX, and the answers compared. The map files' contents (and the database password in
them) are never read or reported: only the map names and what the lookups return.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from mxdrill.finding import Finding, problem
from mxdrill.remote import Remote

CHECK = "user-lookups"


@dataclass(frozen=True)
class Lookup:
    """One `postmap -q key map` on one MX: what it printed, and the fatal error it reported, if any."""

    map: str
    value: str
    error: str = ""


def lookup_command(key: str, table: str) -> str:
    return f"postmap -q {shlex.quote(key)} {shlex.quote(table)}"


def ask(remote: Remote, key: str, tables: list[str]) -> list[Lookup]:
    found = []
    for table in tables:
        result = remote.run(lookup_command(key, table))
        said = [line.split(": ", 1)[-1].strip() for line in result.stderr.splitlines() if "warning:" in line or "fatal:" in line]
        failed = any("fatal:" in line for line in result.stderr.splitlines())
        found.append(Lookup(table, result.stdout.strip() if result.rc == 0 else "", "; ".join(said) if failed else ""))
    return found


def answer(lookups: list[Lookup]) -> str:
    """The first table's answer, as Postfix takes it (the first that has one)."""
    return next((lookup.value for lookup in lookups if lookup.value), "")


def judge(mx: str, domain: str, recipient: str, domains_setting: str, domain_lookups: list[Lookup],
          mailbox_lookups: list[Lookup]) -> Finding:
    """One MX's lookups: a lookup error, a domain it does not take, a recipient it has no mailbox for."""
    for lookup in (*domain_lookups, *mailbox_lookups):
        if lookup.error:
            return problem(CHECK, mx, f"{mx} cannot look up {domain} or {recipient} in {lookup.map}: {lookup.error}",
                           f"make the database behind {lookup.map} reachable from {mx}, with the user and password "
                           "its map file names (test: `postmap -q` on the MX)")
    listed = domain in re.split(r"[\s,]+", domains_setting.lower())
    if not listed and not answer(domain_lookups):
        return problem(CHECK, mx, f"{mx} does not take {domain}: virtual_mailbox_domains = {domains_setting} has no entry for it",
                       f"add {domain} where {mx}'s virtual_mailbox_domains looks (its table, or the setting itself)")
    if not answer(mailbox_lookups):
        tables = ", ".join(lookup.map for lookup in mailbox_lookups) or "(none)"
        return problem(CHECK, mx, f"{mx} has no mailbox for {recipient}: virtual_mailbox_maps ({tables}) return nothing",
                       f"add {recipient} to the table {mx}'s virtual_mailbox_maps ask")
    return Finding(CHECK, mx, True, f"{mx} takes {domain} and delivers {recipient} into {answer(mailbox_lookups)}")


def parity(answers: dict[str, str], recipient: str, primary: str) -> list[Finding]:
    """Every MX must put the recipient into the same mailbox as the primary: otherwise its mail lands elsewhere."""
    theirs = answers.get(primary)
    if theirs is None:
        return []
    return [problem(CHECK, mx, f"{mx} delivers {recipient} into {mine}, {primary} into {theirs}: while {primary} is down, "
                    f"the user's mail goes where they never read it", f"make {mx}'s virtual_mailbox_maps ask the same "
                    f"table as {primary}'s (seed 003 Scénario 2: one database for every MX)")
            for mx, mine in answers.items() if mx != primary and mine and mine != theirs]
