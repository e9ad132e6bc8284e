"""The lab's network: one bridge on the machine, a veth pair into each host's network namespace.

No default route and no NAT anywhere: the lab can only reach itself and the machine's bridge address.
Before anything is built, `check_prefix` refuses a prefix that would capture an address this machine
needs (its resolver, its package sources): a lab on such a prefix silently breaks apt and pip.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError

Prefix = ipaddress.IPv4Network


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one `ip` command; a failure becomes a LabError quoting what ip said."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if check and proc.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def lab_namespaces() -> list[str]:
    """Every namespace this lab made, found by name so `down` works even without its state files."""
    out = ip("netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(topo.NAMESPACE_PREFIX)]


def bridge_exists() -> bool:
    return ip("link", "show", topo.BRIDGE, check=False).returncode == 0


def build(prefix: Prefix, lab_hosts: tuple[topo.LabHost, ...] = topo.HOSTS) -> None:
    """Create the bridge and one namespace + veth per host; idempotent per piece (so it also adds mx3 to a running lab)."""
    if not bridge_exists():
        ip("link", "add", topo.BRIDGE, "type", "bridge", "forward_delay", "0")
        _sysctl_ipv6_off(f"/proc/sys/net/ipv6/conf/{topo.BRIDGE}/disable_ipv6")
        ip("addr", "add", f"{topo.gateway(prefix)}/{prefix.prefixlen}", "dev", topo.BRIDGE)
        ip("link", "set", topo.BRIDGE, "up")
    existing = set(lab_namespaces())
    for lab_host in lab_hosts:
        if lab_host.namespace not in existing:
            _add_host_link(lab_host, prefix)


def host_mac(address: str) -> str:
    """A locally administered MAC derived from the host's address: the same every time the host's veth is made.

    A host that is stopped and booted again while the rest of the lab runs (mx3, when the number of
    backups changes) gets a new veth; with a random MAC, the machine and the other hosts would keep
    sending to the old one for as long as their ARP entry stays REACHABLE (up to 45 s).
    """
    return "02:00:" + ":".join(f"{octet:02x}" for octet in ipaddress.IPv4Address(address).packed)


def _add_host_link(lab_host: topo.LabHost, prefix: Prefix) -> None:
    ns = lab_host.namespace
    ip("link", "del", ns, check=False)  # a veth left over from a crashed lab would block the name
    ip("netns", "add", ns)
    mac = host_mac(lab_host.address(prefix))
    ip("link", "add", ns, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", ns)
    ip("link", "set", ns, "master", topo.BRIDGE, "up")
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"],
        capture_output=True, timeout=15, check=False,
    )
    ip("-n", ns, "addr", "add", f"{lab_host.address(prefix)}/{prefix.prefixlen}", "dev", "eth0")
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "link", "set", "eth0", "up")


def _sysctl_ipv6_off(path: str) -> None:
    try:
        Path(path).write_text("1\n")
    except OSError:
        pass  # no IPv6 on this kernel: nothing to turn off


def lab_links() -> list[str]:
    """The machine-side ends of the lab's veths (and its bridge), found by name."""
    out = ip("-o", "link", "show", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.count(":") >= 2]
    return [n for n in names if n.startswith(topo.NAMESPACE_PREFIX)]


def remove_host(namespace: str) -> None:
    """Delete one host's veth and namespace (its processes must be gone already), leaving the rest of the lab."""
    ip("link", "del", namespace, check=False)
    ip("netns", "del", namespace, check=False)


def remove() -> None:
    """Delete the veths, every lab namespace and the bridge.

    The veths are deleted explicitly: a namespace is freed asynchronously by the kernel, and a veth
    left to die with it can still exist when the next `up` wants its name.
    """
    for link in lab_links():
        if link != topo.BRIDGE:
            ip("link", "del", link, check=False)
    for ns in lab_namespaces():
        ip("netns", "del", ns, check=False)
    if bridge_exists():
        ip("link", "del", topo.BRIDGE, check=False)


# --- the prefix check -------------------------------------------------------------------------

def resolver_addresses(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        text = resolv_conf.read_text()
    except OSError:
        return []
    return re.findall(r"^\s*nameserver\s+(\S+)", text, flags=re.MULTILINE)


def package_source_hosts() -> list[str]:
    """Host names of apt sources and pip indexes: what apt-get and pip must still reach while the lab is up."""
    hosts: set[str] = set()
    apt_files = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in apt_files:
        try:
            text = path.read_text()
        except OSError:
            continue
        hosts.update(urlparse(url).hostname or "" for url in re.findall(r"(?:https?|ftp)://[^\s\]]+", text))
    for path in [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), Path.home() / ".config/pip/pip.conf"]:
        try:
            text = path.read_text()
        except OSError:
            continue
        hosts.update(urlparse(url).hostname or "" for url in re.findall(r"https?://\S+", text))
    return sorted(h for h in hosts if h)


def resolve_quietly(name: str) -> list[str]:
    """Addresses of a package source; a name that does not resolve right now cannot collide."""
    try:
        infos = socket.getaddrinfo(name, None, family=socket.AF_INET)
    except OSError:
        return []
    return sorted({info[4][0] for info in infos})


def collisions(prefix: Prefix, needed: dict[str, list[str]]) -> list[str]:
    """Pure core of the check: which needed addresses fall inside the lab prefix, as 'addr (what)' strings."""
    found = []
    for what, addresses in needed.items():
        for address in addresses:
            try:
                if ipaddress.ip_address(address) in prefix:
                    found.append(f"{address} ({what})")
            except ValueError:
                continue
    return found


def check_prefix(prefix: Prefix) -> None:
    """Refuse a lab prefix that covers the resolver or a package source, or that is routed elsewhere already."""
    needed: dict[str, list[str]] = {"resolver": resolver_addresses()}
    for name in package_source_hosts():
        needed[f"package source {name}"] = resolve_quietly(name)
    clashes = collisions(prefix, needed)
    if clashes:
        raise LabError(
            f"lab prefix {prefix} covers {', '.join(clashes)}; apt and pip would break while the lab is up. "
            "Use another prefix (the default is 198.51.100.0/24)."
        )
    routed = ip("-4", "route", "show", "to", "match", str(prefix.network_address), check=False).stdout
    for line in routed.splitlines():
        dest, _, rest = line.partition(" ")
        if dest != "default" and f"dev {topo.BRIDGE}" not in rest and ipaddress.ip_network(dest, strict=False).overlaps(prefix):
            raise LabError(f"lab prefix {prefix} overlaps a route already on this machine: {line.strip()}")
