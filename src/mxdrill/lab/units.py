"""The systemd profile: which units a lab host runs, which it masks, and the few the lab adds.

A systemd lab host boots the machine's own /lib/systemd and, through the lower layer of its /etc,
every unit the machine has enabled (knot, postgresql, rsyslog, apt's timers, a getty ...). So each
host masks, in its own upper /etc, every enabled unit its role does not run, and enables in that
same upper layer the ones it does: what a host runs depends on its role, not on what happens to be
enabled on the machine, and a package enabled on the machine later changes the hosts' boot digests
(they reboot into the new mask list) instead of quietly starting in every host.

The units the lab adds are what a Debian 12 postmaster would write: an fstab line for the shared
store (sshfs, `_netdev`), a drop-in that makes Postfix wait for that mount, a oneshot that waits
until the storage host answers, and a oneshot that creates the role's accounts (vmail, and `drill`,
the login user) before sshd starts. rsyslog is masked: the journal is the only log.

`enabled_on_machine` reads the machine's /etc/systemd/system; everything else here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mxdrill.lab import topology as topo
from mxdrill.lab.files import LabFile
from mxdrill.lab.topology import LabHost, Topology

SYSTEM_DIR = "/etc/systemd/system"
VENDOR_DIR = "/lib/systemd/system"
ACCOUNTS_UNIT = "mxdrill-lab-accounts.service"
STORAGE_WAIT_UNIT = "mxdrill-lab-storage-wait.service"
POSTFIX_INSTANCE = "postfix@-.service"
LOGIN_USER = "drill"

# Masked on every systemd host whether or not the machine enables them: rsyslog (the journal is the
# only log in this profile) and the gettys systemd adds by itself in a container (no console here).
ALWAYS_MASKED = ("rsyslog.service", "syslog.socket", "console-getty.service", "getty@tty1.service")


@dataclass(frozen=True)
class EnabledUnit:
    """One enablement link on the machine: `name` (what is pulled in, or an alias) → `target` (the unit file's name)."""

    name: str
    target: str


def enabled_on_machine(system_dir: Path = Path(SYSTEM_DIR)) -> frozenset[EnabledUnit]:
    """Every unit the machine enables: the links in its *.wants/ and *.requires/ directories, and its aliases."""
    found: set[EnabledUnit] = set()
    if not system_dir.is_dir():
        return frozenset()
    for entry in system_dir.iterdir():
        if entry.is_dir() and entry.name.endswith((".wants", ".requires")):
            found.update(EnabledUnit(link.name, _target_name(link)) for link in entry.iterdir() if link.is_symlink())
        elif entry.is_symlink():
            found.add(EnabledUnit(entry.name, _target_name(entry)))
    return frozenset(found)


def _target_name(link: Path) -> str:
    try:
        return Path(str(link.readlink())).name
    except OSError:
        return link.name


def role_units(lab_host: LabHost) -> tuple[str, ...]:
    """The Debian units this host's role runs (enabled in its upper /etc, never masked)."""
    units = ["ssh.service"]
    if lab_host.role in ("mx", "sender"):
        units.append("postfix.service")
    if lab_host.vrrp:
        units.append("keepalived.service")
    return tuple(units)


def masked_units(lab_host: LabHost, enabled: frozenset[EnabledUnit]) -> list[str]:
    """What the host masks: every machine-enabled service, timer, socket or path its role does not run, and ALWAYS_MASKED.

    Targets are left alone (masking one would cut off everything it pulls in), and so is an alias of a
    unit the role runs (`sshd.service` for `ssh.service`).
    """
    keep = {*role_units(lab_host), POSTFIX_INSTANCE}
    masks = {name for name in ALWAYS_MASKED if name not in keep}
    for unit in enabled:
        if unit.name.endswith(".target") or unit.name in keep or unit.target in keep:
            continue
        if unit.name.rsplit(".", 1)[-1] in ("service", "timer", "socket", "path"):
            masks.add(unit.name)
    return sorted(masks)


def fstab(storage_address: str, systemd: bool = True) -> str:
    """The shared store as a Debian host mounts a network filesystem: an fstab line, `_netdev`, after storage
    answers (under systemd; an init-script host's boot script waits itself). `mount /var/mail/vhosts` then
    mounts it on either: the boot, and the heal of the storage fault, take the host's own way."""
    options = ",".join([
        "_netdev", *([f"x-systemd.requires={STORAGE_WAIT_UNIT}"] if systemd else []),
        "allow_other", "reconnect", "ServerAliveInterval=2", "ServerAliveCountMax=3", "ConnectTimeout=5", "dir_cache=no",
        "IdentityFile=/etc/mxdrill-lab/id_ed25519", "UserKnownHostsFile=/etc/mxdrill-lab/known_hosts",
        "StrictHostKeyChecking=yes", "BatchMode=yes",
    ])
    return f"vmail@{storage_address}:{topo.STORAGE_EXPORT} {topo.MAILBOX_BASE} fuse.sshfs {options} 0 0\n"


def accounts_unit() -> str:
    return f"""[Unit]
Description=mxdrill lab: the accounts of this host's role (vmail, {LOGIN_USER})
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/mxdrill-lab/environment
ExecStart=/bin/sh /etc/mxdrill-lab/boot.sh accounts

[Install]
WantedBy=multi-user.target
"""


def storage_wait_unit() -> str:
    return """[Unit]
Description=mxdrill lab: wait until the storage host's sshd answers
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/mxdrill-lab/environment
ExecStart=/bin/sh /etc/mxdrill-lab/boot.sh wait-storage
TimeoutStartSec=30
"""


def postfix_needs_store() -> str:
    """A drop-in for Debian's Postfix instance: start only once the shared Maildir store is mounted."""
    return f"[Unit]\nRequiresMountsFor={topo.MAILBOX_BASE}\n"


def sudoers() -> str:
    return f"{LOGIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"


def unit_files(lab_host: LabHost, topology: Topology, storage_address: str, enabled: frozenset[EnabledUnit]) -> list[LabFile]:
    """Every systemd file of the host's upper /etc: masks, enablement links, the lab's own units and drop-ins."""
    wants = f"{SYSTEM_DIR}/multi-user.target.wants"
    files = [LabFile(f"{SYSTEM_DIR}/{name}", link="/dev/null") for name in masked_units(lab_host, enabled)]
    files += [LabFile(f"{wants}/{unit}", link=f"{VENDOR_DIR}/{unit}") for unit in role_units(lab_host)]
    files += [
        LabFile(f"{SYSTEM_DIR}/{ACCOUNTS_UNIT}", accounts_unit()),
        LabFile(f"{wants}/{ACCOUNTS_UNIT}", link=f"{SYSTEM_DIR}/{ACCOUNTS_UNIT}"),
    ]
    if topo.mounts_shared_storage(lab_host, topology):
        files += [
            LabFile("/etc/fstab", fstab(storage_address)),
            LabFile(f"{SYSTEM_DIR}/{STORAGE_WAIT_UNIT}", storage_wait_unit()),
            LabFile(f"{SYSTEM_DIR}/{POSTFIX_INSTANCE}.d/mxdrill-lab-storage.conf", postfix_needs_store()),
        ]
    return files
