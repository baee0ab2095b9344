"""gc keeps every pack a kept recipe reads and drops the rest; stats count referenced vs stored bytes."""

from __future__ import annotations


from gitmodels import chunking
from gitmodels.storage.objects import PACKS_PREFIX, RECIPES_PREFIX

from .util import MiB, data, remote_bytes


def test_gc_drops_only_unreferenced_packs(dir_remote, clone_factory):
    clone = clone_factory()
    a = data(70, 8 * MiB)
    b = a[:4 * MiB] + data(71, 4 * MiB)  # shares its first half with a
    c = data(72, 6 * MiB)  # shares nothing
    oid_a, oid_b, oid_c = (clone.push(dir_remote, x)[0] for x in (a, b, c))
    refs = chunking.referenced_packs(dir_remote, [oid_a, oid_b, oid_c])
    only_c = {p for p, users in refs.items() if users == {oid_c}}
    assert only_c and all(oid_c not in users for p, users in refs.items() if p not in only_c)

    plan = chunking.plan_gc(dir_remote, [oid_b])
    assert set(plan.recipes) == {oid_a, oid_c}
    assert set(plan.packs) == only_c  # a's pack also holds b's first half: it is repacked without a's second half
    assert plan.bytes_freed > 6 * MiB and len(plan.repack) >= 1
    before = remote_bytes(dir_remote)
    repacked = chunking.apply_gc(dir_remote, plan, clone.state)
    assert repacked == plan.repack_freed > 0
    assert before - remote_bytes(dir_remote) == plan.bytes_freed + repacked
    assert remote_bytes(dir_remote) == plan.bytes_after
    assert [k for k, _ in dir_remote.list(RECIPES_PREFIX)] == [chunking.recipe_key(oid_b)]
    assert chunking.verify_remote(dir_remote).ok

    assert clone_factory().rebuild(dir_remote, oid_b) == b
    # The pusher's state forgot the deleted packs: pushing c again sends it again.
    stats = chunking.upload_object(dir_remote, clone.state, oid_c, clone.path(oid_c), len(c))
    assert stats.bytes_new == len(c)
    assert chunking.plan_gc(dir_remote, [oid_b, oid_c]).packs == ()


def test_gc_of_everything(dir_remote, clone_factory):
    clone = clone_factory()
    clone.push(dir_remote, data(73, 5 * MiB))
    chunking.apply_gc(dir_remote, chunking.plan_gc(dir_remote, []))
    assert list(dir_remote.list(PACKS_PREFIX)) == [] and list(dir_remote.list(RECIPES_PREFIX)) == []


def test_stats(dir_remote, clone_factory):
    clone = clone_factory()
    a = data(74, 8 * MiB)
    b = a[:6 * MiB] + data(75, 2 * MiB)
    oid_a, oid_b = clone.push(dir_remote, a)[0], clone.push(dir_remote, b)[0]
    stats = chunking.remote_stats(dir_remote)
    assert stats.objects == 2 and stats.bytes_referenced == 16 * MiB
    assert stats.bytes_stored == remote_bytes(dir_remote)
    assert 10 * MiB <= stats.chunk_bytes < 10.5 * MiB
    assert 1.5 < stats.dedup_ratio < 1.6
    usage = {u.oid: u for u in stats.per_object}
    assert 2 * MiB <= usage[oid_a].unique_bytes < 2.5 * MiB
    assert 2 * MiB <= usage[oid_b].unique_bytes < 2.5 * MiB
    only_a = chunking.remote_stats(dir_remote, [oid_a])
    assert only_a.objects == 1 and only_a.per_object[0].unique_bytes == 8 * MiB


def test_repack_shrinks_the_remote_by_what_old_versions_alone_used(dir_remote, clone_factory):
    """Old versions go: the remote then holds what the kept version reads, and nothing it does not."""
    from gitmodels.chunking.maintenance import remote_stats

    clone = clone_factory()
    v1 = data(80, 8 * MiB)
    v2 = v1[:3 * MiB] + data(81, 2 * MiB) + v1[5 * MiB:]  # a fine-tune: 6 MiB shared with v1
    v3 = v2[:6 * MiB] + data(82, 2 * MiB)  # 6 MiB shared with v2
    oids = [clone.push(dir_remote, v)[0] for v in (v1, v2, v3)]
    stats = remote_stats(dir_remote)
    only_old = sum(u.unique_bytes for u in stats.per_object if u.oid != oids[2])
    # Chunks v1 and v2 share with each other but not with v3 are used by old versions alone too.
    kept_chunks = remote_stats(dir_remote, [oids[2]]).chunk_bytes
    before = remote_bytes(dir_remote)
    plan = chunking.plan_gc(dir_remote, [oids[2]])
    chunking.apply_gc(dir_remote, plan, clone.state)
    after = remote_bytes(dir_remote)
    print(f"remote bytes {before} -> {after}: freed {before - after}; chunks only old versions used "
          f"{stats.chunk_bytes - kept_chunks} (of which unique per version {only_old})")
    overhead = after - kept_chunks  # pack headers, indexes, footers, v3's recipe
    assert before - after >= stats.chunk_bytes - kept_chunks
    assert 0 < overhead < 64 * 1024
    assert chunking.verify_remote(dir_remote).ok
    assert clone_factory().rebuild(dir_remote, oids[2]) == v3
    # Nothing is left to repack: a second gc changes nothing.
    again = chunking.plan_gc(dir_remote, [oids[2]])
    assert again.repack == () and again.packs == () and again.recipes == ()
