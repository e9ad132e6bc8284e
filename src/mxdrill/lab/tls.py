"""The lab's TLS: one CA per state directory and a certificate per MX signed by it.

Why: the preflight checks that every MX offers STARTTLS with a certificate that chains to the
domain's CA (`mxdrill_tls_ca`), names the MX and is not about to expire; it needs real certificates
to pass and broken ones to fail. The CA and the MXs' certificates are made once and kept in the
state directory (`.lab/tls/`), like the SSH keys, so that `lab up` makes no key after the first
time and every host's boot digest stays the same from one `up` to the next. A certificate is issued
anew only when it would no longer pass a preflight: it nears its end (`RENEW_BEFORE`), no longer
chains to the CA, or names another host.

`issue` is public so that a test can make a certificate that is broken in one way (another host's
name, expired, not yet valid) and install it on one MX (`mxdrill.lab.mxcert`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mxdrill.lab import topology as topo

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
CA_NAME = "mxdrill lab CA"
CA_VALIDITY = datetime.timedelta(days=10 * 365)
CERT_VALIDITY = datetime.timedelta(days=365)
# Well clear of mxdrill_cert_min_days (21 by default): a fresh lab's certificates never make the preflight warn.
RENEW_BEFORE = datetime.timedelta(days=60)
# A certificate is dated this much in the past, so a host whose clock lags a little still accepts it.
BACKDATE = datetime.timedelta(hours=1)

# Where the lab puts the material inside a host (written into its upper /etc; the key is 0600).
HOST_CERT_FILE = "/etc/postfix/tls/mx.pem"
HOST_KEY_FILE = "/etc/postfix/tls/mx.key"
HOST_CA_FILE = "/etc/postfix/tls/lab-ca.pem"


@dataclass(frozen=True)
class LabTls:
    """The lab's TLS material as the hosts get it: the CA certificate, and each MX's (certificate, key) by short name."""

    ca_pem: str
    certificates: dict[str, tuple[str, str]]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ca_path(tls_dir: Path) -> Path:
    """The CA certificate (PEM): what `mxdrill_tls_ca` names."""
    return tls_dir / CA_CERT


def cert_path(tls_dir: Path, fqdn: str) -> Path:
    return tls_dir / f"{fqdn}.pem"


def key_path(tls_dir: Path, fqdn: str) -> Path:
    return tls_dir / f"{fqdn}.key"


def mx_hosts() -> tuple[topo.LabHost, ...]:
    """Every MX any lab can run, and the mail store: all get a certificate, whether they run now or not, so the set never changes."""
    return tuple(h for h in topo.EVERY_HOST if h.role in ("mx", "mailstore"))


# --- PEM and files ------------------------------------------------------------------------------

def _new_key() -> ec.EllipticCurvePrivateKey:
    """P-256: a key in under a millisecond, which every TLS stack of the last decade takes."""
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _write(path: Path, text: str, mode: int) -> None:
    """Write whole or not at all (a crash halfway leaves no half a key), private from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(partial, mode)
    os.replace(partial, path)


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


# --- the CA -------------------------------------------------------------------------------------

def _ca_certificate(key: ec.EllipticCurvePrivateKey, at: datetime.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mxdrill lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - BACKDATE)
        .not_valid_after(at + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _usable_ca(tls_dir: Path, at: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The kept CA if its certificate and key belong together and it outlives RENEW_BEFORE."""
    cert, key = _read_cert(ca_path(tls_dir)), _read_key(tls_dir / CA_KEY)
    if cert is None or key is None or cert.public_key() != key.public_key():
        return None
    return (cert, key) if cert.not_valid_after_utc - at > RENEW_BEFORE else None


def ensure_ca(tls_dir: Path, at: datetime.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The lab CA, made once (and again only if its files are broken or it nears its end)."""
    at = at or now()
    kept = _usable_ca(tls_dir, at)
    if kept is not None:
        return kept
    key = _new_key()
    cert = _ca_certificate(key, at)
    _write(tls_dir / CA_KEY, _key_pem(key), 0o600)
    _write(ca_path(tls_dir), _cert_pem(cert), 0o644)
    return cert, key


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert, key = _read_cert(ca_path(ca_dir)), _read_key(ca_dir / CA_KEY)
    if cert is None or key is None:
        raise FileNotFoundError(f"no lab CA in {ca_dir} ({CA_CERT} and {CA_KEY}): run `mxdrill lab up` first")
    return cert, key


# --- certificates -------------------------------------------------------------------------------

def _server_certificate(
    name: str, key: ec.EllipticCurvePrivateKey, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    not_before: datetime.datetime, not_after: datetime.datetime,
) -> x509.Certificate:
    ca_cert, ca_key = ca
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def issue(
    ca_dir: Path, name: str, *, not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[str, str]:
    """A server certificate for DNS name `name` signed by the lab CA in `ca_dir`, with a new key: (cert PEM, key PEM).

    Any dates are taken, so a test can make a certificate that has expired (`not_after` in the past),
    is not yet valid, or names another host; it is not stored anywhere.
    """
    key = _new_key()
    cert = _server_certificate(name, key, _load_ca(ca_dir), not_before, not_after)
    return _cert_pem(cert), _key_pem(key)


def _still_good(cert: x509.Certificate | None, key: ec.EllipticCurvePrivateKey | None, fqdn: str,
                ca_cert: x509.Certificate, at: datetime.datetime) -> bool:
    """Whether a kept certificate would pass: its key, signed by this CA, naming `fqdn`, valid now and past RENEW_BEFORE."""
    if cert is None or key is None or cert.public_key() != key.public_key():
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return names == [fqdn] and cert.not_valid_before_utc <= at and cert.not_valid_after_utc - at > RENEW_BEFORE


def ensure_certificate(tls_dir: Path, fqdn: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
                       at: datetime.datetime) -> tuple[str, str]:
    """The kept certificate and key of `fqdn` if still good, else a new pair (stored): (cert PEM, key PEM)."""
    cert_file, key_file = cert_path(tls_dir, fqdn), key_path(tls_dir, fqdn)
    if _still_good(_read_cert(cert_file), _read_key(key_file), fqdn, ca[0], at):
        return cert_file.read_text(), key_file.read_text()
    key = _new_key()
    cert_pem, key_pem = _cert_pem(_server_certificate(fqdn, key, ca, at - BACKDATE, at + CERT_VALIDITY)), _key_pem(key)
    _write(key_file, key_pem, 0o600)
    _write(cert_file, cert_pem, 0o644)
    return cert_pem, key_pem


def ensure(tls_dir: Path, at: datetime.datetime | None = None) -> LabTls:
    """The CA and a good certificate for every MX any lab can run, made or renewed only where needed."""
    at = at or now()
    ca = ensure_ca(tls_dir, at)
    certificates = {h.name: ensure_certificate(tls_dir, h.fqdn, ca, at) for h in mx_hosts()}
    return LabTls(ca_pem=ca_path(tls_dir).read_text(), certificates=certificates)
