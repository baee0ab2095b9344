"""A cloud remote whose SDK is not installed (the extra was left out): one line with the install command."""

from __future__ import annotations

import sys

import pytest

from gitmodels.errors import SdkMissing
from gitmodels.remotes import open_backend
from tests.gitutil import Sandbox, add_model


@pytest.mark.parametrize("url, modules, extra", [
    ("s3://bucket/models", ("boto3", "botocore"), "s3"),
    ("gs://bucket/models", ("google.cloud.storage",), "gcs"),
])
def test_open_backend_names_the_extra(monkeypatch, url, modules, extra):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(SdkMissing) as caught:
        open_backend(url, {})
    assert f"pip install 'gitmodels[{extra}]'" in caught.value.hint


def test_push_to_s3_without_boto3_says_so_in_one_line(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    work = tmp_path / "work"
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.gm(work, "init", "--no-hooks", "--remote", "s3://bucket/models")
    add_model(work, "m.bin", b"model bytes")
    for name in ("boto3", "botocore"):
        monkeypatch.setitem(sys.modules, name, None)
    out = sb.gm(work, "push", expect=None)
    assert out.code != 0
    assert "Traceback" not in out.err
    assert "pip install 'gitmodels[s3]'" in out.err
