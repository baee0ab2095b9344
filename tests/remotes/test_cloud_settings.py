"""Settings, URLs and error naming of the S3 and GCS backends (no server needed)."""

from __future__ import annotations

import socket

import pytest

from gitmodels.errors import BadConfig
from gitmodels.remotes import open_backend
from gitmodels.remotes import _cloud

MiB = 1024 * 1024


@pytest.mark.parametrize("value, size", [
    (8388608, 8 * MiB), ("8388608", 8 * MiB), ("8MiB", 8 * MiB), ("8 MiB", 8 * MiB), ("8mib", 8 * MiB),
    ("8M", 8 * MiB), ("8MB", 8 * MiB), ("1GiB", 1024 * MiB), ("1.5MiB", 3 * MiB // 2), ("256KiB", 256 * 1024),
])
def test_parse_size(value, size):
    assert _cloud.parse_size(value, "part_size") == size


@pytest.mark.parametrize("value", ["eight", "8 parsecs", True, "-1MiB", ""])
def test_parse_size_refuses(value):
    with pytest.raises(BadConfig):
        _cloud.size_setting({"part_size": value} if value != "" else {"part_size": "x y"}, "part_size", 1)


@pytest.mark.parametrize("url, bucket, root", [
    ("s3://bkt", "bkt", ""), ("s3://bkt/", "bkt", ""), ("s3://bkt/a/b", "bkt", "a/b/"),
    ("s3://bkt//a//b/", "bkt", "a/b/"), ("gs://bkt/models", "bkt", "models/"),
])
def test_split_bucket_url(url, bucket, root):
    assert _cloud.split_bucket_url(url, url[:2]) == (bucket, root)


def test_split_bucket_url_refuses_dot_dot():
    with pytest.raises(BadConfig):
        _cloud.split_bucket_url("s3://bkt/a/../b", "s3")


def test_s3_settings(aws_env):
    backend = open_backend("s3://bkt/models", {"part_size": "8MiB", "jobs": "4", "endpoint_url": "http://h:9000",
                                               "fsync": True, "jobs_across": 3})  # others' settings are ignored
    inner = backend.inner
    assert (inner.part_size, inner.jobs, inner.bucket, inner.root) == (8 * MiB, 4, "bkt", "models/")
    assert backend.describe() == "s3://bkt/models (http://h:9000)"
    for bad in ({"part_size": "1MiB"}, {"jobs": 0}, {"jobs": "many"}, {"addressing_style": "sideways"},
                {"checksum_calculation": "always"}):
        with pytest.raises(BadConfig):
            open_backend("s3://bkt/models", bad)


def test_s3_uses_the_aws_endpoint_environment(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    backend = open_backend("s3://bkt/models")
    assert backend.describe() == "s3://bkt/models (http://127.0.0.1:9)"
    assert backend.inner.client().meta.endpoint_url == "http://127.0.0.1:9"


def test_gcs_settings(gcs_env):
    backend = open_backend("gs://bkt/a/b", {"chunk_size": "1000000", "jobs": 2})
    inner = backend.inner
    assert inner.chunk_size % (256 * 1024) == 0 and inner.chunk_size >= 1_000_000
    assert (inner.jobs, inner.bucket, inner.root) == (2, "bkt", "a/b/")
    assert backend.describe() == "gs://bkt/a/b"
    with pytest.raises(BadConfig):
        open_backend("gs://bkt/a", {"chunk_size": "1KiB"})
    with pytest.raises(BadConfig):
        open_backend("gs://bkt/a", {"retry_timeout": "soon"})


def test_network_reason_names_the_cause():
    class Wrapped(Exception):
        pass

    refused = Wrapped("outer")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert _cloud.network_reason(refused) == "connection refused"
    assert _cloud.network_reason(socket.gaierror(-2, "Name or service not known")) == "host name not found"
    assert _cloud.network_reason(ConnectionResetError()) == "connection reset"
    assert _cloud.network_reason(ValueError("something else")) is None
