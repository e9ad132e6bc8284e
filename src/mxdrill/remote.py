"""One SSH session per host, reused, with verified host keys and a bound on every command.

testinfra gives us the remote facts (files, mount points, processes), but its paramiko backend
accepts unknown host keys with a warning, never reads known_hosts, bounds only the TCP connect and
lets a command hang forever. A drill that may stop a production primary cannot live with any of
that, so `StrictParamikoBackend` replaces the connection and the command execution while keeping
testinfra's modules on top.
"""

from __future__ import annotations

import concurrent.futures
import functools
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paramiko
import testinfra.host
from testinfra.backend.base import CommandResult
from testinfra.backend.paramiko import ParamikoBackend

from mxdrill.inventory import Host

CONNECT_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 5


class RemoteError(Exception):
    """A host could not be reached or refused us; the message names the host and what to do."""


class RemoteTimeout(RemoteError):
    """A remote command exceeded its bound (a hung NFS mount must not hang the drill)."""


class StrictParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend with strict host keys, TCP_NODELAY and command timeouts."""

    def __init__(self, target: Host, command_timeout: float, **kwargs: Any) -> None:
        self.target = target
        self.command_timeout = command_timeout
        self.connections_opened = 0
        super().__init__(f"{target.ssh.user}@{target.address}:{target.ssh.port}", timeout=int(CONNECT_TIMEOUT), sudo=target.ssh.sudo, **kwargs)

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        # -n: never wait for a password prompt nobody will answer.
        if sudo_user is None:
            return self.quote("sudo -n /bin/sh -c %s", command)
        return self.quote("sudo -n -u %s /bin/sh -c %s", sudo_user, command)

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:  # type: ignore[override]
        client = connect(self.target)
        self.connections_opened += 1
        return client

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        transport = self.client.get_transport()
        if transport is None:
            raise RemoteError(f"{self.target.name}: SSH connection is closed")
        channel = transport.open_session(timeout=min(CONNECT_TIMEOUT, self.command_timeout))
        try:
            return _run_bounded(channel, command, self.command_timeout, self.target.name)
        finally:
            channel.close()

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        """Like testinfra's run, but every SSH failure becomes a RemoteError naming the host.

        A dropped connection is reopened once (a restarted sshd, a NAT timeout); a link that stays
        dead is reported, never retried forever.
        """
        cmd = self.encode(self.get_command(command, *args))
        try:
            rc, stdout, stderr = self._exec_command(cmd)
        except RemoteError:
            raise
        except (paramiko.SSHException, OSError, EOFError) as error:
            if self._transport_active():
                raise RemoteError(f"{_describe(self.target)}: SSH failed: {error or type(error).__name__}") from None
            self._drop_client()
            try:
                rc, stdout, stderr = self._exec_command(cmd)
            except RemoteError:
                raise
            except (paramiko.SSHException, OSError, EOFError) as again:
                raise RemoteError(f"{_describe(self.target)}: SSH failed after reconnecting: {again or type(again).__name__}") from None
        if self.target.ssh.sudo and rc == 1:
            refused = sudo_refusal(stderr.decode(errors="replace"))
            if refused:
                raise RemoteError(
                    f"{_describe(self.target)}: sudo refused `{command}` ({refused}); let {self.target.ssh.user} run it "
                    "without a password (a NOPASSWD rule in sudoers) or set ansible_user to one who may") from None
        return self.result(rc, cmd, stdout, stderr)

    def _transport_active(self) -> bool:
        client = self.__dict__.get("client")
        transport = client.get_transport() if client is not None else None
        return bool(transport and transport.is_active())

    def _drop_client(self) -> None:
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()


# What sudo itself says when it will not run a command (with -n it never prompts: it says this).
SUDO_REFUSALS = ("a password is required", "a terminal is required", "is not in the sudoers file",
                 "is not allowed to execute", "is not allowed to run sudo", "may not run sudo")


def sudo_refusal(stderr: str) -> str | None:
    """sudo's own refusal line in a command's stderr, or None if sudo ran the command."""
    for line in stderr.splitlines():
        if any(words in line for words in SUDO_REFUSALS):
            return line.strip()
    return None


def _describe(host: Host) -> str:
    return f"{host.name} ({host.address}:{host.ssh.port})"


def connect(host: Host) -> paramiko.SSHClient:
    """Open an SSH connection that refuses any host key not already in the declared known_hosts."""
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(host.ssh.known_hosts))
    except OSError as error:
        raise RemoteError(f"{_describe(host)}: cannot read known_hosts {host.ssh.known_hosts}: {error.strerror}") from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    sock = _tcp_connect(host)
    try:
        client.connect(  # the password is never a local variable: `pytest -l` would print it into junit.xml
            host.address, port=host.ssh.port, username=host.ssh.user, sock=sock,
            key_filename=str(host.ssh.key_file) if host.ssh.key_file else None,
            password=host.ssh.password.get_secret_value() if host.ssh.password else None, look_for_keys=host.ssh.key_file is None, allow_agent=host.ssh.key_file is None,
            timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT,
        )
    except paramiko.BadHostKeyException:
        client.close()
        sock.close()
        raise RemoteError(
            f"{_describe(host)}: host key CHANGED compared with {host.ssh.known_hosts}; refusing to connect "
            "(if the change is expected, verify the new key and update known_hosts)"
        ) from None
    except paramiko.SSHException as error:
        client.close()
        sock.close()
        if "not found in known_hosts" in str(error):
            raise RemoteError(
                f"{_describe(host)}: host key not in {host.ssh.known_hosts}; refusing to connect "
                f"(verify it, then add it: ssh-keyscan -p {host.ssh.port} {host.address} >> {host.ssh.known_hosts})"
            ) from None
        raise RemoteError(f"{_describe(host)}: SSH failed: {error}") from None
    except OSError as error:
        client.close()
        sock.close()
        raise RemoteError(f"{_describe(host)}: SSH failed: {error}") from None
    transport = client.get_transport()
    if transport is not None:  # a link that dies quietly is noticed in seconds, not at the TCP timeout
        transport.set_keepalive(KEEPALIVE_SECONDS)
    return client


def _tcp_connect(host: Host) -> socket.socket | paramiko.ProxyCommand:
    """A TCP connection to the host's sshd, or through its bastion (the inventory's ProxyJump/ProxyCommand)."""
    if host.ssh.proxy_command:
        return _proxy(host, host.ssh.proxy_command)
    try:
        address = _resolve(host.address, host.ssh.port, CONNECT_TIMEOUT)
        sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
    except OSError as error:
        raise RemoteError(f"{_describe(host)}: cannot reach SSH: {error.strerror or error}") from None
    # Each command is a small request/response exchange: without NODELAY, Nagle adds ~40 ms to each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _resolve(name: str, port: int, timeout: float) -> tuple[str, int]:
    """The host's address, looked up within `timeout`: create_connection's own lookup has no bound."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(socket.getaddrinfo, name, port, type=socket.SOCK_STREAM).result(timeout)
    except concurrent.futures.TimeoutError:
        raise OSError(f"looking up {name} took more than {timeout:g}s") from None
    except socket.gaierror as error:
        raise OSError(f"cannot resolve {name}: {error.strerror or error}") from None
    finally:
        pool.shutdown(wait=False)
    return found[0][4][0], port


