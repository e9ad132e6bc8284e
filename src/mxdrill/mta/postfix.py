"""Postfix as the drill's `Mta`: what it tells us over SSH (`postfix status`, `postqueue -j`,
`postconf`, `postmap -q`) and its log lines, parsed.

The parsers are pure functions (tested on recorded output); `Postfix` runs the commands on one
host. "Is it running" is asked of Postfix itself, never of an init system: on Debian,
`postfix.service` is a dummy unit that stays "active" while the real instance is down.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from mxdrill.inventory import ServiceControl
from mxdrill.mta import DeliveryRole, LogEvent, QueuedMessage
from mxdrill.remote import Remote


class PostfixParseError(ValueError):
    """Output that is not what this Postfix command prints; the message quotes the line."""


def parse_postqueue_json(text: str) -> list[QueuedMessage]:
    """`postqueue -j` (Postfix ≥ 3.1): one JSON object per queued message."""
    messages = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            messages.append(QueuedMessage(
                queue_id=raw["queue_id"], queue_name=raw["queue_name"], arrival_time=int(raw.get("arrival_time", 0)),
                sender=raw.get("sender", ""), message_size=int(raw.get("message_size", 0)),
                recipients=[(r.get("address", ""), r.get("delay_reason", "")) for r in raw.get("recipients", [])],
            ))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PostfixParseError(f"postqueue -j line {number} is not a queue entry ({error}): {line[:200]}") from None
    return messages


# Short ids are hex; long ids (enable_long_queue_ids) use a base-52 alphabet without vowels.
QUEUE_ID = r"(?:[0-9A-F]{6,12}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,17})"
SYSLOG_PREFIX = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\S+|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<program>postfix[^\[:\s]*/[^\[:\s]+|postfix[^\[:\s]*)(?:\[(?P<pid>\d+)\])?: (?P<rest>.*)$"
)
QUEUE_PREFIX = re.compile(rf"^(?P<qid>{QUEUE_ID}): (?P<body>.*)$")
FIELD = re.compile(r"(?P<key>to|relay|dsn|status|client|message-id)=(?P<value><[^>]*>|[^,\s]+)")
STATUS_DETAIL = re.compile(r"status=\w+ \((?P<detail>.*)\)\s*$")


def parse_log_line(line: str) -> LogEvent | None:
    """One syslog line (traditional or RFC 3339 timestamps); None if Postfix did not write it."""
    head = SYSLOG_PREFIX.match(line.rstrip("\n"))
    if not head:
        return None
    rest = head["rest"]
    queued = QUEUE_PREFIX.match(rest)
    body = queued["body"] if queued else rest
    fields = {m["key"]: m["value"].strip("<>") for m in FIELD.finditer(body)} if queued else {}
    detail = STATUS_DETAIL.search(body) if queued else None
    return LogEvent(
        timestamp=head["ts"], host=head["host"], program=head["program"],
        pid=int(head["pid"]) if head["pid"] else None,
        queue_id=queued["qid"] if queued else None,
        message_id=fields.get("message-id"), to=fields.get("to"), relay=fields.get("relay"),
        status=fields.get("status"), dsn=fields.get("dsn"), detail=detail["detail"] if detail else None,
        client=fields.get("client"), removed=bool(queued) and body.strip() == "removed", raw=line.rstrip("\n"),
    )


TABLE = re.compile(r"^[a-z0-9_]+:\S+$")


def tables_of(setting: str) -> list[str]:
    """The `type:name` tables of a Postfix list setting (`a.example, mysql:/etc/x.cf`); plain names are left out."""
    return [item for item in re.split(r"[\s,]+", setting.strip()) if TABLE.match(item)]


def parse_postconf(text: str) -> dict[str, str]:
    """`postconf -n` / `postconf name ...`: `name = value` per line (value may be empty)."""
    settings = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            settings[name.strip()] = value.strip()
    return settings


# `postfix status` asks `master -t`, which *locks* master.pid to see whether a master holds it: two
# status calls at once see each other's lock and one says "running" of a stopped Postfix (measured
# on the lab: 5 of 60 calls, with a monitoring-like loop beside them). A stopped Postfix read as
# running would never be started by a heal, and the harness would cancel the dead-man's switch:
# so "running" counts only when the status says so this many times in a row; "not running" is never
# a false answer (a live master's lock fails every tester).
STATUS_CONFIRMATIONS = 3


def confirmed(status: str) -> str:
    """`status` asked STATUS_CONFIRMATIONS times, 0.1 s apart: exit 0 only if every answer was 0."""
    rounds = " ".join(str(n) for n in range(1, STATUS_CONFIRMATIONS + 1))
    return f"( for _ in {rounds}; do {{ {status}\n}} || exit 1; sleep 0.1; done )"


def heal_command(service: ServiceControl) -> str:
    """Idempotent: start only if not running (confirmed), so an early manual restart is never disturbed.

    Each declared command stands in its own `{ …\n}` group: a value ending in a `# comment`, a `;`
    or an `&&` cannot swallow or join what follows (`postfix status # ask Postfix || start` would
    never start anything) — this is what the dead-man's switch and `mxdrill restore` run.
    """
    return f"{confirmed(service.status)} >/dev/null 2>&1 || {{ {service.start}\n}}"


# One command tells whether systemd runs the host and which units run Postfix ("-": no systemd).
UNIT_PROBE = (
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then "
    "systemctl list-units --all --type=service --plain --no-legend 'postfix@*' postfix.service 2>/dev/null "
    "| awk '{print $1}'; echo .; else echo -; fi"
)


def postfix_unit(listing: str) -> str | None:
    """The unit that really runs (default-instance) Postfix, from UNIT_PROBE's output; None without systemd.

    Debian runs Postfix in `postfix@-.service` under a dummy `postfix.service` that stays active
    when the instance dies, so `systemctl start postfix` would not bring a killed Postfix back;
    RHEL runs it in `postfix.service` itself. Detected, not hard-coded: packaging changes.
    """
    units = listing.split()
    if not units or units == ["-"]:
        return None
    units.remove(".")
    instances = [u for u in units if u.startswith("postfix@")]
    if "postfix@-.service" in instances:
        return "postfix@-.service"
    if instances:
        return instances[0]
    return "postfix.service" if "postfix.service" in units else None


def service_for(declared: ServiceControl, unit: str | None) -> ServiceControl:
    """Declared commands win; the rest come from the unit (systemd) or from `postfix` itself."""
    stop = f"systemctl stop {unit}" if unit else "postfix stop"
    start = f"systemctl start {unit}" if unit else "postfix start"
    return ServiceControl(stop=declared.stop or stop, start=declared.start or start, status=declared.status)


UNDETECTED = "<the Postfix unit found on the host>"  # how a plan names a unit it has not looked up (a dry run touches nothing)


@dataclass
class Postfix:
    """The Postfix instance on one host, driven by the host's declared or detected service commands.

    With `detect=False` (the dry-run plan) nothing is asked of the host: undeclared commands are
    shown as `systemctl stop the Postfix unit`.
    """

    remote: Remote
    detect: bool = True
    _service: ServiceControl | None = field(default=None, init=False, repr=False)

    @property
    def host(self) -> str:
        return self.remote.host.name

    @property
    def service(self) -> ServiceControl:
        declared = self.remote.host.service
        if declared.stop and declared.start:
            return declared
        if not self.detect:
            return service_for(declared, UNDETECTED)
        if self._service is None:
            self._service = service_for(declared, postfix_unit(self.remote.check(UNIT_PROBE)))
        return self._service

    def version(self) -> str:
        return "Postfix " + self.remote.check("postconf -h mail_version").strip()

    def running(self) -> bool:
        """Postfix says it runs, STATUS_CONFIRMATIONS times in a row (see `confirmed`)."""
        return self.remote.run(confirmed(self.service.status)).rc == 0

    def start(self) -> None:
        self.remote.check(self.service.start)

    def stop(self) -> None:
        self.remote.check(self.service.stop)

    def stop_command(self) -> str:
        return self.service.stop or ""

    def kill_command(self) -> str:
        """SIGKILL to the master process, named by Postfix's own pid file, and to its process group (the
        master is its leader): no clean shutdown, the whole instance gone at once, as systemd's
        control-group kill leaves it after a crash. The master alone is not enough: its smtpd children
        keep serving a stream of mail until each has used up its max_use, for a minute or more."""
        return ('pid=$(tr -d " " < "$(postconf -h queue_directory)/pid/master.pid") && '
                '[ "$(cat /proc/$pid/comm 2>/dev/null)" = master ] && kill -KILL -- "-$pid" '
                '|| { echo "no Postfix master runs as pid ${pid:-?} (its pid file is stale)" >&2; exit 1; }')

    def listening(self) -> bool:
        """Something still takes connections on port 25 (a killed master's smtpd children, for a moment)."""
        return self.remote.run("ss -Hltn 'sport = :25' | grep -q .").rc == 0

    def heal_command(self) -> str:
        return heal_command(self.service)

    def queue(self) -> list[QueuedMessage]:
        return parse_postqueue_json(self.remote.check("postqueue -j"))

    def flush(self) -> None:
        self.remote.check("postqueue -f")

    def config(self, *names: str) -> dict[str, str]:
        """`postconf name ...`: the values in effect (defaults included)."""
        return parse_postconf(self.remote.check("postconf " + " ".join(shlex.quote(n) for n in names)))

    def delivery_role(self, domain: str, mailstore: tuple[str, str] | None = None) -> DeliveryRole:
        """'delivers' (into mailboxes here), 'relays' (queues for a lower MX), 'forwards' (to the declared mail
        store, `mailstore` = (name, address), that its transport_maps name for the domain) or 'refuses' it.
        A backup whose transport_maps pin the domain to its primary still only relays."""
        values = self.config("virtual_mailbox_domains", "mydestination", "relay_domains")
        listed = {name: self.lists(value, domain) for name, value in values.items()}
        if listed.get("virtual_mailbox_domains") or listed.get("mydestination"):
            return "delivers"
        if not listed.get("relay_domains"):
            return "refuses"
        nexthop = self.transport_for(domain) if mailstore is not None else ""
        return "forwards" if mailstore is not None and any(mark in nexthop for mark in mailstore) else "relays"

    def lists(self, setting: str, domain: str) -> bool:
        """Whether a domain-list setting names `domain`: literally, or in one of its tables (`mysql:...`), asked
        with `postmap -q` as Postfix itself would look (seed 003 Scénario 2 keeps the domains in MySQL)."""
        if domain in (item.lower() for item in re.split(r"[\s,]+", setting.strip())):
            return True
        return any(self._table_lists(table, domain) for table in tables_of(setting))

    def _table_lists(self, table: str, domain: str) -> bool:
        """The table answers for the domain, or cannot be asked (then it is taken as listing it: the MX is set
        up to take the domain from that table, and the user-lookups check names why it does not answer)."""
        result = self.remote.run(f"postmap -q {shlex.quote(domain)} {shlex.quote(table)}")
        return bool(result.stdout.strip()) or "fatal:" in result.stderr

    def transport_for(self, domain: str) -> str:
        """What transport_maps say for the domain (`smtp:[store]:25`), or '' (the MX records decide)."""
        return self.remote.run(f"maps=$(postconf -h transport_maps); [ -n \"$maps\" ] && "
                               f"postmap -q {shlex.quote(domain)} $maps").stdout.strip()

    def mailbox_paths(self, recipients: list[str]) -> list[str]:
        """Ask virtual_mailbox_maps where each recipient's Maildir is; domain/local/ where it says nothing."""
        quoted = " ".join(shlex.quote(r) for r in recipients)
        output = self.remote.run(
            f"maps=$(postconf -h virtual_mailbox_maps); for r in {quoted}; do "
            f"printf '%s ' \"$r\"; postmap -q \"$r\" $maps 2>/dev/null || echo; done"
        ).stdout
        found = {}
        for line in output.splitlines():
            address, _, path = line.partition(" ")
            if path.strip():
                found[address] = path.strip()
        return [found.get(r) or "{1}/{0}/".format(*r.split("@", 1)) for r in recipients]

    def parse_log(self, lines: Iterable[str]) -> list[LogEvent]:
        events = (parse_log_line(line) for line in lines)
        return [event for event in events if event is not None]
