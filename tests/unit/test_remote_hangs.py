"""Nothing hangs: an SSH server on loopback that never answers the exec request, or drops the channel
mid-command, gives one RemoteError within the command's bound (issue: nothing hangs, nothing tracebacks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from mxdrill.inventory import Host, ServiceControl, SshSettings
from mxdrill.remote import Remote, RemoteError, RemoteTimeout


class Server(paramiko.ServerInterface):
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.release = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.behaviour == "silent":
            self.release.wait(30)  # never answers the exec request while the client waits
            return False
        threading.Thread(target=lambda: (time.sleep(0.2), channel.send(b"partial"), channel.close()), daemon=True).start()
        return True  # "drop": some output, then the channel closes with no exit status


@pytest.fixture(params=["silent", "drop"])
def ssh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Host, str]]:
    host_key = paramiko.RSAKey.generate(2048)
    client_key = paramiko.RSAKey.generate(2048)
    client_key.write_private_key_file(str(tmp_path / "id_rsa"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    server = Server(request.param)
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        conn, _ = listener.accept()
        transport = paramiko.Transport(conn)
        transports.append(transport)
        transport.add_server_key(host_key)
        transport.start_server(server=server)

    threading.Thread(target=serve, daemon=True).start()
    ssh = SshSettings(user="root", port=port, key_file=tmp_path / "id_rsa", known_hosts=tmp_path / "known_hosts",
                      sudo=False, password=None)
    host = Host(name="stuck.example.test", address="127.0.0.1", roles=frozenset({"primary"}), ssh=ssh,
                service=ServiceControl(stop=None, start=None, status="postfix status"), mail_log="/var/log/mail.log",
                log_source="auto", mailbox_base="/var/mail/vhosts", mx_priority=10, export=None)
    yield host, request.param
    server.release.set()
    for transport in transports:
        transport.close()
    listener.close()


@pytest.mark.timeout(60)  # a hang guard, not a timing assertion: the bound below is the command's own
def test_a_server_that_never_answers_or_drops_the_channel_is_one_error_within_the_bound(ssh_server: tuple[Host, str]) -> None:
    host, behaviour = ssh_server
    remote = Remote(host, command_timeout=1.5)
    with pytest.raises(RemoteError) as caught:
        remote.run("postqueue -j")
    if behaviour == "silent":
        assert isinstance(caught.value, RemoteTimeout) and "did not start the command within 1.5s" in str(caught.value)
    else:
        assert "closed before the command finished" in str(caught.value)
    assert "stuck.example.test" in str(caught.value)
    remote.close()
