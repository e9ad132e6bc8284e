"""The seeds' MX rules on recorded DNS answers: each problem named with its cause and its fix."""

from __future__ import annotations

from dataclasses import replace

from mxdrill import dnsrules
from mxdrill.dnsrules import DeclaredMx, DnsView, MxAnswer
from mxdrill.finding import Finding

MX1, MX2 = "mx1.example.test", "mx2.example.test"
A1, A2 = "198.51.100.11", "198.51.100.12"
DECLARED = [DeclaredMx(MX1, 10, A1), DeclaredMx(MX2, 20, A2)]
HEALTHY = DnsView(
    "example.test",
    (MxAnswer(10, MX1, 3600, None, (A1,)), MxAnswer(20, MX2, 3600, None, (A2,))),
    ptrs={A1: (MX1,), A2: (MX2,)},
    forward={MX1: (A1,), MX2: (A2,)},
)


def with_mx(*mxs: MxAnswer, **changes: object) -> DnsView:
    return replace(HEALTHY, mxs=mxs, **changes)


def only(view: DnsView) -> Finding:
    found = dnsrules.findings(view, DECLARED)
    assert len(found) == 1, found
    return found[0]


def test_the_lab_as_published_has_no_finding() -> None:
    assert dnsrules.findings(HEALTHY, DECLARED) == []


def test_an_mx_that_is_a_cname_is_named_with_the_record_to_publish() -> None:
    finding = only(with_mx(HEALTHY.mxs[0], MxAnswer(20, "backup.example.test", 3600, MX2, (A2,))))
    assert (finding.check, finding.severity) == ("dns-mx-target", "error")
    assert "MX 20 backup.example.test is a CNAME to mx2.example.test" in finding.message
    assert "publish `MX 20 mx2.example.test.` instead" in finding.message


def test_an_mx_that_is_an_ip_address_or_has_no_address_is_an_error() -> None:
    found = dnsrules.findings(with_mx(HEALTHY.mxs[0], MxAnswer(20, A2, 3600)), DECLARED)
    assert "MX 20 198.51.100.12 is an IP address, not a host name" in found[0].message
    found = dnsrules.target_shape(with_mx(MxAnswer(10, MX1, 3600, None, ())))
    assert "MX 10 mx1.example.test has no A or AAAA record" in found[0].message


def test_an_undeclared_mx_is_split_reception() -> None:
    old = MxAnswer(30, "oldmx.example.test", 3600, None, ("198.51.100.99",))
    finding = only(with_mx(*HEALTHY.mxs, old, ptrs={**HEALTHY.ptrs, "198.51.100.99": ("oldmx.example.test",)},
                           forward={**HEALTHY.forward, "oldmx.example.test": ("198.51.100.99",)}))
    assert finding.check == "dns-mx-undeclared" and "split reception" in finding.message


def test_equal_priorities_are_tried_at_random() -> None:
    found = dnsrules.findings(with_mx(HEALTHY.mxs[0], replace(HEALTHY.mxs[1], preference=10)), DECLARED)
    assert [f.check for f in found] == ["dns-mx-priority", "dns-mx-equal-priority"]
    assert "share MX preference 10: senders pick one at random" in found[1].message
    # declared at the same priority, the sharing is meant (seed 003's round-robin): no finding
    both_at_10 = [replace(DECLARED[0]), replace(DECLARED[1], priority=10)]
    assert dnsrules.priorities(with_mx(HEALTHY.mxs[0], replace(HEALTHY.mxs[1], preference=10)), both_at_10) == []


def test_a_declared_mx_that_is_not_published_is_missing() -> None:
    finding = only(with_mx(HEALTHY.mxs[0]))
    assert finding.check == "dns-mx-missing" and "publish `MX 20 mx2.example.test.`" in finding.message


def test_a_low_ttl_a_wildcard_and_a_missing_ptr_are_warnings() -> None:
    low = dnsrules.findings(with_mx(*(replace(m, ttl=300) for m in HEALTHY.mxs)), DECLARED)
    assert [(f.check, f.severity) for f in low] == [("dns-mx-ttl", "warning")] and "TTL 300s, below 3600s" in low[0].message
    assert only(replace(HEALTHY, wildcard_mx=True)).check == "dns-mx-wildcard"
    unconfirmed = only(replace(HEALTHY, forward={MX1: (A1,), MX2: ("198.51.100.77",)}))
    assert (unconfirmed.check, unconfirmed.severity) == ("dns-ptr", "warning") and "does not resolve back" in unconfirmed.message
    assert "has no PTR record" in only(replace(HEALTHY, ptrs={A1: (MX1,)})).message


def test_a_queueing_backup_that_bounces_early_is_an_error_with_the_postconf_to_run() -> None:
    from mxdrill.preflight import postfix_seconds, queue_lifetime

    assert [postfix_seconds(v) for v in ("5d", "12h", "3", "1w", "x")] == [432000, 43200, 259200, 604800, None]
    short, default = queue_lifetime("mx2.example.test", {"maximal_queue_lifetime": "1d", "bounce_queue_lifetime": "5d"})
    assert not short.ok and short.blocks and "postconf -e maximal_queue_lifetime=5d (or more) on mx2.example.test" in short.message
    assert default.ok


def test_a_backup_weaker_than_its_primary_is_a_warning_naming_both_values() -> None:
    from mxdrill.preflight import PARITY, parity

    same = {name: "" for name in PARITY} | {"postscreen_dnsbl_sites": "zen.spamhaus.org*2"}
    values = {"mx1": same, "mx2": same | {"postscreen_dnsbl_sites": ""}, "mx3": same}
    found = parity(values, "mx1")
    assert [(f.host, f.ok, f.severity) for f in found] == [("mx2", False, "warning"), ("mx3", True, "error")]
    assert "postscreen_dnsbl_sites: mx1 = zen.spamhaus.org*2, mx2 = (empty)" in found[0].message
    assert found[0].fix == "make them equal (postconf -e on mx2)"


def test_an_spf_record_without_mx_that_leaves_out_the_backup_is_a_warning_naming_it() -> None:
    found = dnsrules.spf(replace(HEALTHY, spf=f"v=spf1 ip4:{A1} -all"))
    assert [(f.check, f.host, f.severity) for f in found] == [("dns-spf", MX2, "warning")]
    assert f"does not cover {MX2} ({A2})" in found[0].detail and "add `mx`" in found[0].fix
    assert dnsrules.spf(replace(HEALTHY, spf="v=spf1 mx -all")) == []
    assert dnsrules.spf(replace(HEALTHY, spf="v=spf1 ip4:198.51.100.0/24 -all")) == []
    assert dnsrules.spf(replace(HEALTHY, spf="v=spf1 include:_spf.example.net -all")) == []  # delegated: not judged here
    assert dnsrules.spf(replace(HEALTHY, spf="v=spf1 -mx ip4:192.0.2.1 -all"))[0].host == MX1  # -mx authorises nobody
    first_match = dnsrules.spf(replace(HEALTHY, spf=f"v=spf1 -ip4:{A2} mx -all"))  # SPF's order: the first match decides
    assert [f.host for f in first_match] == [MX2]
    assert dnsrules.spf(replace(HEALTHY, spf="v=spf1 +all")) == []
    assert not dnsrules.spf_judged(replace(HEALTHY, spf="v=spf1 include:_spf.example.net -all"))
