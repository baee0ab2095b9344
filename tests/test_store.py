import hashlib
import os
import stat

import pytest

from gitmodels.errors import CorruptObject
from gitmodels.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "cache"))


def test_add_file_hashes_and_copies_read_only(store, tmp_path):
    src = tmp_path / "m.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    oid, size = store.add_file(str(src))
    assert oid == hashlib.sha256(data).hexdigest() and size == len(data)
    path = store.path(oid)
    assert path.endswith(f"objects/{oid[:2]}/{oid}")
    assert open(path, "rb").read() == data
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list(store.iter_oids()) == [oid]
    assert os.listdir(store.tmp_dir) == []


def test_ingest_refuses_bytes_that_do_not_match(store):
    oid = hashlib.sha256(b"good").hexdigest()

    def fill(tmp):
        open(tmp, "wb").write(b"evil")

    with pytest.raises(CorruptObject):
        store.ingest(oid, fill, where="remote/objects/x")
    assert not store.has(oid)
    assert os.listdir(store.tmp_dir) == []


def test_materialized_copy_never_shares_writable_bytes(store, tmp_path):
    oid = store.add_bytes(b"weights")
    for mode in ("reflink", "copy", "hardlink", "symlink"):
        dest = str(tmp_path / f"out-{mode}")
        store.materialize(oid, dest, mode)
        assert open(dest, "rb").read() == b"weights"
        if mode in ("reflink", "copy"):
            open(dest, "ab").write(b"!")
        elif os.geteuid() != 0:
            with pytest.raises(PermissionError):
                open(dest, "ab")
    assert store.verify(oid)


def test_quarantine_moves_a_corrupt_object_aside(store):
    oid = store.add_bytes(b"abc")
    os.chmod(store.path(oid), 0o644)
    open(store.path(oid), "wb").write(b"abd")
    assert not store.verify(oid)
    moved = store.quarantine(oid)
    assert not store.has(oid) and os.path.exists(moved)
