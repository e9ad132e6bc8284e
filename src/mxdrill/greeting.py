"""What an MX says before any mail: its 220 banner, its EHLO reply and, if it offers STARTTLS, the
certificate it shows, verified as a sender that checks would (the declared CA, the MX's name).

`greet` gathers these facts from one address in one SMTP session (nothing is sent, QUIT at the end)
so that `smtprules` can judge them as pure functions, tested on recorded greetings without a server.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiosmtplib
from cryptography import x509
from cryptography.x509.oid import NameOID

from mxdrill.smtp import HARNESS_HELO


@dataclass(frozen=True)
class Certificate:
    """The parts of an MX's certificate a postmaster acts on."""

    subject: str  # its common name
    names: tuple[str, ...]  # its subjectAltName DNS names
    issuer: str
    not_after: float  # seconds since the epoch

    @classmethod
    def from_der(cls, der: bytes) -> Certificate | None:
        """None when the MX sent something that is no certificate (the finding then says so)."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        try:
            names = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return cls(_common_name(cert.subject), names, _common_name(cert.issuer), cert.not_valid_after_utc.timestamp())


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


@dataclass(frozen=True)
class Greeting:
    """One address of one MX, as a sender meets it."""

    address: str
    code: int | None  # the banner's code; None: no SMTP answer at all (see banner for why)
    banner: str
    ehlo_name: str = ""  # the name the MX gives in its EHLO reply
    extensions: dict[str, str] = field(default_factory=dict)  # lower-case keyword -> its parameters
    tls_error: str | None = None  # STARTTLS offered but no verified session: why (expired, wrong name, ...)
    certificate: Certificate | None = None  # what it showed, verified or not
    tls_version: str | None = None  # of the verified session
    ehlo_error: str | None = None  # it greeted but refused or broke off EHLO: nothing after EHLO was seen
    unreachable: bool = False  # this machine has no route to the address (e.g. no IPv6 here): not checked

    @property
    def answered(self) -> bool:
        return self.code == 220

    @property
    def starttls(self) -> bool:
        return "starttls" in self.extensions

    @property
    def size(self) -> int | None:
        """The SIZE it advertises (RFC 1870); None when it advertises none, 0 when it sets no limit."""
        value = self.extensions.get("size")
        if value is None:
            return None
        return int(value) if value.strip().isdigit() else 0


def tls_context(ca: Path | None, verify: bool = True) -> ssl.SSLContext:
    """The declared CA (else this machine's trust store), checking the MX's name, as a verifying sender does."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# This machine has no route for that network or family at all (e.g. no IPv6 here). Not EHOSTUNREACH:
# that is what a dead host on a routed network gives (no ARP or neighbour answer), a real finding.
NO_ROUTE = (errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


def _no_route(error: BaseException) -> bool:
    """This machine cannot reach the address at all (not: the MX is dead, refused or ignored us)."""
    for found in (error, error.__cause__, error.__context__):
        if isinstance(found, OSError) and found.errno in NO_ROUTE:
            return True
    return f"[Errno {errno.ENETUNREACH}]" in str(error) or "Network is unreachable" in str(error)


def _why(error: BaseException) -> str:
    """The certificate problem in OpenSSL's words ("certificate has expired", "Hostname mismatch ...")."""
    for found in (error, error.__cause__, error.__context__):
        if isinstance(found, ssl.SSLCertVerificationError):
            return str(found.verify_message or found)
    return f"{type(error).__name__}: {error}"


async def _session(address: str, name: str, timeout: float, context: ssl.SSLContext | None) -> tuple[Greeting, bytes | None]:
    client = aiosmtplib.SMTP(hostname=address, port=25, timeout=timeout, start_tls=False, local_hostname=HARNESS_HELO)
    try:
        banner = await client.connect()
    except aiosmtplib.SMTPConnectResponseError as error:  # it answered, with something else than 220
        return Greeting(address, error.code, error.message), None
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
        return Greeting(address, None, f"{type(error).__name__}: {error}", unreachable=_no_route(error)), None
    try:
        try:
            reply = await client.ehlo()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
            return Greeting(address, banner.code, banner.message, ehlo_error=f"{type(error).__name__}: {error}"), None
        greeting = Greeting(address, banner.code, banner.message, reply.message.split("\n")[0].split(" ")[0],
                            dict(client.esmtp_extensions))
        if context is None or not greeting.starttls:
            await _quit(client)
            return greeting, None
        try:
            await client.starttls(server_hostname=name, tls_context=context)
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError, asyncio.TimeoutError) as error:
            return replace(greeting, tls_error=_why(error)), None
        ssl_object = client.get_transport_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        version = ssl_object.version() if ssl_object else None
        await _quit(client)
        return replace(greeting, tls_version=version), der
    finally:
        client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    """QUIT, so the MX logs a clean end of session rather than a lost connection."""
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        pass


async def greet(address: str, name: str, ca: Path | None, timeout: float = 10.0) -> Greeting:
    """Banner, EHLO and (if offered) a verified STARTTLS; when verification fails, a second session
    without it fetches the certificate anyway, so the finding can say what the MX showed."""
    try:
        context = tls_context(ca)
    except (ssl.SSLError, OSError) as error:  # check_files refuses such a CA file; this is the last guard
        context = None
        failed = f"the CA file {ca} cannot be used: {error}"
    greeting, der = await _session(address, name, timeout, context)
    if context is None and greeting.starttls:
        greeting = replace(greeting, tls_error=failed)
    if greeting.tls_error is not None and greeting.starttls:
        _, der = await _session(address, name, timeout, tls_context(ca, verify=False))
    if der is None:
        return greeting
    return replace(greeting, certificate=Certificate.from_der(der))
