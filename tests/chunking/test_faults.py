"""Interrupted pushes resume; lost local state is rebuilt from the remote; threads and clones push at once."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gitmodels import chunking
from gitmodels.storage.objects import PACKS_PREFIX, RECIPES_PREFIX
from gitmodels.errors import RemoteError

from .util import MiB, data, remote_bytes

PACK = 4 * MiB  # small packs, so that a 16 MiB object takes several


def test_interrupted_push_resumes_after_the_packs_sent(any_remote, clone_factory):
    remote = any_remote
    clone = clone_factory()
    blob = data(31, 16 * MiB)
    oid, path = clone.add(blob)
    packs_sent = []

    def fail_after_first_pack(key: str) -> bool:
        if key.startswith(PACKS_PREFIX):
            packs_sent.append(key)
        return len(packs_sent) > 1

    remote.fail_upload = fail_after_first_pack
    with pytest.raises(RemoteError, match="injected"):
        chunking.upload_object(remote, clone.state, oid, path, len(blob), jobs=1, pack_size=PACK)
    assert not chunking.remote_has_object(remote, oid)  # no recipe: the object is not there yet
    assert len(list(remote.list(PACKS_PREFIX))) == 1
    assert not os.listdir(os.path.join(clone.state, "tmp"))  # no temp pack left behind

    remote.fail_upload = None
    remote.reset()
    stats = chunking.upload_object(remote, clone.state, oid, path, len(blob), jobs=1, pack_size=PACK)
    assert stats.bytes_new < len(blob) - 3 * MiB  # the first pack was not sent again
    assert remote.uploaded == stats.bytes_sent
    assert chunking.remote_has_object(remote, oid)

    other = clone_factory()
    out = os.path.join(other.cache, "o")
    chunking.download_object(remote, other.state, oid, out, other.cache)
    assert open(out, "rb").read() == blob


def test_lost_state_is_rebuilt_from_pack_indexes(any_remote, clone_factory):
    """A clone without state (new machine, deleted cache) learns what the remote holds by its packs."""
    remote = any_remote
    first = clone_factory()
    v1 = data(32, 12 * MiB)
    oid1, _ = first.push(remote, v1)

    second = clone_factory()  # a teammate who never pulled v1
    v2 = v1[:5 * MiB] + data(33, MiB) + v1[5 * MiB:]
    oid2, stats = second.push(remote, v2)
    assert stats.bytes_new < 1.5 * MiB

    shutil.rmtree(first.state)  # the first clone loses its state
    v3 = v2[:9 * MiB] + data(34, MiB) + v2[9 * MiB:]
    oid3, path3 = first.add(v3)
    remote.reset()
    stats = chunking.upload_object(remote, first.state, oid3, path3, len(v3))
    assert stats.bytes_new < 1.5 * MiB
    assert remote.range_requests <= 4  # one ranged read per pack index


def test_threads_push_different_objects_at_once(dir_remote, clone_factory):
    clone = clone_factory()
    base = data(35, 8 * MiB)
    blobs = [base[:i * MiB] + data(40 + i, MiB) + base[i * MiB:] for i in range(6)]
    added = [clone.add(b) for b in blobs]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda a: chunking.upload_object(dir_remote, clone.state, a[0], a[1], 9 * MiB), added))
    # Threads pushing related objects at once send each shared chunk once.
    assert remote_bytes(dir_remote) < 8 * MiB + 6 * (MiB + 512 * 1024)
    puller = clone_factory()
    for (oid, _), blob in zip(added, blobs):
        assert puller.rebuild(dir_remote, oid) == blob


def test_two_clones_push_the_same_objects_at_once(any_remote, clone_factory):
    remote = any_remote
    blobs = [data(50, 6 * MiB), data(51, 5 * MiB)]
    blobs.append(blobs[0][:3 * MiB] + blobs[1])
    clones = [clone_factory(), clone_factory()]
    barrier = threading.Barrier(2)
    errors = []

    def push(clone):
        try:
            added = [clone.add(b) for b in blobs]
            barrier.wait()
            for oid, path in added:
                chunking.upload_object(remote, clone.state, oid, path, os.path.getsize(path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(c,)) for c in clones]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(list(remote.list(RECIPES_PREFIX))) == 3
    assert chunking.verify_remote(remote).ok
    puller = clone_factory()
    for blob in blobs:
        oid = hashlib.sha256(blob).hexdigest()
        out = os.path.join(puller.cache, oid)
        chunking.download_object(remote, puller.state, oid, out, puller.cache)
        assert open(out, "rb").read() == blob


def test_threads_download_at_once(dir_remote, clone_factory):
    pusher = clone_factory()
    base = data(60, 8 * MiB)
    blobs = [base[:i * MiB] + data(61 + i, MiB) + base[i * MiB:] for i in range(4)]
    oids = []
    for blob in blobs:
        oid, _ = pusher.push(dir_remote, blob)
        oids.append(oid)
    puller = clone_factory()
    puller.add(base)
    chunking.index_local_object(puller.state, hashlib.sha256(base).hexdigest(), puller.path(
        hashlib.sha256(base).hexdigest()))
    with ThreadPoolExecutor(4) as pool:
        stats = list(pool.map(lambda o: chunking.download_object(
            dir_remote, puller.state, o, os.path.join(puller.cache, o), puller.cache), oids))
    for oid, blob, st in zip(oids, blobs, stats):
        assert open(os.path.join(puller.cache, oid), "rb").read() == blob
        assert st.bytes_fetched < 1.5 * MiB
