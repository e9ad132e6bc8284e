"""Render every file a lab host needs, as it would sit on a real Debian mail host.

The files are written into the host's copy-on-write upper layers before it boots, so the host sees
an ordinary /etc and /var while the machine's own /etc is never modified. Rendering is pure: it
takes the topology, the number of backup MXs and of mail domains and the keys and returns paths and
contents, which keeps it unit-testable — and lets `lab up` tell, by comparing digests, which hosts a
change of topology, of backups or of domains really touches, so that it reboots only those.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass

from mxdrill.lab import tls, units
from mxdrill.lab import topology as topo
from mxdrill.lab.files import LabFile
from mxdrill.lab.topology import DOMAIN, Init, LabHost, Topology


@dataclass(frozen=True)
class LabKeys:
    """Key material of one lab: the harness's client key, each host's own host key, and the lab CA with each MX's certificate."""

    client_public: str
    client_private: str
    host_private: dict[str, str]
    host_public: dict[str, str]
    tls: tls.LabTls


def known_hosts_lines(
    keys: LabKeys, prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, domains: int = topo.DEFAULT_DOMAINS
) -> str:
    """known_hosts entries naming each host by FQDN, short name and address, so strict checking works for all three."""
    lines = []
    for lab_host in topo.lab_hosts(backups, domains):
        names = f"{lab_host.fqdn},{lab_host.name},{lab_host.address(prefix)}"
        lines.append(f"{names} {keys.host_public[lab_host.name].strip()}")
    return "\n".join(lines) + "\n"


def login_user(lab_host: LabHost, init: Init = topo.DEFAULT_INIT) -> str:
    """Who logs in over SSH: root on init-script hosts, `drill` (with sudo) where systemd refuses root."""
    return units.LOGIN_USER if topo.runs_systemd(lab_host, init) else "root"


def ssh_config(
    keys_dir: str, prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, init: Init = topo.DEFAULT_INIT,
    domains: int = topo.DEFAULT_DOMAINS,
) -> str:
    """An ssh_config for humans and tools: `ssh -F .lab/ssh/ssh_config mx1` just works, strictly."""
    blocks = []
    for lab_host in topo.lab_hosts(backups, domains):
        blocks.append(
            f"Host {lab_host.name} {lab_host.fqdn} {lab_host.address(prefix)}\n"
            f"  HostName {lab_host.address(prefix)}\n"
            f"  User {login_user(lab_host, init)}\n"
            f"  IdentityFile {keys_dir}/id_ed25519\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {keys_dir}/known_hosts\n"
            "  StrictHostKeyChecking yes\n"
        )
    return "\n".join(blocks)


