"""Failures of the Azure, SSH and HTTP remotes against their real servers, written once for all three.

Each kind gives a server of the test's own behind a loopback proxy that can be
cut mid-transfer (`stop`) and brought back (`start`), a way to make a remote,
and a way to write behind the backend's back (to corrupt an object).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from gitmodels.errors import AccessDenied, BucketMissing, CredentialsError, RemoteError, RemoteUnreachable
from gitmodels.remotes import KeyNotFound, TransientError, object_key
from gitmodels.remotes import open_backend as _open_backend
from gitmodels.remotes.wrappers import Retrying
from tests.servers import (HOST, LoopbackProxy, StubServer, azure_container, azurite_connection_string, free_port)

MiB = 1024 * 1024


def open_backend(url, settings, retry=True):
    """The real backend under the real Retrying wrapper, with short backoff delays to keep the suite quick."""
    backend = _open_backend(url, settings, retry=False)
    return Retrying(backend, base_delay=0.01, max_delay=0.05) if retry else backend


def data_of(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]


def write(tmp_path, data: bytes, name: str = "src") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def assert_one_line(exc: BaseException) -> None:
    assert isinstance(exc, RemoteError)
    assert "\n" not in str(exc) and str(exc)
    assert exc.hint


class StopAfterFirstBytes:
    """A progress callback that cuts the server off as soon as bytes start to move."""

    def __init__(self, server):
        self.server = server
        self.fired = False

    def __call__(self, n: int) -> None:
        if not self.fired:
            self.fired = True
            self.server.stop()


class Azure:
    settings = {"block_size": "1MiB", "jobs": 2, "retries": 1}

    def __init__(self, request):
        self.server = request.getfixturevalue("azurite_server_private")

    def new_remote(self):
        url, settings = self.server.new_remote()
        return url, {**settings, **self.settings}

    def overwrite(self, url: str, key: str, data: bytes) -> None:
        container, _, prefix = url[len("az://"):].partition("/")
        azure_container(self.server.direct_endpoint, container).upload_blob(f"{prefix}/{key}", data, overwrite=True)

    def missing(self):
        return f"az://gm-absent-{uuid.uuid4().hex[:8]}/models", dict(self.settings)


class SSH:
    settings = {"part_size": "1MiB", "jobs": 2}

    def __init__(self, request):
        self.server = request.getfixturevalue("sshd_server_private")

    def new_remote(self):
        url, settings = self.server.new_remote()
        return url, {**settings, **self.settings}

    def overwrite(self, url: str, key: str, data: bytes) -> None:
        path = os.path.join(urlsplit(url).path, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def missing(self):
        url, settings = self.new_remote()
        return url + "-absent", settings


class HTTP:
    """The session's nginx behind a proxy of this test's own; objects are published by writing files."""

    settings: dict = {}

    def __init__(self, request):
        self.nginx = request.getfixturevalue("nginx_server")
        self.server = LoopbackProxy(self.nginx.port).start()
        request.addfinalizer(self.server.stop)

    def new_remote(self):
        name = uuid.uuid4().hex[:12]
        os.makedirs(os.path.join(self.nginx.www, name, "models"))
        return f"{self.server.endpoint}/{name}/models", {}

    def overwrite(self, url: str, key: str, data: bytes) -> None:
        path = os.path.join(self.nginx.www, urlsplit(url).path.lstrip("/"), key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.chmod(path, 0o644)
        with open(path, "wb") as f:
            f.write(data)

    def missing(self):
        return f"{self.server.endpoint}/absent-{uuid.uuid4().hex[:8]}/models", {}


KINDS = {"azure": Azure, "ssh": SSH, "http": HTTP}
WRITABLE = ["azure", "ssh"]


@pytest.fixture
def kind(request):
    return KINDS[request.param](request)


def put(kind, backend, url, key, data, tmp_path):
    if backend.read_only:
        kind.overwrite(url, key, data)
    else:
        backend.upload(key, write(tmp_path, data, f"src-{uuid.uuid4().hex[:6]}"), len(data))


@pytest.mark.parametrize("kind", WRITABLE, indirect=True)
def test_server_stops_mid_upload_then_rerun_completes(kind, tmp_path):
    url, settings = kind.new_remote()
    backend = open_backend(url, settings)
    data = data_of(5 * MiB + 3, seed=1)
    key = object_key(hashlib.sha256(data).hexdigest())
    src = write(tmp_path, data)

    cut = StopAfterFirstBytes(kind.server)
    with pytest.raises(RemoteUnreachable) as info:
        backend.upload(key, src, len(data), cut)
    assert cut.fired
    assert_one_line(info.value)
    assert re.match(r"cannot reach \S+ \(.*\): (connection refused|connection reset|connection closed|"
                    r"connection failed)$", str(info.value)), str(info.value)

    kind.server.start()
    assert backend.stat(key) is None  # no partial object became visible
    assert backend.exists_many([key]) == set()
    backend.upload(key, src, len(data))
    dst = tmp_path / "dst"
    digest = backend.download(key, str(dst))
    assert dst.read_bytes() == data and digest in (None, hashlib.sha256(data).hexdigest())
    assert [k for k, _ in backend.list()] == [key]  # no temp file or staged block left visible


@pytest.mark.parametrize("kind", sorted(KINDS), indirect=True)
def test_server_stops_mid_download_then_rerun_completes(kind, tmp_path):
    url, settings = kind.new_remote()
    backend = open_backend(url, settings)
    # Larger than the socket buffers between server and client, so stopping the server cuts the body short.
    data = data_of(32 * MiB + 5, seed=2)
    put(kind, backend, url, "big", data, tmp_path)

    dst = tmp_path / "dst"
    dst.write_bytes(b"")
    with pytest.raises(RemoteUnreachable) as info:
        backend.download("big", str(dst), StopAfterFirstBytes(kind.server))
    assert_one_line(info.value)

    kind.server.start()
    dst.write_bytes(b"")
    backend.download("big", str(dst))
    assert dst.read_bytes() == data
    assert backend.read_range("big", MiB - 10, 20) == data[MiB - 10:MiB + 10]


@pytest.mark.parametrize("kind", sorted(KINDS), indirect=True)
def test_unreachable_server_is_one_clear_line(kind):
    url, settings = kind.new_remote()
    kind.server.stop()
    backend = open_backend(url, settings)
    with pytest.raises(RemoteUnreachable) as info:
        backend.exists_many([object_key(f"{i:064x}") for i in range(5)])
    assert_one_line(info.value)
    assert "connection refused" in str(info.value)


@pytest.mark.parametrize("kind", sorted(KINDS), indirect=True)
def test_corrupt_object_is_returned_as_is(kind, tmp_path):
    """Backends move bytes; the transfer layer's hash check is what catches a corrupted object."""
    url, settings = kind.new_remote()
    backend = open_backend(url, settings)
    data = b"the real model bytes"
    oid = hashlib.sha256(data).hexdigest()
    put(kind, backend, url, object_key(oid), data, tmp_path)
    kind.overwrite(url, object_key(oid), b"rotten")
    dst = tmp_path / "dst"
    digest = backend.download(object_key(oid), str(dst))
    assert dst.read_bytes() == b"rotten"
    assert (digest or hashlib.sha256(dst.read_bytes()).hexdigest()) != oid


