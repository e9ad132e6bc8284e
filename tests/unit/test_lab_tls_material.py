"""The lab's TLS material without booting anything: the CA and each MX's certificate verify as a TLS client
verifies them (Python's ssl, in memory), name the MX, are kept across `up`s and renewed near their end, and a
certificate `issue` makes broken is refused for that reason; what the hosts' main.cf and files get; the
inventory's `mxdrill_tls_ca`."""

from __future__ import annotations

import datetime
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509

from mxdrill import cli
from mxdrill.inventory import load_inventory
from mxdrill.lab import ansible_inventory, configs, hosts, manager, tls
from mxdrill.lab import topology as topo

from test_lab_configs import KEYS, PREFIX, ROOT_INVENTORY, files_of

DAY = datetime.timedelta(days=1)


def _temp_file(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


def _pump(source: ssl.MemoryBIO, target: ssl.MemoryBIO) -> None:
    data = source.read()
    if data:
        target.write(data)


def handshake(cert_pem: str, key_pem: str, ca_pem: str, hostname: str) -> None:
    """A TLS handshake in memory, the server with this certificate, the client trusting only `ca_pem` and
    checking `hostname` as an SMTP client with the domain's CA would; raises ssl.SSLError when it refuses."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(_temp_file(directory, "c.pem", cert_pem), _temp_file(directory, "k.pem", key_pem))
    client_context = ssl.create_default_context(cadata=ca_pem)
    to_server, to_client, from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, from_client, server_hostname=hostname)
    server = server_context.wrap_bio(to_server, from_server, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for side, end in (("client", client), ("server", server)):
            if not done[side]:
                try:
                    end.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        _pump(from_client, to_server)
        _pump(from_server, to_client)
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


@pytest.fixture(scope="module")
def lab_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tls.LabTls]:
    directory = tmp_path_factory.mktemp("state") / "tls"
    return directory, tls.ensure(directory)


def test_every_mx_certificate_verifies_against_the_lab_ca_for_its_own_name(lab_tls: tuple[Path, tls.LabTls]) -> None:
    _, material = lab_tls
    assert set(material.certificates) == {h.name for h in topo.EVERY_HOST if h.role in ("mx", "mailstore")}
    for lab_host in tls.mx_hosts():
        cert_pem, key_pem = material.certificates[lab_host.name]
        handshake(cert_pem, key_pem, material.ca_pem, lab_host.fqdn)
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [lab_host.fqdn]


def test_a_fresh_certificate_lasts_a_year_and_is_far_from_the_preflights_21_days(lab_tls: tuple[Path, tls.LabTls]) -> None:
    _, material = lab_tls
    cert = x509.load_pem_x509_certificate(material.certificates["mx1"][0].encode())
    left = cert.not_valid_after_utc - tls.now()
    assert 364 * DAY < left <= 365 * DAY and tls.RENEW_BEFORE > 21 * DAY
    assert cert.not_valid_before_utc < tls.now()


def test_the_ca_is_a_ca_and_the_keys_are_private(lab_tls: tuple[Path, tls.LabTls]) -> None:
    directory, _ = lab_tls
    ca = x509.load_pem_x509_certificate(tls.ca_path(directory).read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (directory / tls.CA_KEY).stat().st_mode & 0o777 == 0o600
    assert tls.key_path(directory, "mx2.example.test").stat().st_mode & 0o777 == 0o600


def test_the_material_is_kept_across_ups(lab_tls: tuple[Path, tls.LabTls]) -> None:
    directory, material = lab_tls
    assert tls.ensure(directory) == material


def test_a_certificate_near_its_end_is_issued_anew_and_the_ca_kept(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path)
    later = tls.now() + tls.CERT_VALIDITY - tls.RENEW_BEFORE + DAY
    second = tls.ensure(tmp_path, at=later)
    assert second.ca_pem == first.ca_pem
    assert all(second.certificates[name] != first.certificates[name] for name in first.certificates)
    cert = x509.load_pem_x509_certificate(second.certificates["mx1"][0].encode())
    assert cert.not_valid_after_utc - later > 364 * DAY


def test_a_new_ca_reissues_every_certificate(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path)
    (tmp_path / tls.CA_KEY).unlink()
    second = tls.ensure(tmp_path)
    assert second.ca_pem != first.ca_pem
    cert_pem, key_pem = second.certificates["mx2"]
    handshake(cert_pem, key_pem, second.ca_pem, "mx2.example.test")


def test_a_certificate_for_another_host_is_refused_for_its_name(lab_tls: tuple[Path, tls.LabTls]) -> None:
    directory, material = lab_tls
    cert_pem, key_pem = tls.issue(directory, "mx1.example.test", not_before=tls.now() - DAY, not_after=tls.now() + 90 * DAY)
    handshake(cert_pem, key_pem, material.ca_pem, "mx1.example.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(cert_pem, key_pem, material.ca_pem, "mx2.example.test")


def test_an_expired_certificate_is_refused_as_expired(lab_tls: tuple[Path, tls.LabTls]) -> None:
    directory, material = lab_tls
    cert_pem, key_pem = tls.issue(directory, "mx2.example.test", not_before=tls.now() - 30 * DAY,
                                  not_after=tls.now() - DAY)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        handshake(cert_pem, key_pem, material.ca_pem, "mx2.example.test")


def test_a_certificate_of_another_ca_is_refused(lab_tls: tuple[Path, tls.LabTls], tmp_path: Path) -> None:
    _, material = lab_tls
    tls.ensure_ca(tmp_path)
    cert_pem, key_pem = tls.issue(tmp_path, "mx2.example.test", not_before=tls.now() - DAY, not_after=tls.now() + 90 * DAY)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        handshake(cert_pem, key_pem, material.ca_pem, "mx2.example.test")


def test_issue_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mxdrill lab up"):
        tls.issue(tmp_path, "mx1.example.test", not_before=tls.now(), not_after=tls.now() + DAY)


# --- what the hosts get ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mx1", "mx2"])
@pytest.mark.parametrize("topology", topo.TOPOLOGIES)
def test_every_mx_offers_starttls_with_its_certificate_and_a_private_key(name: str, topology: topo.Topology) -> None:
    files = files_of(name, topology)
    main_cf = files["/etc/postfix/main.cf"].content.splitlines()
    for line in ("smtpd_tls_cert_file = /etc/postfix/tls/mx.pem", "smtpd_tls_key_file = /etc/postfix/tls/mx.key",
                 "smtpd_tls_security_level = may", "smtpd_tls_loglevel = 1", "smtpd_tls_received_header = yes"):
        assert line in main_cf
    assert files[tls.HOST_CERT_FILE].content == f"CERT-{name}.example.test\n"
    assert files[tls.HOST_KEY_FILE].content == f"TLSKEY-{name}.example.test\n"
    assert files[tls.HOST_KEY_FILE].mode == 0o600
    # only an MX that relays to the mail store verifies a certificate itself (the store's)
    assert (tls.HOST_CA_FILE in files) == (topology == "store")


def test_mx3_and_a_further_domains_mxs_get_their_own_certificate() -> None:
    assert files_of("mx3", backups=2)[tls.HOST_CERT_FILE].content == "CERT-mx3.example.test\n"
    assert files_of("mx2-d3", domains=3)[tls.HOST_CERT_FILE].content == "CERT-mx2.example3.test\n"


def test_the_sender_uses_tls_where_offered_and_trusts_the_lab_ca() -> None:
    files = files_of("sender")
    main_cf = files["/etc/postfix/main.cf"].content.splitlines()
    for line in ("smtp_tls_security_level = may", "smtp_tls_CAfile = /etc/postfix/tls/lab-ca.pem", "smtp_tls_loglevel = 1"):
        assert line in main_cf
    assert not any(line.startswith("smtpd_tls_") for line in main_cf)
    assert files[tls.HOST_CA_FILE].content == "LAB-CA\n"
    assert tls.HOST_KEY_FILE not in files


def test_the_dns_and_storage_hosts_get_no_tls_material() -> None:
    for name in ("dns", "storage"):
        assert not any(path.startswith("/etc/postfix/tls/") for path in files_of(name))


def test_a_new_certificate_reboots_that_mx_only_and_a_new_ca_the_sender() -> None:
    certificates = dict(KEYS.tls.certificates) | {"mx2": ("OTHER-CERT\n", "OTHER-KEY\n")}
    other_cert = configs.LabKeys(KEYS.client_public, KEYS.client_private, KEYS.host_private, KEYS.host_public,
                                 tls.LabTls(KEYS.tls.ca_pem, certificates))
    other_ca = configs.LabKeys(KEYS.client_public, KEYS.client_private, KEYS.host_private, KEYS.host_public,
                               tls.LabTls("OTHER-CA\n", KEYS.tls.certificates))

    def changed(keys: configs.LabKeys) -> list[str]:
        return [h.name for h in topo.HOSTS
                if hosts.config_digest(h, "shared", PREFIX, keys, 1) != hosts.config_digest(h, "shared", PREFIX, KEYS, 1)]

    assert changed(other_cert) == ["mx2"]
    assert changed(other_ca) == ["sender"]


# --- the inventory --------------------------------------------------------------------------------

def test_the_root_inventory_names_the_lab_ca_relative_to_itself() -> None:
    assert "    mxdrill_tls_ca: .lab/tls/ca.pem" in ROOT_INVENTORY.read_text()
    assert load_inventory(ROOT_INVENTORY).tls_ca == ROOT_INVENTORY.parent / ".lab/tls/ca.pem"


def test_every_domain_of_a_fleet_inherits_the_lab_ca(tmp_path: Path) -> None:
    from mxdrill.inventory import load_fleet

    path = tmp_path / "hosts.yml"
    path.write_text(ansible_inventory.render("shared", 1, key_file="/k", known_hosts="/kh", domains=3, tls_ca="/ca.pem"))
    fleet = load_fleet(path)
    assert {inv.domain: inv.tls_ca for inv in fleet.domains} == {d: Path("/ca.pem") for d in topo.mail_domains(3)}


def test_the_ansible_dir_layout_names_the_ca_in_group_vars_all() -> None:
    files = ansible_inventory.render_dir("shared", 1, PREFIX, "/k", "/kh", tls_ca="/state/tls/ca.pem")
    assert "mxdrill_tls_ca: /state/tls/ca.pem" in files["group_vars/all.yml"]


def test_lab_inventory_and_init_give_the_absolute_path_of_the_running_labs_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    running = manager.RunState("shared", 1, PREFIX)
    monkeypatch.setattr(manager, "require_running", lambda paths: running)
    monkeypatch.setattr(manager, "run_state", lambda: running)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lab", "inventory", "--state-dir", "state", "--output", "out.yml"]) == 0
    ca = tmp_path.resolve() / "state/tls/ca.pem"
    assert f"    mxdrill_tls_ca: {ca} " in (tmp_path / "out.yml").read_text()
    assert cli.main(["init", "demo", "--lab-state-dir", "state"]) == 0
    assert f"    mxdrill_tls_ca: {ca} " in (tmp_path / "demo/hosts.yml").read_text()
