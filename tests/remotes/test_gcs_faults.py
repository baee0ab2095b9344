"""GCS remote failures against a real gcp-storage-emulator (and a stub server for what it cannot do)."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
import urllib.request
import uuid

import pytest

from gitmodels.errors import AccessDenied, BucketMissing, CredentialsError, RemoteError, RemoteUnreachable
from gitmodels.remotes import KeyNotFound, TransientError, object_key
from gitmodels.remotes import open_backend as _open_backend
from gitmodels.remotes.wrappers import Retrying
from tests.servers import StubServer, free_port, gcs_error_body

MiB = 1024 * 1024
FAST = {"chunk_size": "1MiB", "jobs": 2, "retry_timeout": 5}


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


def put_direct(endpoint: str, bucket: str, name: str, data: bytes) -> None:
    """Write an object behind the backend's back, straight into the emulator."""
    query = urllib.parse.urlencode({"uploadType": "media", "name": name})
    request = urllib.request.Request(f"{endpoint}/upload/storage/v1/b/{bucket}/o?{query}", data=data,
                                     method="POST", headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


class StopAfterFirstBytes:
    def __init__(self, server):
        self.server = server
        self.fired = False

    def __call__(self, n: int) -> None:
        if not self.fired:
            self.fired = True
            self.server.stop()


def test_server_stops_mid_upload_then_rerun_completes(gcs_server_private, tmp_path):
    server = gcs_server_private
    url, settings = server.new_remote(**FAST)
    backend = open_backend(url, settings)
    data = data_of(9 * MiB + 5, seed=1)  # resumable: above 8 MiB
    key = object_key(hashlib.sha256(data).hexdigest())
    src = write(tmp_path, data)

    cut = StopAfterFirstBytes(server)
    with pytest.raises(RemoteUnreachable) as info:
        backend.upload(key, src, len(data), cut)
    assert cut.fired
    assert_one_line(info.value)
    bucket = url.split("/")[2]
    assert re.fullmatch(rf"cannot reach gs://{bucket} \({re.escape(server.endpoint)}\): "
                        r"(connection refused|connection reset|connection closed|connection failed)", str(info.value))

    server.start()
    assert backend.stat(key) is None  # no partial object became visible
    backend.upload(key, src, len(data))
    dst = tmp_path / "dst"
    digest = backend.download(key, str(dst))
    assert dst.read_bytes() == data and digest in (None, hashlib.sha256(data).hexdigest())


def test_server_stops_mid_download_then_rerun_completes(gcs_server_private, tmp_path):
    server = gcs_server_private
    url, settings = server.new_remote(**FAST)
    backend = open_backend(url, settings)
    data = data_of(5 * MiB + 3, seed=2)  # six ranged reads of 1 MiB
    backend.upload("big", write(tmp_path, data), len(data))

    dst = tmp_path / "dst"
    dst.write_bytes(b"")
    with pytest.raises(RemoteUnreachable) as info:
        backend.download("big", str(dst), StopAfterFirstBytes(server))
    assert_one_line(info.value)

    server.start()
    dst.write_bytes(b"")
    backend.download("big", str(dst))
    assert dst.read_bytes() == data


def test_unreachable_emulator_is_one_clear_line(gcs_env, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    raw = open_backend("gs://somebucket/models", FAST, retry=False)
    with pytest.raises(TransientError) as info:
        raw.stat("k")
    assert isinstance(info.value, RemoteUnreachable)
    backend = open_backend("gs://somebucket/models", FAST)
    with pytest.raises(RemoteUnreachable) as info:
        backend.exists_many([object_key(f"{i:064x}") for i in range(5)])
    assert str(info.value) == f"cannot reach gs://somebucket ({endpoint}): connection refused"
    assert_one_line(info.value)


def test_access_denied(gcs_env, monkeypatch, tmp_path):
    """The emulator grants everything; a stub answers 403 the way GCS does."""
    message = "gitmodels-ci@example.iam.gserviceaccount.com does not have storage.objects.get access"
    stub = StubServer(403, gcs_error_body(403, message), {"Content-Type": "application/json"})
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", stub.endpoint)
    try:
        backend = open_backend("gs://locked/models", FAST)
        for call in (lambda: backend.stat("k"),
                     lambda: backend.upload("k", write(tmp_path, b"x"), 1),
                     lambda: backend.download("k", str(tmp_path / "dst")),
                     lambda: backend.read_range("k", 0, 1),
                     lambda: list(backend.list())):
            with pytest.raises(AccessDenied) as info:
                call()
            assert_one_line(info.value)
            assert "gs://locked/models" in str(info.value)
    finally:
        stub.close()


def test_server_errors_are_retried_then_reported(gcs_env, monkeypatch):
    stub = StubServer(503, gcs_error_body(503, "backend unavailable"), {"Content-Type": "application/json"})
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", stub.endpoint)
    try:
        backend = open_backend("gs://anybucket/models", {**FAST, "retry_timeout": 0})
        with pytest.raises(TransientError) as info:
            backend.read_range("k", 0, 10)
        assert stub.requests > 1  # the wrapper retried
        assert "503" in str(info.value)
        assert_one_line(info.value)
    finally:
        stub.close()


def test_missing_bucket(gcs_server, gcs_env, monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    url = f"gs://gm-absent-{uuid.uuid4().hex[:8]}/models"
    for call in (lambda b: b.stat(object_key("a" * 64)),
                 lambda b: b.exists_many([object_key(f"{i:064x}") for i in range(4)]),
                 lambda b: b.download("k", str(tmp_path / "dst")),
                 lambda b: b.upload("k", write(tmp_path, b"x"), 1),
                 lambda b: list(b.list())):
        backend = open_backend(url, FAST)
        with pytest.raises(BucketMissing) as info:
            call(backend)
        assert_one_line(info.value)
        assert url.split("/")[2] in str(info.value)


def test_no_credentials(gcs_env, monkeypatch):
    import google.auth._default

    # not on Google Cloud: skip google-auth's metadata-server probe (seconds of timeouts)
    monkeypatch.setattr(google.auth._default, "_get_gce_credentials", lambda *a, **k: (None, None))
    backend = open_backend("gs://anybucket/models", FAST)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "gcloud auth application-default login" in info.value.hint


def test_credentials_file_missing(gcs_env, tmp_path):
    backend = open_backend("gs://anybucket/models", {**FAST, "credentials_file": str(tmp_path / "absent.json")})
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert "absent.json" in str(info.value)


def test_corrupt_object_is_returned_as_is(gcs_remote, gcs_server, tmp_path):
    """Backends move bytes; the transfer layer's hash check is what catches a corrupted object."""
    url, settings = gcs_remote
    backend = open_backend(url, settings)
    data = b"the real model bytes"
    oid = hashlib.sha256(data).hexdigest()
    backend.upload(object_key(oid), write(tmp_path, data), len(data))
    put_direct(gcs_server, url.split("/")[2], f"models/{object_key(oid)}", b"rotten")
    dst = tmp_path / "dst"
    digest = backend.download(object_key(oid), str(dst))
    assert dst.read_bytes() == b"rotten"
    assert (digest or hashlib.sha256(dst.read_bytes()).hexdigest()) != oid


def test_absent_key(gcs_remote, tmp_path):
    backend = open_backend(*gcs_remote)
    with pytest.raises(KeyNotFound):
        backend.download(object_key("b" * 64), str(tmp_path / "dst"))