def _zone_head(origin: str, backups: int, domains: int = topo.DEFAULT_DOMAINS,
               priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> list[str]:
    """$ORIGIN, $TTL, SOA and NS of a zone. The serial changes with the zone's content: one more backup
    MX, one more serial; more domains, more PTRs in the reverse zone; equal MX priorities, other MX records
    (each combination its own serial)."""
    serial = 2026112401 + backups - topo.DEFAULT_BACKUPS + len(topo.BACKUP_CHOICES) * (domains - topo.DEFAULT_DOMAINS)
    serial += 100 * topo.PRIORITIES.index(priorities)
    return [
        f"$ORIGIN {origin}.",
        "$TTL 3600",
        f"@ IN SOA dns.{DOMAIN}. hostmaster.{DOMAIN}. {serial} 3600 900 604800 300",
        f"@ IN NS dns.{DOMAIN}.",
    ]


def _domain_records(lab_hosts: list[LabHost], prefix: ipaddress.IPv4Network,
                    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES) -> list[str]:
    """A domain's MX records (by priority) and the A and AAAA records of its hosts, named relative to the zone."""
    records = [f"@ IN MX {topo.published_priority(h, priorities)} {h.fqdn}." for h in lab_hosts if h.mx_priority is not None]
    for lab_host in lab_hosts:
        label = lab_host.label or lab_host.name
        records += [f"{label} IN A {lab_host.address(prefix)}", f"{label} IN AAAA {lab_host.address6()}"]
    return records


def zone_forward(
    prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, domain: str = DOMAIN,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> str:
    """A domain's zone. example.test: MX 10 mx1, MX 20 mx2 (MX 30 mx3), A records for every host of the first
    domain and `mail` on the VIP; a further domain: MX 10 mx1, MX 20 mx2 and their A records, no VIP.
    Every domain publishes SPF `v=spf1 mx -all`: its MXs, and only they, send as the domain (seed 001)."""
    first = domain == DOMAIN
    members = [h for h in topo.lab_hosts(backups, topo.MAX_DOMAINS) if h.domain == domain]
    priorities = priorities if first else topo.DEFAULT_PRIORITIES
    records = [*_zone_head(domain, backups if first else topo.DEFAULT_BACKUPS, priorities=priorities),
               '@ IN TXT "v=spf1 mx -all"', *_domain_records(members, prefix, priorities)]
    if first:
        records.append(f"mail IN A {topo.vip(prefix)}")
        records.append(f"harness IN A {topo.gateway(prefix)}")
        records.append(f"harness IN AAAA {topo.gateway6()}")
    return "\n".join(records) + "\n"


def reverse_zone_name(prefix: ipaddress.IPv4Network) -> str:
    """The in-addr.arpa zone of a /24, e.g. 100.51.198.in-addr.arpa."""
    octets = str(prefix.network_address).split(".")[:3]
    return ".".join(reversed(octets)) + ".in-addr.arpa"


def zone_reverse(
    prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, domains: int = topo.DEFAULT_DOMAINS
) -> str:
    """PTRs for every host of every domain, the VIP and the harness, so Postfix's reverse lookups resolve at once."""
    records = _zone_head(reverse_zone_name(prefix), backups, domains)
    named = [(h.offset, h.fqdn) for h in topo.lab_hosts(backups, domains)]
    named += [(topo.VIP_OFFSET, f"mail.{DOMAIN}"), (topo.GATEWAY_OFFSET, f"harness.{DOMAIN}")]
    for offset, fqdn in sorted(named):
        records.append(f"{offset} IN PTR {fqdn}.")
    return "\n".join(records) + "\n"


def reverse_zone6_name(prefix6: ipaddress.IPv6Network = topo.PREFIX6) -> str:
    """The ip6.arpa zone of a /64: its 16 network nibbles, reversed (0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa)."""
    nibbles = prefix6.network_address.reverse_pointer.split(".")
    return ".".join(nibbles[32 - prefix6.prefixlen // 4:])


def zone_reverse6(
    prefix: ipaddress.IPv4Network, backups: int = topo.DEFAULT_BACKUPS, domains: int = topo.DEFAULT_DOMAINS,
    prefix6: ipaddress.IPv6Network = topo.PREFIX6,
) -> str:
    """PTRs for every host's IPv6 address and the harness's, so that an AAAA's name is forward-confirmed as an A's is."""
    records = _zone_head(reverse_zone6_name(prefix6), backups, domains)
    named = [(h.address6(prefix6), h.fqdn) for h in topo.lab_hosts(backups, domains)]
    named.append((topo.gateway6(prefix6), f"harness.{DOMAIN}"))
    host_nibbles = 32 - prefix6.prefixlen // 4
    for address, fqdn in sorted(named, key=lambda pair: ipaddress.IPv6Address(pair[0])):
        relative = ".".join(ipaddress.IPv6Address(address).reverse_pointer.split(".")[:host_nibbles])
        records.append(f"{relative} IN PTR {fqdn}.")
    return "\n".join(records) + "\n"


def knot_conf(lab_host: LabHost, prefix: ipaddress.IPv4Network, domains: int = topo.DEFAULT_DOMAINS) -> str:
    """knot authoritative for every mail domain's zone and both reverse zones, on its IPv4 and IPv6 address."""
    names = (*topo.mail_domains(domains), reverse_zone_name(prefix), reverse_zone6_name())
    zones = "".join(f"  - domain: {name}\n" for name in names)
    return f"""server:
    rundir: "/run/knot"
    user: knot:knot
    listen: [ {lab_host.address(prefix)}@53, {lab_host.address6()}@53 ]
log:
  - target: syslog
    any: info
database:
    storage: "/var/lib/knot"
template:
  - id: default
    storage: "/etc/knot/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{zones}"""


def sshd_config(permit_root: bool = True) -> str:
    """Key-only sshd; authorized keys live in /etc so every host has its own, independent of /root.

    Systemd hosts refuse root (`PermitRootLogin no`) as hardened Debian hosts do: the harness logs in
    as `drill` and becomes root through sudo, as it must on such hosts.
    """
    return f"""Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin {"prohibit-password" if permit_root else "no"}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
UsePAM no
UseDNS no
PidFile /run/sshd.pid
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
"""


def rsyslog_conf() -> str:
    """Mail to /var/log/mail.log as on Debian, plus the socket inside Postfix's chroot."""
    return """module(load="imuxsock")
input(type="imuxsock" Socket="/var/spool/postfix/dev/log" CreatePath="on")
$FileCreateMode 0640
mail.*                          /var/log/mail.log
*.*;mail.none                   /var/log/syslog
"""


def _postfix_common(lab_host: LabHost) -> list[str]:
    return [
        "compatibility_level = 3.6",
        f"myhostname = {lab_host.fqdn}",
        f"mydomain = {lab_host.domain}",
        "myorigin = $mydomain",
        "inet_interfaces = all",
        "inet_protocols = all",
        "alias_maps =",
        "alias_database =",
        "biff = no",
        "smtpd_banner = $myhostname ESMTP",
        "smtp_connect_timeout = 5s",
        "maillog_file =",
    ]


def _smtpd_tls() -> list[str]:
    """An MX offers STARTTLS with its certificate from the lab CA, and says in Received: whether mail came in over TLS."""
    return [
        f"smtpd_tls_cert_file = {tls.HOST_CERT_FILE}",
        f"smtpd_tls_key_file = {tls.HOST_KEY_FILE}",
        "smtpd_tls_security_level = may",
        "smtpd_tls_loglevel = 1",
        "smtpd_tls_received_header = yes",
    ]


def _smtp_tls() -> list[str]:
    """The sender uses TLS where an MX offers it and trusts the lab CA, so its log says 'Trusted TLS connection'."""
    return [
        "smtp_tls_security_level = may",
        f"smtp_tls_CAfile = {tls.HOST_CA_FILE}",
        "smtp_tls_loglevel = 1",
    ]


def postfix_main_cf(lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network,
                    userdb: topo.UserDb = topo.DEFAULT_USERDB) -> str:
    """main.cf per role: the MX that delivers into Maildir (its domains and users in texthash maps, or in
    the userdb host's MariaDB), the relay backup MX, the MX relaying to the mail store, or the sender."""
    lines = _postfix_common(lab_host)
    lines += _smtp_tls() if lab_host.role == "sender" else _smtpd_tls()
    if lab_host.role == "sender":
        lines += [
            "mydestination =",
            f"mynetworks = 127.0.0.0/8 {prefix} [::1]/128 [{topo.PREFIX6.network_address}]/{topo.PREFIX6.prefixlen}",
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
            "relay_domains =",
        ]
    elif topo.mounts_shared_storage(lab_host, topology):
        lines += [
            "mydestination = $myhostname, localhost",
            "mynetworks = 127.0.0.0/8 [::1]/128",
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
            *_mailbox_lookups(lab_host, userdb),
            f"virtual_mailbox_base = {topo.MAILBOX_BASE}",
            f"virtual_uid_maps = static:{topo.VMAIL_ID}",
            f"virtual_gid_maps = static:{topo.VMAIL_ID}",
            "virtual_minimum_uid = 100",
        ]
    elif topo.relays_to_mailstore(lab_host, topology):
        lines += _relay_to_mailstore(lab_host)
    else:  # the queueing backup MX of the relay topology (seed 003 relay variant)
        lines += [
            "mydestination = $myhostname, localhost",
            "mynetworks = 127.0.0.0/8 [::1]/128",
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
            f"relay_domains = {lab_host.domain}",
            "relay_recipient_maps = texthash:/etc/postfix/relay_recipients",
        ]
    return "\n".join(lines) + "\n"


MYSQL_DOMAINS_MAP = "/etc/postfix/mysql-virtual-mailbox-domains.cf"
MYSQL_MAILBOXES_MAP = "/etc/postfix/mysql-virtual-mailbox-maps.cf"


def _mailbox_lookups(lab_host: LabHost, userdb: topo.UserDb) -> list[str]:
    """Where a delivering MX looks up its domains and mailboxes: its own texthash map, or the shared database."""
    if topo.looks_up_in_mysql(lab_host, userdb):
        return [f"virtual_mailbox_domains = mysql:{MYSQL_DOMAINS_MAP}", f"virtual_mailbox_maps = mysql:{MYSQL_MAILBOXES_MAP}"]
    return [f"virtual_mailbox_domains = {lab_host.domain}", "virtual_mailbox_maps = texthash:/etc/postfix/vmailbox"]


def mysql_map(prefix: ipaddress.IPv4Network, query: str) -> str:
    """A Postfix mysql: table (seed 003 "Configuration Postfix avec MySQL"), against the userdb host."""
    return (f"user = {topo.USERDB_USER}\npassword = {topo.USERDB_PASSWORD}\nhosts = {topo.host('userdb').address(prefix)}\n"
            f"dbname = {topo.USERDB_NAME}\nquery = {query}\n")


def mysql_map_files(prefix: ipaddress.IPv4Network) -> list[LabFile]:
    """The MX's two maps, 0640 (boot.sh gives them to group postfix, as the seed does). The mailbox query returns
    the Maildir path under virtual_mailbox_base (`example.test/probe/`): the seed's `SELECT 1` would make
    virtual(8) deliver every user into one directory called `1`."""
    mailbox = ("SELECT CONCAT(SUBSTRING_INDEX(email, '@', -1), '/', SUBSTRING_INDEX(email, '@', 1), '/') "
               "FROM virtual_users WHERE email='%s'")
    return [
        LabFile(MYSQL_DOMAINS_MAP, mysql_map(prefix, "SELECT 1 FROM virtual_domains WHERE name='%s'"), 0o640),
        LabFile(MYSQL_MAILBOXES_MAP, mysql_map(prefix, mailbox), 0o640),
    ]


def userdb_sql(domain: str = DOMAIN) -> str:
    """Seed 003 Scénario 2's schema and test data, for the lab's domain and recipients. Postfix gets SELECT
    on the mail database and nothing else (the seed grants ALL: a lookup needs no write)."""
    users = ", ".join(f"('{r}', '*')" for r in topo.recipients(domain))
    return f"""CREATE DATABASE IF NOT EXISTS {topo.USERDB_NAME};
CREATE USER IF NOT EXISTS '{topo.USERDB_USER}'@'%' IDENTIFIED BY '{topo.USERDB_PASSWORD}';
GRANT SELECT ON {topo.USERDB_NAME}.* TO '{topo.USERDB_USER}'@'%';
USE {topo.USERDB_NAME};
CREATE TABLE IF NOT EXISTS virtual_domains (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS virtual_users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE,
    password VARCHAR(255) NOT NULL, quota INT DEFAULT 0);
INSERT IGNORE INTO virtual_domains (name) VALUES ('{domain}');
INSERT IGNORE INTO virtual_users (email, password) VALUES {users};
"""


def mariadb_cnf(lab_host: LabHost, prefix: ipaddress.IPv4Network) -> str:
    """MariaDB on the userdb host, on the lab address, small; its data directory is the one Debian's package
    initialised on the machine, seen copy-on-write (its own would take mariadb-install-db ~30 s per boot here)."""
    return f"""[mysqld]
user = mysql
bind-address = {lab_host.address(prefix)}
skip-name-resolve
innodb_buffer_pool_size = 16M
performance_schema = OFF
"""


MAILSTORE_NEXTHOP = f"[mailstore.{DOMAIN}]:25"  # brackets: no MX lookup (seed 003, "Table de transport")


def _relay_to_mailstore(lab_host: LabHost) -> list[str]:
    """Seed 003 Scénario 3 on an MX: relay the domain, hand every message to the mail store, and
    only over TLS (verified against the lab CA) with SASL credentials. The TLS demand is the mail
    store's policy entry, not the global level, so that mail elsewhere (a bounce) still goes out."""
    return [
        "mydestination = $myhostname, localhost",
        "mynetworks = 127.0.0.0/8 [::1]/128",
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
        f"relay_domains = {lab_host.domain}",
        "relay_recipient_maps = texthash:/etc/postfix/relay_recipients",
        "transport_maps = texthash:/etc/postfix/transport",
        "smtp_tls_security_level = may",
        "smtp_tls_policy_maps = texthash:/etc/postfix/tls_policy",
        f"smtp_tls_CAfile = {tls.HOST_CA_FILE}",
        "smtp_tls_loglevel = 1",
        "smtp_sasl_auth_enable = yes",
        "smtp_sasl_password_maps = texthash:/etc/postfix/sasl_passwd",
        "smtp_sasl_security_options = noanonymous",
        "smtp_sasl_tls_security_options = noanonymous",
    ]


def relay_map_files(domain: str = DOMAIN) -> list[LabFile]:
    """An MX's maps toward the mail store: the transport, the TLS policy and the SASL password (0600, as the seed has it)."""
    return [
        LabFile("/etc/postfix/transport", f"{domain} smtp:{MAILSTORE_NEXTHOP}\n"),
        LabFile("/etc/postfix/tls_policy", f"{MAILSTORE_NEXTHOP} secure match=mailstore.{DOMAIN}\n"),
        LabFile("/etc/postfix/sasl_passwd", f"{MAILSTORE_NEXTHOP} {topo.RELAY_USER}:{topo.RELAY_PASSWORD}\n", 0o600),
    ]


def mailstore_main_cf(lab_host: LabHost, prefix: ipaddress.IPv4Network) -> str:
    """The mail store's Postfix (seed 003, "Serveur de stockage" and "Sécurité entre MX et serveur de
    stockage"): mail for the domain only from the MXs, only over TLS, only after SASL (Dovecot's auth),
    delivered by Dovecot's LMTP."""
    encrypt = [line for line in _smtpd_tls() if not line.startswith("smtpd_tls_security_level")]
    return "\n".join([
        *_postfix_common(lab_host), *encrypt,
        "mydestination = $myhostname, localhost",
        "mynetworks = 127.0.0.0/8 [::1]/128",
        f"virtual_mailbox_domains = {lab_host.domain}",
        "virtual_mailbox_maps = texthash:/etc/postfix/vmailbox",
        "virtual_transport = lmtp:unix:private/dovecot-lmtp",
        "smtpd_tls_security_level = encrypt",
        "smtpd_tls_auth_only = yes",
        "smtpd_sasl_auth_enable = yes",
        "smtpd_sasl_type = dovecot",
        "smtpd_sasl_path = private/auth",
        "smtpd_client_restrictions = check_client_access cidr:/etc/postfix/mx_clients.cidr, reject",
        "smtpd_relay_restrictions = permit_sasl_authenticated, reject",
    ]) + "\n"


def mx_clients_cidr(prefix: ipaddress.IPv4Network) -> str:
    """The mail store's clients: an MX (either address family) once it has authenticated; no one else."""
    lines = []
    for mx in (h for h in topo.ALL_HOSTS if h.role == "mx"):
        lines += [f"{mx.address(prefix)}/32 permit_sasl_authenticated", f"{mx.address6()}/128 permit_sasl_authenticated"]
    return "\n".join(lines) + "\n"


def dovecot_conf() -> str:
    """Dovecot on the mail store: LMTP for Postfix, SASL auth for the MXs, Maildir under VMAIL_HOME.

    A global Sieve script files the drill's outage probes into the folder `Drill`, as a user's own
    filter might: the drill must find mail in every folder, not only in INBOX.
    """
    return f"""protocols = lmtp
ssl = no
log_path = syslog
syslog_facility = mail
mail_location = maildir:{topo.VMAIL_HOME}/%d/%n
first_valid_uid = {topo.VMAIL_ID}
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u /etc/dovecot/relay-users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u /etc/dovecot/users
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service lmtp {{
  unix_listener /var/spool/postfix/private/dovecot-lmtp {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
service auth {{
  unix_listener /var/spool/postfix/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
  unix_listener auth-userdb {{
    mode = 0600
  }}
}}
protocol lmtp {{
  mail_plugins = sieve
  postmaster_address = postmaster@{DOMAIN}
}}
plugin {{
  sieve_before = /etc/dovecot/sieve/drill.sieve
}}
"""


SIEVE_SCRIPT = """require ["fileinto", "mailbox"];
if header :contains "Subject" "(outage)" {
  fileinto :create "Drill";
}
"""


def dovecot_users(domain: str = DOMAIN) -> str:
    """The mailboxes (Dovecot's userdb: iterable, so `doveadm -A` reaches every user)."""
    return "".join(f"{r}::{topo.VMAIL_ID}:{topo.VMAIL_ID}::{topo.VMAIL_HOME}/{domain}/{r.split('@')[0]}::\n"
                   for r in topo.recipients(domain))


def mailstore_files(lab_host: LabHost, prefix: ipaddress.IPv4Network) -> list[LabFile]:
    return [
        LabFile("/etc/postfix/main.cf", mailstore_main_cf(lab_host, prefix)),
        LabFile("/etc/postfix/vmailbox", relay_recipients(lab_host.domain)),
        LabFile("/etc/postfix/mx_clients.cidr", mx_clients_cidr(prefix)),
        LabFile("/etc/dovecot/dovecot.conf", dovecot_conf()),
        LabFile("/etc/dovecot/users", dovecot_users(lab_host.domain)),
        LabFile("/etc/dovecot/relay-users", f"{topo.RELAY_USER}:{{PLAIN}}{topo.RELAY_PASSWORD}\n", 0o640),
        LabFile("/etc/dovecot/sieve/drill.sieve", SIEVE_SCRIPT),
    ]


def vmailbox(domain: str = DOMAIN) -> str:
    """Recipient → Maildir path (trailing slash = Maildir) under virtual_mailbox_base: each domain its own directory."""
    return "".join(f"{r} {domain}/{r.split('@')[0]}/\n" for r in topo.recipients(domain))


def relay_recipients(domain: str = DOMAIN) -> str:
    """The addresses a queueing backup MX accepts for its domain (the others it refuses at RCPT)."""
    return "".join(f"{r} OK\n" for r in topo.recipients(domain))


def keepalived_conf(lab_host: LabHost, prefix: ipaddress.IPv4Network) -> str:
    """VRRP between mx1 and mx2: the lowest MX priority number is MASTER and holds the VIP, the other is BACKUP.

    Priority 255 makes the master the address owner, so it takes the VIP at once instead of after
    three advertisement intervals (a 3 s saving on every `lab up`).
    """
    is_master = lab_host.mx_priority == 10
    return f"""global_defs {{
    router_id {lab_host.name}
    enable_script_security
}}
vrrp_instance MAIL {{
    state {"MASTER" if is_master else "BACKUP"}
    interface eth0
    virtual_router_id 51
    priority {255 if is_master else 100}
    advert_int 1
    virtual_ipaddress {{
        {topo.vip(prefix)}/{prefix.prefixlen} dev eth0
    }}
}}
"""


def machine_id(lab_host: LabHost) -> str:
    """A stable /etc/machine-id of its own per host, so that each host's journal is its own."""
    return hashlib.sha256(lab_host.fqdn.encode()).hexdigest()[:32]


def _login_files(lab_host: LabHost, keys: LabKeys, init: Init) -> list[LabFile]:
    """sshd and whoever may log in: root on init-script hosts; on systemd hosts `drill`, with passwordless sudo."""
    if not topo.runs_systemd(lab_host, init):
        return [
            LabFile("/etc/ssh/sshd_config", sshd_config()),
            LabFile("/etc/ssh/authorized_keys/root", keys.client_public),
            LabFile("/etc/rsyslog.conf", rsyslog_conf()),
        ]
    return [
        LabFile("/etc/ssh/sshd_config", sshd_config(permit_root=False)),
        LabFile(f"/etc/ssh/authorized_keys/{units.LOGIN_USER}", keys.client_public),
        LabFile(f"/etc/sudoers.d/{units.LOGIN_USER}", units.sudoers(), 0o440),
        LabFile("/etc/machine-id", machine_id(lab_host) + "\n", 0o444),
    ]


def etc_hosts(lab_host: LabHost, prefix: ipaddress.IPv4Network) -> str:
    """localhost and the host's own name on both its addresses, as a dual-stack Debian host has them."""
    names = f"{lab_host.fqdn} {lab_host.name}"
    return (f"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
            f"{lab_host.address(prefix)} {names}\n{lab_host.address6()} {names}\n")


def tls_files(lab_host: LabHost, material: tls.LabTls, verifies_store: bool = False) -> list[LabFile]:
    """An MX's (and the mail store's) certificate and key (0600, as smtpd wants it: read as root before chroot),
    and the lab CA to trust: the sender's, and an MX's that relays to the mail store (`verifies_store`): only
    those hosts reboot when the CA changes."""
    if lab_host.role == "sender":
        return [LabFile(tls.HOST_CA_FILE, material.ca_pem)]
    cert_pem, key_pem = material.certificates[lab_host.name]
    trust = [LabFile(tls.HOST_CA_FILE, material.ca_pem)] if verifies_store else []
    return [LabFile(tls.HOST_CERT_FILE, cert_pem), LabFile(tls.HOST_KEY_FILE, key_pem, 0o600), *trust]


def host_files(
    lab_host: LabHost,
    topology: Topology,
    prefix: ipaddress.IPv4Network,
    keys: LabKeys,
    backups: int = topo.DEFAULT_BACKUPS,
    init: Init = topo.DEFAULT_INIT,
    enabled: frozenset[units.EnabledUnit] = frozenset(),
    domains: int = topo.DEFAULT_DOMAINS,
    userdb: topo.UserDb = topo.DEFAULT_USERDB,
    priorities: topo.Priorities = topo.DEFAULT_PRIORITIES,
) -> list[LabFile]:
    """Everything that differs from the machine's own /etc and /var on this lab host.

    Only the DNS host's files depend on `backups` and `domains` (the zones): the MXs' own known_hosts,
    which sshfs needs for storage's key, is the default lab's whatever the number of backups or domains,
    so that adding mx3 or a domain changes no other host. Only the MXs' and the sender's depend on
    `init`, and on a systemd host `enabled` (the units the machine enables) decides what it masks.
    """
    dns_address = topo.host("dns").address(prefix)
    files = [
        LabFile("/etc/hostname", lab_host.fqdn + "\n"),
        LabFile("/etc/mailname", lab_host.fqdn + "\n"),
        LabFile("/etc/resolv.conf", f"nameserver {dns_address}\noptions timeout:1 attempts:2\n"),
        LabFile("/etc/hosts", etc_hosts(lab_host, prefix)),
        LabFile("/etc/ssh/ssh_host_ed25519_key", keys.host_private[lab_host.name], 0o600),
        LabFile("/etc/ssh/ssh_host_ed25519_key.pub", keys.host_public[lab_host.name]),
        *_login_files(lab_host, keys, init),
    ]
    if lab_host.role == "dns":
        files.append(LabFile("/etc/knot/knot.conf", knot_conf(lab_host, prefix, domains)))
        files += [LabFile(f"/etc/knot/zones/{name}.zone", zone_forward(prefix, backups, name, priorities))
                  for name in topo.mail_domains(domains)]
        files.append(LabFile(f"/etc/knot/zones/{reverse_zone_name(prefix)}.zone", zone_reverse(prefix, backups, domains)))
        files.append(LabFile(f"/etc/knot/zones/{reverse_zone6_name()}.zone", zone_reverse6(prefix, backups, domains)))
    if lab_host.role == "storage":
        files.append(LabFile("/etc/ssh/authorized_keys/vmail", keys.client_public))
    if lab_host.role in ("mx", "sender"):
        files.append(LabFile("/etc/postfix/main.cf", postfix_main_cf(lab_host, topology, prefix, userdb)))
        files += tls_files(lab_host, keys.tls, topo.relays_to_mailstore(lab_host, topology))
    if lab_host.role == "mailstore":
        files += [*mailstore_files(lab_host, prefix), *tls_files(lab_host, keys.tls)]
    if topo.relays_to_mailstore(lab_host, topology):
        files += relay_map_files(lab_host.domain)
    if topo.looks_up_in_mysql(lab_host, userdb):
        files += mysql_map_files(prefix)
    if lab_host.role == "userdb":
        files += [LabFile("/etc/mysql/mariadb.conf.d/90-mxdrill-lab.cnf", mariadb_cnf(lab_host, prefix)),
                  LabFile("/etc/mxdrill-lab/userdb.sql", userdb_sql(), 0o600)]
    if lab_host.role == "mx":
        files += [
            LabFile("/etc/postfix/vmailbox", vmailbox(lab_host.domain)),
            LabFile("/etc/postfix/relay_recipients", relay_recipients(lab_host.domain)),
            LabFile("/etc/mxdrill-lab/id_ed25519", keys.client_private, 0o600),
            LabFile("/etc/mxdrill-lab/known_hosts", known_hosts_lines(keys, prefix)),
        ]
    if lab_host.vrrp:
        files.append(LabFile("/etc/keepalived/keepalived.conf", keepalived_conf(lab_host, prefix)))
    if topo.mounts_shared_storage(lab_host, topology) and not topo.runs_systemd(lab_host, init):
        files.append(LabFile("/etc/fstab", units.fstab(topo.host("storage").address(prefix), systemd=False)))
    if topo.runs_systemd(lab_host, init):
        files += units.unit_files(lab_host, topology, topo.host("storage").address(prefix), enabled)
        environment = boot_environment(lab_host, topology, prefix, init)
        files.append(LabFile("/etc/mxdrill-lab/environment", "".join(f"{k}={v}\n" for k, v in environment.items())))
    return files


def boot_environment(
    lab_host: LabHost, topology: Topology, prefix: ipaddress.IPv4Network, init: Init = topo.DEFAULT_INIT
) -> dict[str, str]:
    """What boot.sh needs to know about its host; the script itself stays role-generic."""
    storage = topo.host("storage")
    return {
        "LAB_HOST": lab_host.name,
        "LAB_INIT": "systemd" if topo.runs_systemd(lab_host, init) else "initscripts",
        "LAB_FQDN": lab_host.fqdn,
        "LAB_ROLE": lab_host.role,
        "LAB_MOUNT_STORAGE": "1" if topo.mounts_shared_storage(lab_host, topology) else "0",
        "LAB_KEEPALIVED": "1" if lab_host.vrrp else "0",
        "LAB_STORAGE_ADDR": storage.address(prefix),
        "LAB_STORAGE_EXPORT": topo.STORAGE_EXPORT,
        "LAB_MAILBOX_BASE": topo.MAILBOX_BASE,
        "LAB_VMAIL_ID": str(topo.VMAIL_ID),
        "LAB_VMAIL_HOME": topo.VMAIL_HOME,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }


def boot_digest(files: list[LabFile], environment: dict[str, str]) -> str:
    """One hash of everything a host boots with: equal digests mean rebooting it would change nothing."""
    material = {
        "files": sorted((f.path, f.content, f.mode, f.link or "") for f in files),
        "environment": sorted(environment.items()),
    }
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()
