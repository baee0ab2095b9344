"""Damage anywhere is caught, named, and never becomes a file: packs, recipes, the cache, the index."""

from __future__ import annotations

import os

import pytest

from gitmodels import chunking
from gitmodels.chunking import formats
from gitmodels.storage.objects import pack_key, recipe_key
from gitmodels.errors import CorruptObject, ObjectMissing

from .util import MiB, data


def _remote_file(backend, key: str) -> str:
    return os.path.join(backend.inner.inner.root, *key.split("/"))  # Counting(Retrying(LocalBackend))


def _flip_byte(path: str, offset: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture
def pushed(dir_remote, clone_factory):
    """Two related objects pushed as chunks: `a`, and `b` (= a with its second half replaced)."""
    clone = clone_factory()
    a = data(21, 12 * MiB)
    b = a[:6 * MiB] + data(22, 6 * MiB)
    oid_a, _ = clone.push(dir_remote, a)
    oid_b, _ = clone.push(dir_remote, b)
    return clone, {"a": (oid_a, a), "b": (oid_b, b)}


def test_corrupt_byte_in_a_pack_is_caught_and_named(dir_remote, clone_factory, pushed):
    _, objs = pushed
    oid_a, _ = objs["a"]
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, oid_a)
    victim = recipe.chunks[3]  # a chunk of the shared first half
    _flip_byte(_remote_file(dir_remote, pack_key(victim.pack_id)), victim.offset + 100)

    puller = clone_factory()
    out = os.path.join(puller.cache, "out")
    with pytest.raises(CorruptObject) as err:
        chunking.download_object(dir_remote, puller.state, oid_a, out, puller.cache)
    assert pack_key(victim.pack_id) in str(err.value) and victim.chunk_id.hex() in str(err.value)
    assert not os.path.exists(out) and os.listdir(puller.cache) == ["chunks"]  # nothing half-written

    report = chunking.verify_pack(dir_remote, victim.pack_id, chunking.read_recipes(dir_remote, [oid_a, objs["b"][0]]))
    assert not report.ok
    assert report.corrupt_chunks == (victim.chunk_id.hex(),)
    assert set(report.affected_oids) == {oid_a, objs["b"][0]}  # the chunk is shared by both versions

    full = chunking.verify_remote(dir_remote)
    assert not full.ok and [r.pack_id for r in full.bad_packs] == [victim.pack_id]
    assert set(full.affected_oids) == {oid_a, objs["b"][0]}


def test_repair_by_pushing_again_around_the_bad_pack(dir_remote, clone_factory, pushed):
    clone, objs = pushed
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, objs["a"][0])
    bad = recipe.chunks[0].pack_id
    _flip_byte(_remote_file(dir_remote, pack_key(bad)), recipe.chunks[0].offset)
    report = chunking.verify_remote(dir_remote)
    assert set(report.affected_oids) == {objs["a"][0], objs["b"][0]}
    for oid in report.affected_oids:  # from a clone that still has the models
        chunking.upload_object(dir_remote, clone.state, oid, clone.path(oid), os.path.getsize(clone.path(oid)),
                               rewrite=True, avoid_packs=[bad])
    # (Re-packing a's chunks in the same order rebuilt the very same pack, under the same name:
    # content-addressed blobs make that rewrite a repair.)
    assert chunking.verify_remote(dir_remote).ok
    chunking.apply_gc(dir_remote, chunking.plan_gc(dir_remote, [o for o, _ in objs.values()]), clone.state)
    assert chunking.verify_remote(dir_remote).ok
    for oid, blob in objs.values():
        assert clone_factory().rebuild(dir_remote, oid) == blob


def test_damaged_recipe(dir_remote, clone_factory, pushed):
    _, objs = pushed
    oid_a, _ = objs["a"]
    path = _remote_file(dir_remote, recipe_key(oid_a))
    _flip_byte(path, os.path.getsize(path) // 2)
    puller = clone_factory()
    with pytest.raises(CorruptObject, match=recipe_key(oid_a)):
        chunking.download_object(dir_remote, puller.state, oid_a, os.path.join(puller.cache, "o"), puller.cache)
    report = chunking.verify_remote(dir_remote)
    assert [oid for oid, _ in report.bad_recipes] == [oid_a] and oid_a in report.affected_oids
    with pytest.raises(CorruptObject):  # gc cannot know what a damaged recipe keeps alive
        chunking.plan_gc(dir_remote, [oid_a])


def test_missing_pack(dir_remote, clone_factory, pushed):
    _, objs = pushed
    oid_b, _ = objs["b"]
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, oid_b)
    dir_remote.delete(pack_key(recipe.chunks[-1].pack_id))
    puller = clone_factory()
    out = os.path.join(puller.cache, "o")
    with pytest.raises(ObjectMissing, match=pack_key(recipe.chunks[-1].pack_id)):
        chunking.download_object(dir_remote, puller.state, oid_b, out, puller.cache)
    assert not os.path.exists(out)
    report = chunking.verify_remote(dir_remote, [oid_b])
    assert report.affected_oids == (oid_b,) and report.bad_packs[0].size is None


