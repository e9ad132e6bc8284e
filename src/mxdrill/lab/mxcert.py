"""Swap the certificate one running lab MX serves: a test installs a broken one, then puts the lab's back.

Why not reboot the host with other files: a swap costs a `postfix reload` (well under a second)
instead of a boot, and leaves the host's boot digest alone, so the next `lab up` still sees the lab
it booted. The files are written from inside the host (its own mount namespace), into its
copy-on-write /etc: the machine's own /etc is never touched. `install` returns only once the MX
serves the new certificate, so a check right after it sees what it was given.

Usage in a test::

    cert, key = tls.issue(paths.tls_dir, "mx1.example.test", not_before=..., not_after=...)
    mxcert.install("mx2", cert, key)
    try:
        ...  # the preflight sees mx2 present mx1's name
    finally:
        mxcert.restore("mx2", paths.tls_dir)
"""

from __future__ import annotations

import smtplib
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mxdrill.lab import hosts, manager, tls
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError

SERVE_DEADLINE_SECONDS = 10.0
COMMAND_SECONDS = 15.0


def _running_host(host_name: str) -> topo.LabHost:
    """The running lab's MX of that name (short name or FQDN); LabError if the lab is not up or it is no MX."""
    state = manager.run_state()
    if state is None:
        raise LabError("the lab is not up: run `mxdrill lab up` first")
    try:
        lab_host = topo.host(host_name, state.backups, state.domains)
    except KeyError as error:
        raise LabError(str(error.args[0])) from None
    if lab_host.role != "mx":
        raise LabError(f"{lab_host.name} is no MX: only the MXs serve a certificate")
    return lab_host


def _in_host(lab_host: topo.LabHost, script: str, *args: str, stdin: str = "") -> None:
    """Run a shell script as root inside the host; LabError quoting what it said if it fails."""
    argv = hosts.nsenter_argv(lab_host, ["/bin/sh", "-c", script, "sh", *args])
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=COMMAND_SECONDS,
                          env={"PATH": manager.SBIN_PATH, "LANG": "C.UTF-8"})
    if proc.returncode != 0:
        raise LabError(f"on {lab_host.name}, `{script}` failed: {(proc.stderr or proc.stdout).strip()}")


def _put(lab_host: topo.LabHost, path: str, text: str, mode: str) -> None:
    """Replace one file whole (written aside, then renamed) with this mode, private before a byte is in it."""
    _in_host(lab_host, 'umask 077 && cat > "$1.new" && chmod "$2" "$1.new" && mv -f "$1.new" "$1"', path, mode, stdin=text)


def served_certificate(address: str, timeout: float = 5.0) -> bytes:
    """The DER of the certificate an MX presents after STARTTLS on port 25, trusting nothing (it only looks)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(address, 25, timeout=timeout) as client:
        client.starttls(context=context)
        der = client.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    if der is None:
        raise LabError(f"{address} presented no certificate")
    return der


def _der(cert_pem: str) -> bytes:
    return x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)


def _wait_served(lab_host: topo.LabHost, cert_pem: str) -> None:
    """Until the MX hands out this certificate: smtpd processes from before the reload may still take a connection."""
    state = manager.run_state()
    address = lab_host.address(state.prefix if state else topo.DEFAULT_PREFIX)
    wanted, seen = _der(cert_pem), b""
    deadline = time.monotonic() + SERVE_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            seen = served_certificate(address)
        except (OSError, smtplib.SMTPException, ssl.SSLError):
            seen = b""
        if seen == wanted:
            return
        time.sleep(0.1)
    raise LabError(f"{lab_host.name} does not serve the installed certificate {SERVE_DEADLINE_SECONDS:.0f}s after "
                   f"`postfix reload`; look at `mxdrill lab exec {lab_host.name} -- postfix check`")


def install(host_name: str, cert_pem: str, key_pem: str) -> None:
    """Make one running lab MX serve this certificate and key (PEM): write them where main.cf points, reload Postfix.

    Nothing checks that they match or are valid: a broken pair is what tests install. Returns once
    the MX presents the certificate after STARTTLS.
    """
    lab_host = _running_host(host_name)
    _put(lab_host, tls.HOST_KEY_FILE, key_pem, "0600")
    _put(lab_host, tls.HOST_CERT_FILE, cert_pem, "0644")
    _in_host(lab_host, "postfix reload")
    _wait_served(lab_host, cert_pem)


def restore(host_name: str, tls_dir: Path) -> None:
    """Put back the certificate and key the lab gave this MX (kept in `tls_dir`, the lab's `.lab/tls`)."""
    lab_host = _running_host(host_name)
    try:
        cert_pem = tls.cert_path(tls_dir, lab_host.fqdn).read_text()
        key_pem = tls.key_path(tls_dir, lab_host.fqdn).read_text()
    except OSError as error:
        raise LabError(f"no lab certificate for {lab_host.fqdn} in {tls_dir} ({error.strerror}): "
                       "pass the --state-dir the lab was brought up with") from None
    install(lab_host.name, cert_pem, key_pem)
