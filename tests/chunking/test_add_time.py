"""Chunking happens at `add`: the one read that copies a file into the cache also indexes its chunks,
so a push packs them without reading the file a second time to cut it."""

import os

import pytest

from gitmodels.chunking import cdc, index as chunk_state
from gitmodels.errors import CorruptObject
from gitmodels.remotes.local import LocalBackend
from gitmodels.repo import Repo
from tests.gitutil import commit_all, git, model_bytes

MiB = 1024 * 1024


@pytest.fixture
def chunked_repo(repo):
    cfg = repo / "gitmodels.toml"
    cfg.write_text(cfg.read_text().replace("[core]", "[core]\nchunk_threshold = 1048576", 1)
                   if "[core]" in cfg.read_text() else cfg.read_text() + "\n[core]\nchunk_threshold = 1048576\n")
    return repo


def test_add_indexes_the_chunks_and_push_does_not_cut_again(chunked_repo, tmp_path, monkeypatch):
    data = model_bytes("big", 5 * MiB)
    (chunked_repo / "big.bin").write_bytes(data)
    r = Repo(str(chunked_repo))
    oid = r.add([str(chunked_repo / "big.bin")], progress=False)[0].oid
    state = chunk_state.open_index(r.store.chunk_dir)
    assert state.has_local(oid)
    assert state.local_chunk_list(oid).size == len(data)
    commit_all(chunked_repo, "big")

    monkeypatch.setattr(cdc, "scan_file", lambda *a, **k: pytest.fail("push cut the file again"))
    monkeypatch.setattr("gitmodels.chunking.upload.scan_file", lambda *a, **k: pytest.fail("push cut it again"))
    assert not r.push(progress=False).failed
    r.close()
    monkeypatch.undo()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(chunked_repo), str(clone))
    c = Repo(str(clone))
    c.pull(progress=False)
    assert (clone / "big.bin").read_bytes() == data
    assert any((chunked_repo.parent / "model-remote" / "recipes").rglob("*")), "it went up as chunks"


def test_a_cached_file_changed_since_add_is_checked_chunk_by_chunk(chunked_repo):
    (chunked_repo / "big.bin").write_bytes(model_bytes("big", 3 * MiB))
    r = Repo(str(chunked_repo))
    oid = r.add([str(chunked_repo / "big.bin")], progress=False)[0].oid
    commit_all(chunked_repo, "big")
    obj = r.store.path(oid)
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as f:  # rot that leaves the size alone, after the index was written
        f.seek(2 * MiB)
        f.write(b"\0rot")
    result = r.push(progress=False)
    assert result.failed and isinstance(result.failed[0][1], CorruptObject)


def test_a_directory_remote_takes_a_temp_file_by_hard_link(tmp_path):
    remote = LocalBackend(str(tmp_path / "remote"))
    os.makedirs(tmp_path / "remote")
    src = tmp_path / "pack.tmp"
    src.write_bytes(b"pack bytes")
    remote.upload("packs/ab/abcd", str(src), 10, movable=True)
    final = tmp_path / "remote" / "packs" / "ab" / "abcd"
    assert final.stat().st_ino == src.stat().st_ino
    src.unlink()
    assert final.read_bytes() == b"pack bytes" and not final.stat().st_mode & 0o222
    other = tmp_path / "kept.bin"
    other.write_bytes(b"object")
    remote.upload("objects/cd/cdef", str(other), 6)  # not movable: an independent copy
    assert (tmp_path / "remote" / "objects" / "cd" / "cdef").stat().st_ino != other.stat().st_ino


def test_per_chunk_rows_are_written_at_the_first_lookup_not_at_add(tmp_path):
    """add records one row per object; the per-chunk rows a rebuild looks chunks up in come later."""
    data = model_bytes("v1", 3 * MiB)
    scan = cdc.scan_file(_write(tmp_path / "v1.bin", data))
    state = chunk_state.open_index(tmp_path / "state")
    state.record_local(scan.oid, scan.size, scan.chunks, scan.chunker)
    assert state.read().execute("SELECT count(*) FROM local_chunks").fetchone()[0] == 0

    ids = [cid for cid, _, _ in scan.chunks]
    found = state.local_sources(ids[:3] + [b"\x07" * 32], exclude="0" * 64)
    assert found == {cid: [(scan.oid, off)] for cid, off, _ in list(scan.chunks)[:3]}
    assert state.read().execute("SELECT count(*) FROM local_chunks").fetchone()[0] == len(set(ids))
    state.forget_local(scan.oid)
    assert state.local_sources(ids[:3], exclude="0" * 64) == {}
    assert state.read().execute("SELECT count(*) FROM local_chunks").fetchone()[0] == 0


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