def test_push_resends_chunks_of_a_pack_that_vanished(dir_remote, clone_factory, pushed):
    """The local view says the remote holds a pack; it was deleted meanwhile (a gc elsewhere)."""
    clone, objs = pushed
    oid_b, b = objs["b"]
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, oid_b)
    for pack_id in recipe.pack_ids:
        dir_remote.delete(pack_key(pack_id))
    dir_remote.delete(recipe_key(oid_b))
    stats = chunking.upload_object(dir_remote, clone.state, oid_b, clone.path(oid_b), len(b))
    assert stats.bytes_new == len(b)
    assert clone_factory().rebuild(dir_remote, oid_b) == b


def test_stale_local_index_falls_back_to_the_remote(dir_remote, clone_factory, pushed):
    _, objs = pushed
    oid_a, a = objs["a"]
    oid_b, b = objs["b"]
    puller = clone_factory()
    _, path_a = puller.add(a)
    chunking.index_local_object(puller.state, oid_a, path_a)
    _flip_byte(path_a, 1000)  # the cached copy rots after it was indexed
    out = os.path.join(puller.cache, "o")
    got = chunking.download_object(dir_remote, puller.state, oid_b, out, puller.cache)
    assert open(out, "rb").read() == b
    assert got.local_fallbacks == 1 and got.bytes_local > 5 * MiB

    os.unlink(path_a)  # and then the cache drops it
    os.unlink(out)
    got = chunking.download_object(dir_remote, puller.state, oid_b, out, puller.cache)
    assert open(out, "rb").read() == b and got.bytes_local == 0


def test_push_refuses_a_cache_file_that_does_not_match(dir_remote, clone_factory):
    clone = clone_factory()
    oid, path = clone.add(data(23, 5 * MiB))
    _flip_byte(path, 4 * MiB)
    with pytest.raises(CorruptObject, match=oid):
        chunking.upload_object(dir_remote, clone.state, oid, path, 5 * MiB)
    assert list(dir_remote.list("")) == []


def test_push_refuses_a_cache_file_changed_after_indexing(dir_remote, clone_factory):
    clone = clone_factory()
    oid, path = clone.add(data(24, 5 * MiB))
    chunking.index_local_object(clone.state, oid, path)
    _flip_byte(path, 4 * MiB)
    with pytest.raises(CorruptObject, match=oid):
        chunking.upload_object(dir_remote, clone.state, oid, path, 5 * MiB)
    assert not chunking.remote_has_object(dir_remote, oid)


def test_index_local_object_checks_the_oid(clone_factory):
    clone = clone_factory()
    oid, path = clone.add(data(25, 5 * MiB))
    with pytest.raises(CorruptObject):
        chunking.index_local_object(clone.state, "00" * 32, path)
    assert chunking.index_local_object(clone.state, oid, path)
    assert not chunking.index_local_object(clone.state, oid, path)
    chunking.forget_local_object(clone.state, oid)
    assert chunking.index_local_object(clone.state, oid, path)


def test_pack_index_damage_is_reported(dir_remote, clone_factory, pushed):
    _, objs = pushed
    oid_a, _ = objs["a"]
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, oid_a)
    pack_id = recipe.chunks[0].pack_id
    path = _remote_file(dir_remote, pack_key(pack_id))
    _flip_byte(path, os.path.getsize(path) - formats.PACK_FOOTER_SIZE - 10)
    report = chunking.verify_pack(dir_remote, pack_id, chunking.read_recipes(dir_remote, [oid_a]))
    assert not report.ok and any("index" in p for p in report.problems)
    assert report.corrupt_chunks == ()  # the chunks themselves are intact, checked through the recipes
    # A clone that never saw the pack cannot read its index: it just does not dedup against it.
    other = clone_factory()
    result = chunking.sync_remote(dir_remote, other.state)
    assert [p for p, _ in result.unreadable] == [pack_id]


def test_pack_header_damage_is_reported(dir_remote, pushed):
    _, objs = pushed
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, objs["a"][0])
    pack_id = recipe.chunks[0].pack_id
    _flip_byte(_remote_file(dir_remote, pack_key(pack_id)), 2)
    report = chunking.verify_pack(dir_remote, pack_id)
    assert not report.ok and any("header" in p for p in report.problems) and report.corrupt_chunks == ()
