"""SSH transfers move bulk data at the link's speed: ranged reads (what a chunked pull does to fetch
parts of packs) are pipelined, and the connection is set up for throughput.

paramiko's `SFTPFile.read(n)` sends one 32 KiB request and waits for its reply before the next:
a chunked 64 MiB pull over loopback sshd took 4.5 s against 1.65 s for DVC (benchmarks/run.py
--remotes ssh). `read_range` asks with `readv`, which keeps many requests in flight.
"""

from __future__ import annotations

import socket

import paramiko
import pytest
from paramiko.sftp import CMD_READ, CMD_WRITE

from gitmodels.remotes import open_backend
from gitmodels.remotes.ssh import FAST_CIPHERS, OPENSSH_REQUEST, _open
from tests.seeded import seeded_bytes

MiB = 1024 * 1024


@pytest.fixture
def ssh_backend(ssh_remote, tmp_path):
    url, settings = ssh_remote
    backend = open_backend(url, settings)
    yield backend
    backend.close()


def test_read_range_is_pipelined_and_exact(ssh_backend, tmp_path, monkeypatch):
    data = seeded_bytes(18, 3 * MiB + 5)
    src = tmp_path / "blob"
    src.write_bytes(data)
    ssh_backend.upload("misc/blob", str(src), len(data))

    synchronous = paramiko.SFTPClient._request

    def no_waiting_reads(self, t, *args):
        # a synchronous CMD_READ is one 32 KiB request answered before the next is sent
        assert t != CMD_READ, "read_range waited for each 32 KiB read in turn"
        return synchronous(self, t, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_request", no_waiting_reads)
    # across 1 MiB request blocks, from an odd offset
    assert ssh_backend.read_range("misc/blob", MiB - 3, 2 * MiB + 10) == data[MiB - 3:3 * MiB + 7]
    # a range running past the end stops at the end, one past the end is empty
    assert ssh_backend.read_range("misc/blob", 3 * MiB, 100) == data[3 * MiB:]
    assert ssh_backend.read_range("misc/blob", len(data), 10) == b""
    assert ssh_backend.read_range("misc/blob", 0, 0) == b""


def test_connection_is_set_up_for_bulk_transfers(ssh_backend, tmp_path, monkeypatch):
    """Nagle's algorithm held each batch of pipelined SFTP requests until the server's delayed ACK
    (40 ms per ranged read: a chunked 256 MiB pull over loopback at 30 MiB/s instead of 110); 32 KiB
    requests and AES-CTR + HMAC cost paramiko twice the Python work per byte of 255 KiB and AES-GCM."""
    transports, requests = [], []
    open_sftp = paramiko.SSHClient.open_sftp
    send = paramiko.SFTPClient._async_request

    def record_connection(self):
        transports.append(self.get_transport())
        return open_sftp(self)

    def record_request(self, fileobj, t, *args):
        if t == CMD_READ:
            requests.append(("read", args[2]))
        elif t == CMD_WRITE:
            requests.append(("write", len(args[2])))
        return send(self, fileobj, t, *args)

    monkeypatch.setattr(paramiko.SSHClient, "open_sftp", record_connection)
    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", record_request)
    data = seeded_bytes(19, 2 * MiB)
    src = tmp_path / "blob"
    src.write_bytes(data)
    ssh_backend.upload("misc/blob", str(src), len(data))
    assert ssh_backend.read_range("misc/blob", 0, len(data)) == data

    assert transports
    for transport in transports:
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert transport.remote_cipher in FAST_CIPHERS and transport.local_cipher in FAST_CIPHERS
    assert max(n for kind, n in requests if kind == "write") == OPENSSH_REQUEST
    assert max(n for kind, n in requests if kind == "read") == OPENSSH_REQUEST


class _Server:
    """Just enough of a paramiko SFTPClient to say which server it talks to."""

    def __init__(self, version):
        self.remote_version = version

    def get_channel(self):
        return self

    def get_transport(self):
        return self

    def open(self, path, mode):
        return type("File", (), {"MAX_REQUEST_SIZE": 32768})()


@pytest.mark.parametrize(("version", "size"), [
    ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", OPENSSH_REQUEST),
    ("SSH-2.0-OpenSSH_8.6", OPENSSH_REQUEST),
    ("SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3", 32768),  # reads longer than 64 KiB come back short
    ("SSH-2.0-OpenSSH_7.4", 32768),
    ("SSH-2.0-mod_sftp", 32768),
    ("SSH-2.0-AWS_SFTP_1.1", 32768),
])
def test_request_size_follows_the_server(version, size):
    assert _open(_Server(version), "/p", "rb").MAX_REQUEST_SIZE == size