def proxy_argv(template: str, host: Host) -> str:
    """OpenSSH's %h, %p, %r and %% in a ProxyCommand (paramiko expands none of them)."""
    values = {"h": host.address, "p": str(host.ssh.port), "r": host.ssh.user, "%": "%"}
    return re.sub(r"%([hpr%])", lambda m: values[m.group(1)], template)


def _proxy(host: Host, template: str) -> paramiko.ProxyCommand:
    command = proxy_argv(template, host)
    try:
        sock = paramiko.ProxyCommand(command)
    except (OSError, paramiko.SSHException) as error:
        raise RemoteError(f"{_describe(host)}: cannot start the proxy command `{command}`: {error}") from None
    sock.settimeout(CONNECT_TIMEOUT)
    return sock


def _run_bounded(channel: paramiko.Channel, command: bytes, timeout: float, name: str) -> tuple[int, bytes, bytes]:
    """Run on an open channel and collect output, giving up (the caller closes the channel) at the deadline.

    The deadline starts before the exec request: paramiko waits for the server's answer to it with
    no timeout, so a watchdog closes the channel at the deadline, which wakes that wait.
    """
    deadline = time.monotonic() + timeout
    shown = command.decode(errors="replace")[:200]
    watchdog = threading.Timer(timeout, channel.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        channel.exec_command(command)
    except paramiko.SSHException:
        if time.monotonic() >= deadline:
            raise RemoteTimeout(f"{name}: the server did not start the command within {timeout:g}s: {shown}") from None
        raise
    finally:
        watchdog.cancel()

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RemoteTimeout(f"{name}: command did not finish within {timeout:g}s: {shown}")
        return left

    stdout, stderr = bytearray(), bytearray()
    while True:  # until stdout reaches EOF; stderr is buffered apart by paramiko, so no deadlock
        channel.settimeout(min(remaining(), 0.2))
        try:
            chunk = channel.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        stdout += chunk
    while not channel.status_event.wait(min(remaining(), 0.2)):
        pass
    while channel.recv_stderr_ready():
        stderr += channel.recv_stderr(65536)
    status = channel.recv_exit_status()
    if status == -1:  # the channel closed without an exit status: the link dropped mid-command
        raise RemoteError(f"{name}: the SSH channel closed before the command finished (no exit status): {shown}")
    return status, bytes(stdout), bytes(stderr)


@dataclass
class Remote:
    """A host of the inventory, reachable over one reused SSH session."""

    host: Host
    command_timeout: float
    _backend: StrictParamikoBackend | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def backend(self) -> StrictParamikoBackend:
        if self._backend is None:
            self._backend = StrictParamikoBackend(self.host, self.command_timeout)
        return self._backend

    @functools.cached_property
    def facts(self) -> testinfra.host.Host:
        """testinfra's modules (file, mount_point, process, ...) over this session."""
        facts = testinfra.host.Host(self.backend)
        self.backend.set_host(facts)
        return facts

    def run(self, command: str, *args: str, timeout: float | None = None) -> CommandResult:
        """Run a command (args quoted by testinfra); raises RemoteTimeout past the bound."""
        with self._lock:
            backend = self.backend
            previous = backend.command_timeout
            backend.command_timeout = timeout or self.command_timeout
            try:
                return backend.run(command, *args)
            finally:
                backend.command_timeout = previous

    def check(self, command: str, *args: str, timeout: float | None = None) -> str:
        """Run and return stdout; a non-zero exit is a RemoteError quoting stderr."""
        result = self.run(command, *args, timeout=timeout)
        if result.rc != 0:
            raise RemoteError(f"{self.host.name}: `{result.command}` exited {result.rc}: {result.stderr.strip()[:300]}")
        return result.stdout

    def close(self) -> None:
        if self._backend is not None:
            self._backend._drop_client()


class Sessions:
    """The pool: one Remote per inventory host, opened lazily, counted, closed together."""

    def __init__(self, command_timeout: float) -> None:
        self.command_timeout = command_timeout
        self._remotes: dict[str, Remote] = {}

    def __getitem__(self, host: Host) -> Remote:
        remote = self._remotes.get(host.name)
        if remote is None:
            remote = self._remotes[host.name] = Remote(host, self.command_timeout)
        return remote

    @property
    def connections(self) -> int:
        """SSH connections actually opened (reconnects included): the drill's cost in handshakes."""
        return sum(r.backend.connections_opened for r in self._remotes.values() if r._backend is not None)

    def close_all(self) -> None:
        for remote in self._remotes.values():
            remote.close()
