"""fsck: a flipped byte in the cache or on a directory remote is found, set aside or reported, and repaired."""

from __future__ import annotations

import os
from pathlib import Path

from gitmodels.repo import Repo
from tests.gitutil import (Sandbox, cache_oids, flip_byte, flip_cached_byte, manifest_oids, object_path, remote_oids,
                           sha256)


def remote_path(h, oid: str) -> Path:
    return Path(h.store, "objects", oid[:2], oid)


def test_clean_cache_and_remote(hist):
    sb, h = hist
    res = sb.gm(h.work, "fsck", "--remote", "--json").json()
    assert res["ok"] is True
    cache, remote = res["results"]
    assert cache["checked"] == len(cache_oids(h.work)) and remote["checked"] == len(remote_oids(h.store))
    assert "no problems found" in sb.gm(h.work, "fsck").out


def test_flipped_byte_in_the_cache_is_quarantined_and_fetch_repairs_it(hist):
    sb, h = hist
    oid = h.oids["churn-v3"]  # the model at the tip of exp, and on the remote
    flip_byte(object_path(h.work, oid))
    res = sb.gm(h.work, "fsck", expect=6)
    assert f"quarantined: {oid[:12]}" in res.out
    assert "used by models/churn.bin (exp)" in res.out
    assert "gitmodels fetch" in res.err
    assert oid not in cache_oids(h.work)
    (moved,) = [p for p in (h.work / ".git/gitmodels/quarantine").iterdir() if p.name.startswith(oid)]
    assert sha256(moved.read_bytes()) != oid
    assert sb.gm(h.work, "status", "--json").json()  # the tool still works
    sb.gm(h.work, "fetch", "--rev", "exp")
    assert oid in cache_oids(h.work)
    sb.gm(h.work, "fsck")


def test_flipped_byte_in_a_directory_model(hist):
    sb, h = hist
    manifest = h.oids["enc-v4"]
    weights = [o for o in manifest_oids(h.work, manifest) if o not in manifest_oids(h.work, h.oids["enc-v1"])]
    flip_cached_byte(h.work, weights[0])
    flip_byte(object_path(h.work, h.oids["churn-v5"]))  # unpushed: only a clone that has it can repair
    res = sb.gm(h.work, "fsck", "--json", expect=6).json()
    (cache,) = res["results"]
    by = {p["oid"].removeprefix("sha256:"): p for p in cache["corrupt"]}
    assert set(by) == {weights[0], h.oids["churn-v5"]}
    assert any(m.startswith("models/enc (") for m in by[weights[0]]["models"])
    assert by[h.oids["churn-v5"]]["models"] == ["models/churn-model.bin (workspace, HEAD, main, wip)"]
    assert all(p["quarantined_to"] for p in cache["corrupt"])


def test_flipped_byte_on_a_directory_remote_is_reported_never_deleted(hist):
    sb, h = hist
    oid = h.oids["churn-v2"]
    flip_byte(remote_path(h, oid))
    damaged = remote_path(h, oid).read_bytes()
    res = sb.gm(h.work, "fsck", "--remote", "--no-cache", expect=6)
    assert f"CORRUPT: {oid[:12]}" in res.out and f"objects/{oid[:2]}/{oid}" in res.out
    assert "models/churn.bin (v1.0)" in res.out
    assert "fsck --remote --repair" in res.err
    assert remote_path(h, oid).read_bytes() == damaged  # left alone
    assert oid in cache_oids(h.work)  # the cache was not touched
    # The local record of what the remote holds no longer claims it has it.
    with Repo(str(h.work)) as repo:
        _name, transfer = repo.open_transfer()
        assert repo.state.remote_known(transfer.remote_id, [oid]) == set()
    fixed = sb.gm(h.work, "fsck", "--remote", "--no-cache", "--repair", "--json").json()
    assert fixed["ok"] is True and fixed["results"][0]["corrupt"][0]["repaired"] is True
    assert sha256(remote_path(h, oid).read_bytes()) == oid
    sb.gm(h.work, "fsck", "--remote")


def test_remote_damage_without_a_good_local_copy(hist):
    sb, h = hist
    sb.gm(h.work, "gc")  # churn v1 is now only on the remote
    oid = h.oids["churn-v1"]
    flip_byte(remote_path(h, oid))
    res = sb.gm(h.work, "fsck", "--remote", "--repair", "--json", expect=6).json()
    remote = res["results"][1]
    assert [(p["oid"], p["repaired"]) for p in remote["corrupt"]] == [("sha256:" + oid, False)]
    assert remote_path(h, oid).exists()


def test_remote_chunk_pack_damage(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    work, store = tmp_path / "work", tmp_path / "store"
    store.mkdir()
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.gm(work, "init", "--no-hooks", "--remote", "../store")
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\n")
    data = os.urandom(400_000)
    oid = sb.add(work, "m.bin", data)
    sb.git(work, "commit", "-q", "-m", "v1")
    sb.gm(work, "push")
    packs = sorted(store.glob("packs/*/*"))
    assert packs, "large objects must be pushed as chunks (pyfastcdc is a core dependency)"
    flip_byte(packs[0], 5000)
    res = sb.gm(work, "fsck", "--remote", "--no-cache", "--json", expect=6).json()
    (remote,) = res["results"]
    assert remote["chunk_packs"] >= 1
    (problem,) = remote["corrupt"]
    assert problem["affects"] == ["sha256:" + oid] and problem["models"] == ["m.bin (workspace, HEAD, main)"]
    fixed = sb.gm(work, "fsck", "--remote", "--no-cache", "--repair", "--json").json()
    assert fixed["ok"] is True
    # The remote now serves the object whole; a fresh clone gets the right bytes.
    fresh = tmp_path / "fresh"
    sb.git(tmp_path, "clone", "-q", str(work), str(fresh))
    sb.gm(fresh, "pull")
    assert Path(fresh, "m.bin").read_bytes() == data


def test_stats(hist):
    sb, h = hist
    out = sb.gm(h.work, "stats", "--remote", "--json").json()
    assert out["cache"]["objects"] == len(cache_oids(h.work))
    assert out["remote"]["objects"] == len(remote_oids(h.store))
    assert "cache" in sb.gm(h.work, "stats").out
