"""`gitmodels whereis`: the places that hold each model, and local gc's numcopies rule built on the same question."""

from __future__ import annotations

import os
from pathlib import Path

from tests.gitutil import Sandbox, cache_oids, object_path
from tests.seeded import seeded_bytes


def _setup(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    work = tmp_path / "work"
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    sb.git(tmp_path, "init", "-q", "--bare", "origin.git")
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.git(work, "remote", "add", "origin", "../origin.git")
    sb.gm(work, "init", "--no-hooks", "--remote", "../one")
    sb.gm(work, "remote", "add", "two", "../two")
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\n")
    return sb, work


def _drop_from_cache(work, oid: str) -> None:
    path = object_path(work, oid)
    os.chmod(path, 0o644)
    os.unlink(path)


def _places(sb, work, *args) -> dict[str, dict[str, str]]:
    doc = sb.gm(work, "whereis", "--json", *args).json()
    assert doc["format_version"] == 1
    assert [p["name"] for p in doc["places"]] == ["local", "origin", "two"]
    return {m["path"]: m["places"] for m in doc["models"]}


def test_whereis_local_one_two_remotes_and_partial_chunked(tmp_path, monkeypatch):
    sb, work = _setup(tmp_path, monkeypatch)
    sb.add(work, "local.bin", seeded_bytes("local", 3000))
    only_remote = sb.add(work, "remote.bin", seeded_bytes("remote", 3000))
    sb.add(work, "both.bin", seeded_bytes("both", 3000))
    big = seeded_bytes("big", 400_000)
    chunked = sb.add(work, "big.bin", big)
    sb.add(work, "enc", {"a.bin": seeded_bytes("a", 2000), "b.bin": seeded_bytes("b", 2000)})
    sb.git(work, "commit", "-q", "-m", "v1")
    sb.gm(work, "push", "remote.bin", "both.bin", "big.bin", "enc")
    sb.gm(work, "push", "-r", "two", "both.bin", "big.bin")
    _drop_from_cache(work, only_remote)
    # An interrupted chunked push to remote two: its packs are up, its recipe never was.
    os.unlink(Path(tmp_path, "two", "recipes", chunked[:2], chunked))
    assert list(Path(tmp_path, "two").glob("packs/*/*"))

    places = _places(sb, work)
    assert places["local.bin"] == {"local": "present", "origin": "missing", "two": "missing"}
    assert places["remote.bin"] == {"local": "missing", "origin": "present", "two": "missing"}
    assert places["both.bin"] == {"local": "present", "origin": "present", "two": "present"}
    assert places["big.bin"] == {"local": "present", "origin": "present", "two": "partial"}
    assert places["enc"] == {"local": "present", "origin": "present", "two": "missing"}

    # A recipe whose pack is gone is not a copy either.
    for pack in Path(tmp_path, "one").glob("packs/*/*"):
        pack.unlink()
    assert _places(sb, work, "big.bin")["big.bin"] == {"local": "present", "origin": "partial", "two": "partial"}

    # A directory missing one file locally is partial there; PATH@REV reads the committed pointer.
    enc = _places(sb, work, "enc@HEAD")["enc"]
    assert enc["local"] == "present"
    doc = sb.gm(work, "whereis", "--json", "enc@HEAD").json()
    (files,) = [m["objects"] for m in doc["models"]]
    assert files == 3  # the manifest and its two files
    table = sb.gm(work, "whereis").out
    assert "local.bin" in table and "copies" in table and "only in the local cache" in table


def test_whereis_unreachable_remote(tmp_path, monkeypatch):
    sb, work = _setup(tmp_path, monkeypatch)
    sb.add(work, "m.bin", seeded_bytes("m", 3000))
    sb.gm(work, "remote", "add", "gone", "s3://no-such-bucket-gm/x", "--local", "-s",
          "endpoint_url=http://127.0.0.1:9")
    doc = sb.gm(work, "whereis", "--json").json()
    (model,) = doc["models"]
    assert model["places"]["gone"] == "unreachable"
    assert model["places"]["local"] == "present" and model["copies"] == 1
    assert [p["error"] is not None for p in doc["places"] if p["name"] == "gone"] == [True]


def test_local_gc_keeps_the_last_copy_until_numcopies_remotes_hold_it(tmp_path, monkeypatch):
    """numcopies: an object older history uses leaves the cache only when that many remotes hold it."""
    sb, work = _setup(tmp_path, monkeypatch)
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\nnumcopies = 2\n")
    v1 = sb.add(work, "m.bin", seeded_bytes("v1", 3000))
    sb.git(work, "commit", "-q", "-m", "v1")
    sb.git(work, "push", "-q", "-u", "origin", "main")
    sb.gm(work, "push")
    sb.add(work, "m.bin", seeded_bytes("v2", 3000))
    sb.git(work, "commit", "-q", "-m", "v2")
    sb.git(work, "push", "-q", "origin", "main")
    sb.gm(work, "push")
    out = sb.gm(work, "gc", "--json").json()
    assert v1 in cache_oids(work), "one remote holds v1 but numcopies = 2"
    assert out["plan"]["protected"] == 1
    sb.gm(work, "push", "-r", "two", "--rev", "HEAD~1")
    sb.gm(work, "gc")
    assert v1 not in cache_oids(work)
