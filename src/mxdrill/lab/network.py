"""The lab's network: one bridge on the machine, a veth pair into each host's network namespace.

No default route and no NAT anywhere: the lab can only reach itself and the machine's bridge address.
Every host and the bridge are dual-stack: an IPv4 address in the lab prefix and an IPv6 one in
`topo.PREFIX6` (documentation space), added with `nodad` so that no duplicate-address detection
delays a boot, and with router advertisements ignored, so that the only IPv6 route anywhere in the lab
is the /64 on its own link; on the machine, IPv6 is touched on the lab's bridge only.
Before anything is built, `check_prefix` refuses a prefix that would capture an address this machine
needs (its resolver, its package sources): a lab on such a prefix silently breaks apt and pip.
"""

from __future__ import annotations

import contextlib
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
    """Create the bridge and one namespace + veth per host; idempotent per piece (so it also adds mx3 to a running lab,
    and IPv6 to a lab brought up before the lab had it)."""
    if not bridge_exists():
        ip("link", "add", topo.BRIDGE, "type", "bridge", "forward_delay", "0")
        ip("addr", "add", f"{topo.gateway(prefix)}/{prefix.prefixlen}", "dev", topo.BRIDGE)
        ip("link", "set", topo.BRIDGE, "up")
    _bridge_ipv6()
    existing = set(lab_namespaces())
    for lab_host in lab_hosts:
        if lab_host.namespace not in existing:
            _add_host_link(lab_host, prefix)
        else:
            _host_ipv6(lab_host)


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
    _port_ipv6_off(ns)
    ip("link", "set", ns, "master", topo.BRIDGE, "up")
    ip("-n", ns, "addr", "add", f"{lab_host.address(prefix)}/{prefix.prefixlen}", "dev", "eth0")
    _host_ipv6(lab_host)
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "link", "set", "eth0", "up")


# Inside a host (its own network namespace): IPv6 on, whatever the machine's defaults; no router
# advertisement or autoconfiguration is ever taken, so no route but the lab's /64 appears.
HOST_IPV6_SYSCTLS = tuple(
    f"net.ipv6.conf.{device}.{key}={value}"
    for device in ("all", "default", "lo", "eth0")
    for key, value in (("disable_ipv6", 0), ("accept_ra", 0), ("autoconf", 0), ("accept_dad", 0))
)


def _host_ipv6(lab_host: topo.LabHost) -> None:
    """IPv6 on inside the host and its address on eth0 (`replace`: the same whether it had it or not)."""
    ns = lab_host.namespace
    sysctl = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *HOST_IPV6_SYSCTLS],
                            capture_output=True, text=True, timeout=15, check=False)
    if sysctl.returncode != 0:
        raise LabError(f"cannot turn IPv6 on in lab host {lab_host.name}: {sysctl.stderr.strip()} "
                       "(the lab needs a kernel with IPv6)")
    ip("-n", ns, "-6", "addr", "replace", f"{lab_host.address6()}/{topo.PREFIX6.prefixlen}", "dev", "eth0", "nodad")


def _ipv6_conf(device: str) -> Path:
    conf = Path(f"/proc/sys/net/ipv6/conf/{device}")
    if not conf.is_dir():
        raise LabError("this kernel has no IPv6 (no /proc/sys/net/ipv6): the lab needs it for its AAAA addresses")
    return conf


def _bridge_ipv6() -> None:
    """IPv6 on the lab's bridge only (the machine may disable it by default), taking no router advertisement."""
    conf = _ipv6_conf(topo.BRIDGE)
    for key, value in (("accept_ra", "0"), ("autoconf", "0"), ("accept_dad", "0"), ("disable_ipv6", "0")):
        (conf / key).write_text(value + "\n")
    ip("-6", "addr", "replace", f"{topo.gateway6()}/{topo.PREFIX6.prefixlen}", "dev", topo.BRIDGE, "nodad")


def _port_ipv6_off(device: str) -> None:
    """No IPv6 on the machine's end of a host's veth: a bridge port needs none, and it would add a link-local
    address and route per host to the machine's tables."""
    (_ipv6_conf(device) / "disable_ipv6").write_text("1\n")


def lab_links() -> list[str]:
    """The machine-side ends of the lab's veths (and its bridge), found by name."""
    out = ip("-o", "link", "show", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.count(":") >= 2]
    return [n for n in names if n.startswith(topo.NAMESPACE_PREFIX)]


def lab_routes(prefix: Prefix = topo.DEFAULT_PREFIX) -> list[str]:
    """The machine's routes into the lab's prefixes (IPv4 and IPv6): on the bridge while it is up, none after `down`."""
    found = []
    for family, lab_prefix in (("-4", prefix), ("-6", topo.PREFIX6)):
        for line in ip(family, "route", "show", check=False).stdout.splitlines():
            dest = line.split(" ", 1)[0]
            with contextlib.suppress(ValueError):
                if dest != "default" and ipaddress.ip_network(dest, strict=False).overlaps(lab_prefix):
                    found.append(line.strip())
    return found


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


def resolve_quietly(name: str, family: socket.AddressFamily = socket.AF_INET) -> list[str]:
    """Addresses of a package source; a name that does not resolve right now cannot collide."""
    try:
        infos = socket.getaddrinfo(name, None, family=family)
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


def check_prefix(prefix: Prefix, prefix6: ipaddress.IPv6Network = topo.PREFIX6) -> None:
    """Refuse a lab prefix (IPv4, or the IPv6 /64) that covers the resolver or a package source, or that is
    routed elsewhere already."""
    needed: dict[str, list[str]] = {"resolver": resolver_addresses()}
    for name in package_source_hosts():
        needed[f"package source {name}"] = resolve_quietly(name) + resolve_quietly(name, socket.AF_INET6)
    for lab_prefix in (prefix, prefix6):
        clashes = collisions(lab_prefix, needed)
        if clashes:
            raise LabError(
                f"lab prefix {lab_prefix} covers {', '.join(clashes)}; apt and pip would break while the lab is up. "
                f"Use another prefix (the default is {topo.DEFAULT_PREFIX}, and {topo.PREFIX6} for IPv6)."
            )
        _refuse_routed(lab_prefix)


def _refuse_routed(lab_prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
    """LabError if a route of this machine other than its default and the lab bridge's overlaps the prefix."""
    family = "-4" if lab_prefix.version == 4 else "-6"
    routed = ip(family, "route", "show", "to", "match", str(lab_prefix.network_address), check=False).stdout
    for line in routed.splitlines():
        dest, _, rest = line.partition(" ")
        if dest != "default" and f"dev {topo.BRIDGE}" not in rest and ipaddress.ip_network(dest, strict=False).overlaps(lab_prefix):
            raise LabError(f"lab prefix {lab_prefix} overlaps a route already on this machine: {line.strip()}")
