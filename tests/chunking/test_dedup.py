"""The issue's scenario: a 64 MiB file, a copy with 1 MiB changed, a copy with 1 MiB inserted.

Each is pushed to a directory remote and to S3; the bytes the remote gains and
the bytes each pull downloads are held to bounds, and every rebuilt file must
hash to its oid.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from gitmodels import chunking
from gitmodels.chunking import cdc, formats

from .util import MiB, data, remote_bytes

SIZE = 64 * MiB
CHANGE = 1 * MiB
# An edit disturbs the chunk it lands in and the next one or two cut points:
# allow a few maximal chunks on top of the edit itself.
SLACK = 4 * cdc.MAX_SIZE


@pytest.fixture(scope="module")
def versions():
    v1 = data(1, SIZE)
    changed = bytearray(v1)
    changed[20 * MiB:20 * MiB + CHANGE] = data(2, CHANGE)
    inserted = v1[:SIZE // 2] + data(3, CHANGE) + v1[SIZE // 2:]
    return {"v1": v1, "changed": bytes(changed), "inserted": inserted}


def overhead(stats: chunking.UploadStats) -> int:
    """Pack headers and indexes plus the recipe: what a push sends besides chunk bytes."""
    return stats.recipe_bytes + stats.packs_uploaded * (formats.PACK_HEADER_SIZE + formats.PACK_FOOTER_SIZE) + \
        stats.chunks_new * formats.PACK_ENTRY_SIZE


def test_push_and_pull_versions(any_remote, clone_factory, versions):
    remote = any_remote
    pusher = clone_factory()
    oids = {name: pusher.add(blob)[0] for name, blob in versions.items()}

    # First version: everything is new.
    stats = chunking.upload_object(remote, pusher.state, oids["v1"], pusher.path(oids["v1"]), SIZE)
    assert stats.bytes_new == SIZE and stats.chunks_new == stats.chunks_total
    assert stats.bytes_sent == SIZE + overhead(stats)
    assert stats.packs_uploaded == 2  # 32 MiB packs: a remote sees few large objects
    assert remote_bytes(remote) == stats.bytes_sent
    assert chunking.remote_has_object(remote, oids["v1"])

    # Second and third versions: about the edit, plus the recipe.
    for name in ("changed", "inserted"):
        before = remote_bytes(remote)
        size = len(versions[name])
        stats = chunking.upload_object(remote, pusher.state, oids[name], pusher.path(oids[name]), size)
        assert CHANGE <= stats.bytes_new <= CHANGE + SLACK, name
        assert remote_bytes(remote) - before == stats.bytes_sent == stats.bytes_new + overhead(stats)
        assert stats.recipe_bytes < size / 500  # 48 bytes per ~37 KiB chunk
        assert stats.bytes_sent <= CHANGE + SLACK + size / 500 + 64 * 1024
    assert remote_bytes(remote) < SIZE * 1.06
    assert chunking.remote_has_objects(remote, oids.values()) == set(oids.values())

    # A teammate with nothing cached downloads v1 whole (as chunks).
    puller = clone_factory()
    remote.reset()
    out = os.path.join(puller.cache, "out-v1")
    got = chunking.download_object(remote, puller.state, oids["v1"], out, puller.cache)
    assert hashlib.sha256(open(out, "rb").read()).hexdigest() == oids["v1"]
    assert got.bytes_local == 0 and got.bytes_fetched == SIZE
    assert remote.bytes_down == SIZE + got.recipe_bytes
    assert got.requests <= SIZE // (4 * MiB) + 2  # adjacent chunks coalesced into ranged reads
    os.makedirs(os.path.dirname(puller.path(oids["v1"])))
    os.replace(out, puller.path(oids["v1"]))  # what the cache does with a verified download
    assert not chunking.index_local_object(puller.state, oids["v1"], puller.path(oids["v1"]))  # known from its recipe

    # With v1 cached, each new version downloads about the edit.
    for name in ("changed", "inserted"):
        remote.reset()
        out = os.path.join(puller.cache, f"out-{name}")
        got = chunking.download_object(remote, puller.state, oids[name], out, puller.cache)
        with open(out, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == oids[name]
        assert CHANGE <= got.bytes_fetched <= CHANGE + SLACK + chunking.download.MAX_GAP, name
        assert remote.bytes_down == got.bytes_downloaded
        assert got.bytes_local + got.bytes_fetched >= got.bytes_total
        assert got.requests <= 3


def test_pull_without_recipe_signals_fallback(dir_remote, clone_factory):
    clone = clone_factory()
    out = os.path.join(clone.cache, "out")
    assert chunking.download_object(dir_remote, clone.state, "ab" * 32, out, clone.cache) is None
    assert not os.path.exists(out)
    assert not chunking.remote_has_object(dir_remote, "ab" * 32)


def test_whole_objects_and_recipes_mix(dir_remote, clone_factory, tmp_path):
    """A remote holding an old whole-file object still answers for it; chunked ones next to it."""
    from gitmodels.remotes.base import object_key

    clone = clone_factory()
    old_oid, old_path = clone.add(data(7, 3 * MiB))
    dir_remote.upload(object_key(old_oid), old_path, 3 * MiB)
    new_oid, _ = clone.push(dir_remote, data(8, 6 * MiB))
    assert chunking.remote_has_objects(dir_remote, [old_oid, new_oid, "cd" * 32]) == {old_oid, new_oid}
    stats = chunking.remote_stats(dir_remote)
    forms = {u.oid: u.form for u in stats.per_object}
    assert forms == {old_oid: "whole", new_oid: "chunked"}
    assert stats.bytes_referenced == 9 * MiB


def test_version_1_recipes_from_older_clients_still_work(dir_remote, clone_factory):
    """A remote where an older gitmodels wrote version 1 recipes: pulls, stats and gc still read them."""
    clone = clone_factory()
    v1 = data(10, 6 * MiB)
    v2 = v1[:3 * MiB] + data(11, 3 * MiB)
    oid1, _ = clone.push(dir_remote, v1)
    oid2, _ = clone.push(dir_remote, v2)
    recipe, _ = chunking.remote.fetch_recipe(dir_remote, oid1)
    assert recipe.version == 2
    key = chunking.recipe_key(oid1)
    dir_remote.delete(key)
    tmp = os.path.join(clone.cache, "old-recipe")
    with open(tmp, "wb") as f:
        f.write(recipe.encode())  # as an older client wrote it: 48 bytes a chunk
    dir_remote.upload(key, tmp, os.path.getsize(tmp))
    assert chunking.remote.fetch_recipe(dir_remote, oid1)[0].version == 1
    puller = clone_factory()
    for oid, want in ((oid1, v1), (oid2, v2)):
        assert puller.rebuild(dir_remote, oid) == want
    stats = chunking.remote_stats(dir_remote)
    assert {u.oid: u.form for u in stats.per_object} == {oid1: "chunked", oid2: "chunked"}
    assert chunking.plan_gc(dir_remote, [oid1, oid2]).packs == ()
    assert chunking.verify_remote(dir_remote).ok


def test_upload_twice_sends_nothing(dir_remote, clone_factory):
    clone = clone_factory()
    oid, path = clone.add(data(9, 6 * MiB))
    first = chunking.upload_object(dir_remote, clone.state, oid, path, 6 * MiB)
    seen = []
    again = chunking.upload_object(dir_remote, clone.state, oid, path, 6 * MiB, progress=seen.append)
    assert again.already_present and again.bytes_sent == 0 and sum(seen) == 6 * MiB
    assert first.bytes_sent > 6 * MiB


def test_progress_adds_up_to_size(dir_remote, clone_factory, versions):
    clone = clone_factory()
    oid, path = clone.add(versions["v1"][:8 * MiB])
    seen = []
    chunking.upload_object(dir_remote, clone.state, oid, path, 8 * MiB, progress=seen.append)
    assert sum(seen) == 8 * MiB
    other = clone_factory()
    seen = []
    chunking.download_object(dir_remote, other.state, oid, os.path.join(other.cache, "x"), other.cache,
                             progress=seen.append)
    assert sum(seen) == 8 * MiB


def test_repeated_chunks_are_stored_once(dir_remote, clone_factory):
    """A file that repeats itself (zeros, tied weights) stores each distinct chunk once."""
    block = data(11, 2 * MiB)
    blob = block * 4
    clone = clone_factory()
    oid, stats = clone.push(dir_remote, blob)
    assert stats.bytes_new < 2 * MiB + SLACK
    other = clone_factory()
    out = os.path.join(other.cache, "x")
    got = chunking.download_object(dir_remote, other.state, oid, out, other.cache)
    assert got.bytes_repeated > 5 * MiB and got.bytes_fetched < 2 * MiB + SLACK
    assert open(out, "rb").read() == blob


def test_should_chunk():
    """`choose` is the one chunk-or-not decision; its default threshold is config.DEFAULTS's."""
    from gitmodels.config import DEFAULTS
    from gitmodels.sync.adapters import DEFAULT_THRESHOLD, choose

    assert DEFAULT_THRESHOLD == DEFAULTS["core"]["chunk_threshold"]
    assert choose(DEFAULT_THRESHOLD).chunked
    assert not choose(DEFAULT_THRESHOLD - 1).chunked
    assert not choose(10 ** 12, None).chunked
    assert choose(100, 50).chunked
    assert choose(100, 50, pushing=False).chunked and not choose(49, 50, pushing=False).chunked


