"""S3 remote failures against a real moto server: each one a clean gitmodels error, never a botocore traceback."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import boto3
import pytest

from gitmodels.errors import AccessDenied, BucketMissing, CredentialsError, RemoteError, RemoteUnreachable
from gitmodels.remotes import KeyNotFound, TransientError, object_key
from gitmodels.remotes import open_backend as _open_backend
from gitmodels.remotes.wrappers import Retrying
from tests.servers import StubServer, free_port, s3_error_body

MiB = 1024 * 1024
FAST = {"part_size": "5MiB", "jobs": 2}


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


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


class StopAfterFirstBytes:
    """A progress callback that cuts the server off as soon as bytes start to move."""

    def __init__(self, server):
        self.server = server
        self.fired = False

    def __call__(self, n: int) -> None:
        if not self.fired:
            self.fired = True
            self.server.stop()


def test_server_stops_mid_upload_then_rerun_completes(s3_server_private, tmp_path):
    server = s3_server_private
    url, settings = server.new_remote(**FAST)
    backend = open_backend(url, settings)
    data = data_of(12 * MiB, seed=1)
    key = object_key(hashlib.sha256(data).hexdigest())
    src = write(tmp_path, data)

    cut = StopAfterFirstBytes(server)
    with pytest.raises(RemoteUnreachable) as info:
        backend.upload(key, src, len(data), cut)
    assert cut.fired
    assert_one_line(info.value)
    bucket = url.split("/")[2]
    assert re.fullmatch(rf"cannot reach s3://{bucket} \({re.escape(server.endpoint)}\): "
                        r"(connection refused|connection reset|connection closed|connection failed)", str(info.value))

    server.start()
    assert backend.stat(key) is None  # no partial object became visible
    backend.upload(key, src, len(data))
    dst = tmp_path / "dst"
    digest = backend.download(key, str(dst))
    assert dst.read_bytes() == data and digest in (None, hashlib.sha256(data).hexdigest())


def test_server_stops_mid_download_then_rerun_completes(s3_server_private, tmp_path):
    server = s3_server_private
    url, settings = server.new_remote(**FAST)
    backend = open_backend(url, settings)
    data = data_of(11 * MiB, seed=2)
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


def test_unreachable_endpoint_is_one_clear_line(aws_env):
    endpoint = f"http://127.0.0.1:{free_port()}"
    raw = open_backend("s3://somebucket/models", {"endpoint_url": endpoint}, retry=False)
    with pytest.raises(TransientError) as info:  # retried by the wrapper ...
        raw.stat("k")
    assert isinstance(info.value, RemoteUnreachable)
    backend = _open_backend("s3://somebucket/models", {"endpoint_url": endpoint})
    with pytest.raises(RemoteUnreachable) as info:  # ... and then surfaced as "cannot reach"
        backend.exists_many([object_key(f"{i:064x}") for i in range(5)])
    assert str(info.value) == f"cannot reach s3://somebucket ({endpoint}): connection refused"
    assert_one_line(info.value)


def test_access_denied(s3_remote, tmp_path):
    url, settings = s3_remote
    bucket = url.split("/")[2]
    backend = open_backend(url, {**settings, **FAST})
    backend.upload("present", write(tmp_path, b"abc"), 3)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}
    s3_client(settings["endpoint_url"]).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    for call in (lambda: backend.upload("k", write(tmp_path, b"x"), 1),
                 lambda: backend.download("present", str(tmp_path / "dst")),
                 lambda: backend.stat("present"),
                 lambda: backend.read_range("present", 0, 1),
                 lambda: backend.delete("present")):
        with pytest.raises(AccessDenied) as info:
            call()
        assert_one_line(info.value)
        assert f"s3://{bucket}/models/" in str(info.value)


def test_missing_bucket(s3_server, aws_env, tmp_path):
    url = f"s3://gm-absent-{uuid.uuid4().hex[:8]}/models"
    for call in (lambda b: b.stat(object_key("a" * 64)),
                 lambda b: b.exists_many([object_key(f"{i:064x}") for i in range(4)]),
                 lambda b: b.download("k", str(tmp_path / "dst")),
                 lambda b: b.upload("k", write(tmp_path, b"x"), 1),
                 lambda b: list(b.list())):
        backend = open_backend(url, {"endpoint_url": s3_server})  # a fresh backend: nothing known about the bucket
        with pytest.raises(BucketMissing) as info:
            call(backend)
        assert_one_line(info.value)
        assert url.split("/")[2] in str(info.value)


def test_no_credentials(s3_server, aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = open_backend("s3://anybucket/models", {"endpoint_url": s3_server})
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "AWS_PROFILE" in info.value.hint


def test_unknown_profile(s3_server, aws_env):
    backend = open_backend("s3://anybucket/models", {"endpoint_url": s3_server, "profile": "nosuchprofile"})
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert "nosuchprofile" in str(info.value)


def test_throttling_is_retried_then_reported(aws_env):
    stub = StubServer(503, s3_error_body("SlowDown", "Please reduce your request rate."),
                      {"Content-Type": "application/xml"})
    try:
        backend = open_backend("s3://anybucket/models", {"endpoint_url": stub.endpoint, "retries": 1})
        with pytest.raises(TransientError) as info:
            backend.read_range("k", 0, 10)
        assert stub.requests > 1  # the wrapper retried
        assert "throttling" in str(info.value) and "SlowDown" in str(info.value)
        assert_one_line(info.value)
    finally:
        stub.close()


def test_corrupt_object_is_returned_as_is(s3_remote, tmp_path):
    """Backends move bytes; the transfer layer's hash check is what catches a corrupted object."""
    url, settings = s3_remote
    backend = open_backend(url, settings)
    data = b"the real model bytes"
    oid = hashlib.sha256(data).hexdigest()
    backend.upload(object_key(oid), write(tmp_path, data), len(data))
    bucket = url.split("/")[2]
    s3_client(settings["endpoint_url"]).put_object(Bucket=bucket, Key=f"models/{object_key(oid)}", Body=b"rotten")
    dst = tmp_path / "dst"
    digest = backend.download(object_key(oid), str(dst))
    assert dst.read_bytes() == b"rotten"
    assert (digest or hashlib.sha256(dst.read_bytes()).hexdigest()) != oid


def test_absent_key_is_not_an_error_class_mixup(s3_remote, tmp_path):
    url, settings = s3_remote
    backend = open_backend(url, settings)
    with pytest.raises(KeyNotFound):
        backend.download(object_key("b" * 64), str(tmp_path / "dst"))