@pytest.mark.parametrize("kind", WRITABLE, indirect=True)
def test_missing_container_or_directory(kind, tmp_path):
    url, settings = kind.missing()
    for call in (lambda b: b.stat(object_key("a" * 64)),
                 lambda b: b.exists_many([object_key(f"{i:064x}") for i in range(4)]),
                 lambda b: b.download("k", str(tmp_path / "dst")),
                 lambda b: b.upload("k", write(tmp_path, b"x"), 1),
                 lambda b: list(b.list())):
        backend = open_backend(url, settings)  # a fresh backend: nothing known about the container
        with pytest.raises(BucketMissing) as info:
            call(backend)
        assert_one_line(info.value)


@pytest.mark.parametrize("kind", ["http"], indirect=True)
def test_http_cannot_tell_a_missing_prefix_from_a_missing_key(kind, tmp_path):
    """A static server answers 404 for both: an absent key, never a crash or a false hit."""
    url, settings = kind.missing()
    backend = open_backend(url, settings)
    assert backend.stat(object_key("a" * 64)) is None
    with pytest.raises(KeyNotFound):
        backend.download("k", str(tmp_path / "dst"))


def test_azure_wrong_account_key(azurite_server_private, tmp_path, monkeypatch):
    url, settings = azurite_server_private.new_remote()
    wrong = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       azurite_connection_string(azurite_server_private.endpoint, key=wrong))
    backend = open_backend(url, settings)
    for call in (lambda: backend.stat("k"), lambda: backend.upload("k", write(tmp_path, b"x"), 1)):
        with pytest.raises((CredentialsError, AccessDenied)) as info:
            call()
        assert_one_line(info.value)


def test_azure_no_account_at_all(azure_env):
    backend = open_backend("az://container/models", {})
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in info.value.hint


def test_ssh_key_not_authorized(sshd_server_private, isolated_git, tmp_path):
    url, settings = sshd_server_private.new_remote()
    own = os.path.join(isolated_git["HOME"], ".ssh", "id_ed25519")
    os.unlink(own)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", own], check=True)  # a key sshd does not know
    backend = open_backend(url, settings)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "refused the login" in str(info.value)


def test_ssh_unknown_host_key_is_refused(sshd_server_private, isolated_git):
    url, settings = sshd_server_private.new_remote()
    os.unlink(os.path.join(isolated_git["HOME"], ".ssh", "known_hosts"))
    backend = open_backend(url, settings)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "not in known_hosts" in str(info.value)


def test_http_credentials_and_throttling(tmp_path, monkeypatch):
    for status, error in ((401, CredentialsError), (403, AccessDenied), (503, TransientError)):
        stub = StubServer(status)
        try:
            backend = open_backend(f"{stub.endpoint}/models", {})
            with pytest.raises(error) as info:
                backend.read_range("objects/aa/" + "a" * 64, 0, 10)
            assert_one_line(info.value)
            if status == 503:
                assert stub.requests > 1  # retried
        finally:
            stub.close()
    monkeypatch.setenv("MODELS_TOKEN", "s3cret")
    stub = StubServer(404)
    try:
        assert open_backend(f"{stub.endpoint}/m", {"token_env": "MODELS_TOKEN"}).stat("k") is None
    finally:
        stub.close()
    with pytest.raises(CredentialsError):
        open_backend(f"http://{HOST}:{free_port()}/m", {"token_env": "UNSET_TOKEN_VAR"}).stat("k")