@pytest.mark.parametrize("size", [0, 1, cdc.MIN_SIZE, cdc.MAX_SIZE + 1, 300_000])
def test_tiny_and_edge_sizes_round_trip(dir_remote, clone_factory, size):
    blob = data(size, size)
    clone = clone_factory()
    oid, stats = clone.push(dir_remote, blob)
    assert stats.packs_uploaded == (1 if size else 0)
    other = clone_factory()
    out = os.path.join(other.cache, "o")
    got = chunking.download_object(dir_remote, other.state, oid, out, other.cache)
    assert open(out, "rb").read() == blob and got.bytes_fetched == size


def test_gcs_round_trip(gcs_backend, clone_factory):
    """The same engine on Google Cloud Storage (emulator): a small edit, pushed and pulled as the edit."""
    v1 = data(12, 16 * MiB)
    v2 = v1[:8 * MiB] + data(13, CHANGE) + v1[8 * MiB:]
    pusher = clone_factory()
    for blob in (v1, v2):
        oid, stats = pusher.push(gcs_backend, blob)
    assert CHANGE <= stats.bytes_new <= CHANGE + SLACK
    puller = clone_factory()
    oid1, path1 = puller.add(v1)
    chunking.index_local_object(puller.state, oid1, path1)
    out = os.path.join(puller.cache, "o")
    got = chunking.download_object(gcs_backend, puller.state, oid, out, puller.cache)
    assert open(out, "rb").read() == v2 and got.bytes_fetched <= CHANGE + SLACK + chunking.download.MAX_GAP
    assert chunking.verify_remote(gcs_backend).ok
