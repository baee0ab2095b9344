"""The cache's packs of small objects (storage/packs.py, docs/formats.md "Local packs")."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from gitmodels.errors import CorruptObject, ObjectMissing
from gitmodels.storage import packs as packs_mod
from gitmodels.storage.store import SMALL_OBJECT, Store


def blob(i: int, size: int = 2048) -> tuple[str, bytes]:
    data = hashlib.sha256(str(i).encode()).digest() * (size // 32)
    return hashlib.sha256(data).hexdigest(), data


def filled(root, n: int = 50) -> tuple[Store, dict[str, bytes]]:
    store = Store(str(root))
    objs = dict(blob(i) for i in range(n))
    for oid, data in objs.items():
        store.put_packed(oid, data)
    store.sync()
    return store, objs


def test_packed_objects_are_one_file_and_read_back_from_another_process_view(tmp_path):
    store, objs = filled(tmp_path)
    assert not os.path.exists(store.objects_dir) or not any(os.scandir(store.objects_dir))
    assert len(store.packs.pack_names()) == 1
    other = Store(str(tmp_path))  # what a second command sees
    for oid, data in objs.items():
        assert other.has(oid) and other.size(oid) == len(data)
        assert other.read_bytes(oid) == data == other.read_small(oid, len(data))
    assert other.present(list(objs) + ["0" * 64]) == set(objs)
    assert set(other.iter_oids()) == set(objs)


def test_an_object_being_packed_is_seen_by_its_own_process_before_the_sync(tmp_path):
    store = Store(str(tmp_path))
    oid, data = blob(1)
    store.put_packed(oid, data)
    assert store.has(oid)
    assert not Store(str(tmp_path)).has(oid)  # not durable yet: no other process may rely on it
    assert store.read_bytes(oid) == data  # asking for its bytes publishes the pack
    assert Store(str(tmp_path)).has(oid)


def test_large_and_empty_objects_stay_loose(tmp_path):
    store = Store(str(tmp_path))
    big = b"x" * SMALL_OBJECT
    for data in (big, b""):
        oid = hashlib.sha256(data).hexdigest()
        store.put_packed(oid, data)
        store.sync()
        assert os.path.exists(store.path(oid))
    assert not store.packs.present()


def test_the_index_is_rebuilt_from_the_packs_and_forgets_packs_that_are_gone(tmp_path):
    store, objs = filled(tmp_path)
    store.packs.close()
    shutil.rmtree(os.path.join(store.packs.dir, "index"))
    again = Store(str(tmp_path))
    assert again.present(objs) == set(objs)
    (name,) = again.packs.pack_names()
    os.chmod(again.packs.pack_path(name), 0o644)
    os.unlink(again.packs.pack_path(name))
    assert Store(str(tmp_path)).present(objs) == set()


def test_a_pack_not_renamed_into_place_is_not_seen(tmp_path):
    store = Store(str(tmp_path))
    oid, data = blob(3)
    store.put_packed(oid, data)
    store.packs._writer._f.flush()  # killed before the pack was closed: only a temp file in tmp/
    assert not Store(str(tmp_path)).has(oid)
    store.packs.abandon()
    assert not os.listdir(store.tmp_dir)


def test_a_damaged_entry_is_refused_verified_false_and_quarantined(tmp_path):
    store, objs = filled(tmp_path, 3)
    oid, data = next(iter(objs.items()))
    name, offset, _ = store.packs.find(oid)
    path = store.packs.pack_path(name)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\0\0\0")
    store = Store(str(tmp_path))
    with pytest.raises(CorruptObject):
        store.read_small(oid, len(data))
    with pytest.raises(CorruptObject):
        store.read_bytes(oid)
    assert not store.verify(oid)
    target = store.quarantine(oid)
    assert os.path.getsize(target) == len(data) and not store.has(oid)
    others = [o for o in objs if o != oid]
    assert all(store.verify(o) for o in others)


def test_file_copies_a_packed_object_out_for_callers_that_need_a_path(tmp_path):
    store, objs = filled(tmp_path, 2)
    oid, data = next(iter(objs.items()))
    path = store.file(oid)
    with open(path, "rb") as f:
        assert f.read() == data
    with pytest.raises(ObjectMissing):
        store.file("1" * 64)


def test_gc_drops_entries_then_removes_or_rewrites_their_packs(tmp_path, monkeypatch):
    monkeypatch.setattr(packs_mod, "PACK_SIZE", 40 * 2048)  # a pack per 40 objects
    store, objs = filled(tmp_path, 120)
    assert len(store.packs.pack_names()) == 3
    oids = list(objs)
    store.delete_many(oids[:40] + oids[40:70])  # the first pack dead, the second three quarters dead
    removed, _ = store.packs.compact()
    assert removed == 2
    store = Store(str(tmp_path))
    assert store.present(oids) == set(oids[70:])
    for oid in oids[70:]:
        assert store.read_bytes(oid) == objs[oid]
    assert len(store.packs.pack_names()) == 2  # the untouched one and the rewrite of the second's live part


def test_dropping_an_entry_changes_the_packs_folder_stamp(tmp_path):
    store, objs = filled(tmp_path, 2)
    before = os.stat(store.packs.dir).st_mtime_ns, os.stat(store.packs.dir).st_ino
    os.utime(store.packs.dir, ns=(1, 1))
    store.delete(next(iter(objs)))
    assert (os.stat(store.packs.dir).st_mtime_ns, os.stat(store.packs.dir).st_ino) != (1, before[1])


def test_an_object_packed_already_is_not_packed_again(tmp_path):
    """A re-add of files whose stat changed (touch, a copy) finds their bytes packed: dedup stays on."""
    store, objs = filled(tmp_path, 30)
    again = Store(str(tmp_path))
    for oid, data in objs.items():
        again.put_packed(oid, data)
    again.sync()
    (first,) = again.packs.pack_names()
    new_oid, new_data = blob(1000)
    again.put_packed(new_oid, new_data)
    again.put_packed(new_oid, new_data)
    again.sync()
    assert len(again.packs.pack_names()) == 2 and again.read_bytes(new_oid) == new_data
    (second,) = set(again.packs.pack_names()) - {first}
    assert os.path.getsize(again.packs.pack_path(second)) < 2 * 2048  # the new object, once


def test_a_reader_whose_pack_was_compacted_away_finds_the_object_again(tmp_path, monkeypatch):
    """A push or checkout looks places up a batch at a time; a gc's compaction may move an entry meanwhile."""
    monkeypatch.setattr(packs_mod, "PACK_SIZE", 10 * 2048)
    store, objs = filled(tmp_path, 20)
    oids = list(objs)
    reader = Store(str(tmp_path))
    stale = reader.packs.locate(oids[:10])
    store.delete_many(oids[1:10])  # the first pack is nine tenths dead: rewritten
    assert store.packs.compact()[0] == 1
    assert reader.read_small(oids[0], 2048, stale[oids[0]]) == objs[oids[0]]
    with pytest.raises(ObjectMissing):
        reader.read_small(oids[1], 2048, stale[oids[1]])


@pytest.mark.parametrize("scan_from", [1, 10**9])  # the index read through / looked up a few hundred at a time
def test_held_answers_the_same_either_way(tmp_path, monkeypatch, scan_from):
    monkeypatch.setattr(packs_mod, "_SCAN_FROM", scan_from)
    store, objs = filled(tmp_path, 20)
    extra_oid, extra = blob(99)
    store.put_packed(extra_oid, extra)  # still being packed: asking about it publishes it
    asked = list(objs)[:5] + [extra_oid, "0" * 64]
    assert store.packs.held(asked) == set(asked[:6])
    assert Store(str(tmp_path)).packs.held(asked) == set(asked[:6])
