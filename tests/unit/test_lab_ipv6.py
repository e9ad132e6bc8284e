"""The lab's IPv6 without booting it: every host's address in the documentation prefix ending as its IPv4 one
does, AAAA records and ip6.arpa PTRs for each, knot and Postfix on both stacks, the sysctls that keep router
advertisements out, and the prefix check that refuses an IPv6 /64 the machine routes elsewhere."""

from __future__ import annotations

import ipaddress

import pytest

from mxdrill.lab import configs, network
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError

from test_lab_configs import PREFIX, files_of

DOCUMENTATION = ipaddress.IPv6Network("2001:db8::/32")


def test_every_host_any_lab_runs_has_its_own_ipv6_address_ending_as_its_ipv4_one() -> None:
    addresses = [h.address6() for h in topo.EVERY_HOST]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.IPv6Address(a) in topo.PREFIX6 and ipaddress.IPv6Address(a) in DOCUMENTATION for a in addresses)
    assert topo.host("mx1").address6() == "2001:db8:51:100::11"
    assert topo.host("dns").address6() == "2001:db8:51:100::53"
    assert topo.host("mx2-d4", domains=4).address6() == "2001:db8:51:100::142"
    assert topo.gateway6() == "2001:db8:51:100::1"


def test_every_host_has_an_aaaa_beside_its_a_and_the_vip_has_none() -> None:
    zone = configs.zone_forward(PREFIX, 2).splitlines()
    for lab_host in topo.lab_hosts(2):
        assert f"{lab_host.name} IN AAAA {lab_host.address6()}" in zone
    assert "harness IN AAAA 2001:db8:51:100::1" in zone
    assert not any(line.startswith("mail IN AAAA") for line in zone)


def test_the_ip6_arpa_zone_has_a_ptr_for_every_address() -> None:
    assert configs.reverse_zone6_name() == "0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    zone = configs.zone_reverse6(PREFIX, domains=2)
    assert "$ORIGIN 0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa." in zone
    origin = configs.reverse_zone6_name()
    ptrs = {line.split()[0] + "." + origin: line.split()[-1] for line in zone.splitlines() if " PTR " in line}
    for lab_host in topo.lab_hosts(domains=2):
        assert ptrs[ipaddress.IPv6Address(lab_host.address6()).reverse_pointer] == lab_host.fqdn + "."
    assert ptrs[ipaddress.IPv6Address("2001:db8:51:100::1").reverse_pointer] == "harness.example.test."


def test_knot_listens_on_both_addresses_and_serves_both_reverse_zones() -> None:
    files = files_of("dns")
    knot = files["/etc/knot/knot.conf"].content
    assert "    listen: [ 198.51.100.53@53, 2001:db8:51:100::53@53 ]\n" in knot
    assert "  - domain: 0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa\n" in knot
    assert "/etc/knot/zones/0.0.1.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone" in files


@pytest.mark.parametrize("name", ["mx1", "mx2", "sender"])
def test_postfix_runs_on_both_stacks_and_hosts_know_their_own_ipv6_name(name: str) -> None:
    files = files_of(name)
    assert "inet_protocols = all" in files["/etc/postfix/main.cf"].content.splitlines()
    assert f"{topo.host(name).address6()} {topo.host(name).fqdn} {name}" in files["/etc/hosts"].content.splitlines()
    assert "::1 localhost ip6-localhost ip6-loopback" in files["/etc/hosts"].content


def test_the_sender_relays_for_the_lab_on_both_stacks() -> None:
    main_cf = files_of("sender")["/etc/postfix/main.cf"].content.splitlines()
    assert "mynetworks = 127.0.0.0/8 198.51.100.0/24 [::1]/128 [2001:db8:51:100::]/64" in main_cf


def test_hosts_turn_ipv6_on_and_never_take_a_router_advertisement() -> None:
    sysctls = set(network.HOST_IPV6_SYSCTLS)
    for device in ("all", "default", "eth0", "lo"):
        assert f"net.ipv6.conf.{device}.disable_ipv6=0" in sysctls
        assert f"net.ipv6.conf.{device}.accept_ra=0" in sysctls
        assert f"net.ipv6.conf.{device}.autoconf=0" in sysctls


def _routes(monkeypatch: pytest.MonkeyPatch, v6_routes: str) -> None:
    class Done:
        def __init__(self, stdout: str) -> None:
            self.stdout, self.returncode, self.stderr = stdout, 0, ""

    monkeypatch.setattr(network, "ip", lambda *args, check=True: Done(v6_routes if args[0] == "-6" else ""))
    monkeypatch.setattr(network, "resolver_addresses", lambda: [])
    monkeypatch.setattr(network, "package_source_hosts", lambda: [])


def test_the_ipv6_prefix_is_refused_when_the_machine_routes_it_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    _routes(monkeypatch, "2001:db8::/32 via fd00::1 dev eth0 metric 1024\n")
    with pytest.raises(LabError, match="2001:db8:51:100::/64 overlaps a route already on this machine: 2001:db8::/32 via"):
        network.check_prefix(PREFIX)


def test_a_default_ipv6_route_and_the_labs_own_bridge_are_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    _routes(monkeypatch, "default via fd00::1 dev eth0 metric 1024\n2001:db8:51:100::/64 dev mxd-br0 proto kernel\n")
    network.check_prefix(PREFIX)


def test_a_package_source_inside_the_ipv6_prefix_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert network.collisions(topo.PREFIX6, {"package source deb.example": ["2001:db8:51:100::80", "203.0.113.80"]}) == [
        "2001:db8:51:100::80 (package source deb.example)"]
