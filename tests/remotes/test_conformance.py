"""One conformance suite, run against every remote through `open_backend`.

A backend joins by adding one entry to REMOTES: how to get `(url, settings)`
for a fresh, empty remote, with settings small enough that LARGE crosses its
multipart / chunk threshold. A read-only remote (HTTP) joins READ_ONLY and
runs the reading tests (the `readable` fixture): what they store is written
by the publisher behind it, a directory remote in the folder the server serves.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from gitmodels.errors import ReadOnlyRemote, RemoteError
from gitmodels.remotes import KeyNotFound, _cloud, object_key, open_backend
from gitmodels.remotes.base import oid_from_key
from tests.seeded import seeded_bytes

MiB = 1024 * 1024


def _local(request, tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    return str(root), {"fsync": False}


def _s3(request, tmp_path):
    url, settings = request.getfixturevalue("s3_remote")
    return url, {**settings, "part_size": "5MiB", "jobs": 4}


def _gcs(request, tmp_path):
    url, settings = request.getfixturevalue("gcs_remote")
    return url, {**settings, "chunk_size": "1MiB", "jobs": 4}


def _azure(request, tmp_path):
    url, settings = request.getfixturevalue("azure_remote")
    return url, {**settings, "block_size": "1MiB", "jobs": 4}


def _ssh(request, tmp_path):
    url, settings = request.getfixturevalue("ssh_remote")
    return url, {**settings, "part_size": "1MiB", "jobs": 3}


# name -> (make remote, size of an object above the backend's multipart threshold)
REMOTES = {
    "local": (_local, 3 * MiB + 17),
    "s3": (_s3, 11 * MiB + 17),      # three parts of 5 MiB
    "gcs": (_gcs, 9 * MiB + 17),     # resumable above 8 MiB: ten chunks of 1 MiB; ranged parallel download
    "azure": (_azure, 5 * MiB + 17),  # six staged blocks of 1 MiB; ranged parallel download
    "ssh": (_ssh, 5 * MiB + 17),      # six ranges of 1 MiB over three connections, each way
}


def _http(request, tmp_path):
    url, settings, folder = request.getfixturevalue("http_remote")
    return url, settings, open_backend(folder, {"fsync": False})


# name -> (make (url, settings, publisher), size of a "large" object)
READ_ONLY = {
    "http": (_http, 3 * MiB + 17),
}


@pytest.fixture(params=sorted(REMOTES))
def remote(request, tmp_path):
    make, large = REMOTES[request.param]
    url, settings = make(request, tmp_path)
    backend = open_backend(url, settings)
    backend.large_size = large
    yield backend
    backend.close()


@pytest.fixture(params=sorted(REMOTES) + sorted(READ_ONLY))
def readable(request, tmp_path):
    """Every remote, the read-only ones included; `put` writes through `.publisher` where there is one."""
    if request.param in READ_ONLY:
        make, large = READ_ONLY[request.param]
        url, settings, publisher = make(request, tmp_path)
    else:
        make, large = REMOTES[request.param]
        (url, settings), publisher = make(request, tmp_path), None
    backend = open_backend(url, settings)
    backend.large_size = large
    backend.publisher = publisher
    yield backend
    backend.close()


def put(remote, key: str, data: bytes, tmp_path, progress=None) -> None:
    src = tmp_path / f"src-{hashlib.sha256(data).hexdigest()[:16]}-{threading.get_ident()}"
    src.write_bytes(data)
    (getattr(remote, "publisher", None) or remote).upload(key, str(src), len(data), progress)


def get(remote, key: str, tmp_path, progress=None) -> bytes:
    dst = tmp_path / f"dst-{threading.get_ident()}-{os.urandom(4).hex()}"
    dst.write_bytes(b"")
    digest = remote.download(key, str(dst), progress)
    data = dst.read_bytes()
    assert digest in (None, hashlib.sha256(data).hexdigest())
    return data


def okey(data: bytes) -> str:
    return object_key(hashlib.sha256(data).hexdigest())


class Counter:
    def __init__(self):
        self.total = 0
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self.lock:
            self.total += n
            self.calls += 1


def test_absent_key(readable, tmp_path):
    remote = readable
    key = object_key("0" * 64)
    assert remote.stat(key) is None
    assert remote.exists_many([key]) == set()
    assert remote.exists_many([]) == set()
    with pytest.raises(KeyNotFound):
        get(remote, key, tmp_path)
    with pytest.raises(KeyNotFound):
        remote.read_range(key, 0, 10)
    with pytest.raises(KeyNotFound):
        remote.read_range(key, 0, 0)
    if remote.read_only:
        with pytest.raises(ReadOnlyRemote):
            remote.delete(key)
        (tmp_path / "x").write_bytes(b"x")
        with pytest.raises(ReadOnlyRemote):
            remote.upload(key, str(tmp_path / "x"), 1)
        with pytest.raises(RemoteError):
            list(remote.list())
        return
    remote.delete(key)  # deleting what is not there is not an error
    assert list(remote.list()) == []


def test_small_roundtrip(readable, tmp_path):
    remote = readable
    data = seeded_bytes(0, 1000)
    key = okey(data)
    put(remote, key, data, tmp_path)
    assert remote.stat(key) == 1000
    assert remote.exists_many([key, object_key("f" * 64)]) == {key}
    assert get(remote, key, tmp_path) == data
    assert list(remote.list() if remote.can_list else remote.publisher.list()) == [(key, 1000)]
    assert oid_from_key(key) == hashlib.sha256(data).hexdigest()


def test_empty_object(readable, tmp_path):
    remote = readable
    put(remote, "misc/empty", b"", tmp_path)
    assert remote.stat("misc/empty") == 0
    assert get(remote, "misc/empty", tmp_path) == b""
    assert remote.read_range("misc/empty", 0, 0) == b""
    assert remote.read_range("misc/empty", 0, 10) == b""


def test_large_object_above_multipart_threshold(readable, tmp_path):
    remote = readable
    data = seeded_bytes(1, remote.large_size)
    key = okey(data)
    up, down = Counter(), Counter()
    put(remote, key, data, tmp_path, up)
    assert up.total == len(data)
    assert remote.stat(key) == len(data)
    assert get(remote, key, tmp_path, down) == data
    assert down.total == len(data)
    # a range that straddles the part and chunk boundaries
    start = 5 * MiB - 100 if len(data) > 6 * MiB else MiB - 100
    assert remote.read_range(key, start, 300) == data[start:start + 300]


def test_s3_large_object_is_multipart(s3_remote, tmp_path):
    import boto3

    url, settings = s3_remote
    backend = open_backend(url, {**settings, "part_size": "5MiB"})
    data = seeded_bytes(2, 11 * MiB)
    put(backend, "big", data, tmp_path)
    bucket, _, prefix = url[len("s3://"):].partition("/")
    head = boto3.client("s3", endpoint_url=settings["endpoint_url"]).head_object(Bucket=bucket, Key=f"{prefix}/big")
    assert head["ETag"].strip('"').endswith("-3")  # three parts


def test_s3_store_that_ignores_range_headers(s3_remote, tmp_path, monkeypatch):
    """Some S3-compatible stores answer a ranged GET with the whole object: the range is cut out here."""
    import mmap

    from gitmodels.remotes.base import READ_SLACK

    url, settings = s3_remote
    backend = open_backend(url, settings, retry=False)
    data = seeded_bytes(5, 10000)
    put(backend, "misc/r", data, tmp_path)
    real_client = backend.client

    class IgnoresRange:
        def __init__(self, client):
            self.client = client

        def __getattr__(self, name):
            return getattr(self.client, name)

        def get_object(self, **kwargs):
            kwargs.pop("Range", None)
            response = self.client.get_object(**kwargs)
            response.pop("ContentRange", None)
            return response

    monkeypatch.setattr(backend, "client", lambda: IgnoresRange(real_client()))
    assert backend.read_range("misc/r", 100, 50) == data[100:150]
    buf = memoryview(mmap.mmap(-1, 4096 + READ_SLACK))
    assert bytes(backend.read_range_into("misc/r", 100, 50, buf)) == data[100:150]


def test_read_range(readable, tmp_path):
    remote = readable
    data = seeded_bytes(3, 5000)
    put(remote, "misc/r", data, tmp_path)
    assert remote.read_range("misc/r", 0, 10) == data[:10]
    assert remote.read_range("misc/r", 4990, 10) == data[4990:]
    assert remote.read_range("misc/r", 4995, 100) == data[4995:]  # short at the end
    assert remote.read_range("misc/r", 5000, 10) == b""            # at the end
    assert remote.read_range("misc/r", 9000, 10) == b""            # past it
    assert remote.read_range("misc/r", 123, 0) == b""


def test_read_range_into_a_reused_buffer(readable, tmp_path):
    """Rebuilds read ranges into one set of page-aligned buffers (straight from disk where the backend can)."""
    remote = readable
    import mmap

    from gitmodels.remotes.base import READ_SLACK

    data = seeded_bytes(4, 3 * 4096 + 700)
    put(remote, "misc/r", data, tmp_path)
    buf = memoryview(mmap.mmap(-1, 4096 + READ_SLACK))
    for offset, length in [(0, 4096), (100, 4096), (4095, 2), (3 * 4096, 4096), (len(data) - 5, 10),
                           (len(data), 10), (7, 0)]:
        assert bytes(remote.read_range_into("misc/r", offset, length, buf)) == data[offset:offset + length]
        buf[:] = bytes(len(buf))  # nothing may survive from the previous read
    with pytest.raises(KeyNotFound):
        remote.read_range_into("misc/absent", 0, 10, buf)


def test_overwrite_replaces(readable, tmp_path):
    remote = readable
    put(remote, "misc/k", b"first version", tmp_path)
    put(remote, "misc/k", b"second", tmp_path)
    assert remote.stat("misc/k") == 6
    assert get(remote, "misc/k", tmp_path) == b"second"


def test_list_with_prefix(remote, tmp_path):
    keys = {}
    for i in range(6):
        data = seeded_bytes(10 + i, 100 + i)
        keys[okey(data)] = len(data)
        put(remote, okey(data), data, tmp_path)
    put(remote, "packs/p1", b"pack", tmp_path)
    listed = dict(remote.list())
    assert listed == {**keys, "packs/p1": 4}
    assert dict(remote.list("objects/")) == keys
    assert dict(remote.list("packs/")) == {"packs/p1": 4}
    assert dict(remote.list("nothing/")) == {}
    some = sorted(keys)[0]
    folder = some.rsplit("/", 1)[0] + "/"
    assert dict(remote.list(folder)) == {k: s for k, s in keys.items() if k.startswith(folder)}
    assert dict(remote.list("objects/" + some.split("/")[1][0])) == \
        {k: s for k, s in keys.items() if k.startswith("objects/" + some.split("/")[1][0])}


def test_remote_prefix_isolates(remote, tmp_path):
    """Two remotes under sibling prefixes (one bucket, or two folders side by side) do not see each other's keys."""
    if remote.scheme in ("file", "ssh"):  # a directory (also one reached over ssh) must exist before it is used
        os.mkdir(urlsplit(remote.url).path + "-sibling")
    sibling = open_backend(remote.url + "-sibling", remote.settings)
    put(remote, "misc/a", b"a", tmp_path)
    assert sibling.stat("misc/a") is None
    assert list(sibling.list()) == []
    assert [k for k, _ in remote.list()] == ["misc/a"]


@pytest.mark.parametrize("page", [1000, 2])
def test_exists_many_in_batches(readable, tmp_path, monkeypatch, page):
    remote = readable
    monkeypatch.setattr(_cloud, "PAGE", page)  # page=2: listings span pages and hit their budget
    present = []
    for i in range(14):
        data = seeded_bytes(100 + i, 10)
        # put most of them in one fan-out folder so the listing path is taken
        key = f"objects/aa/{hashlib.sha256(data).hexdigest()}" if i < 10 else okey(data)
        present.append(key)
        put(remote, key, data, tmp_path)
    absent = [f"objects/aa/{i:064x}" for i in range(8)] + [object_key(f"{i:064x}"[::-1]) for i in range(8)]
    asked = present + absent + [present[0]]
    assert remote.exists_many(asked, jobs=4) == set(present)
    assert remote.exists_many(absent) == set()
    assert remote.exists_many(present[:3]) == set(present[:3])


@pytest.mark.parametrize("page", [1000, 3])
def test_exists_many_large_batch(readable, tmp_path, monkeypatch, page):
    """A batch big enough to try one listing of the whole remote first (page=3: that listing runs out of budget)."""
    remote = readable
    monkeypatch.setattr(_cloud, "PAGE", page)
    monkeypatch.setattr(_cloud, "BULK_KEYS_PER_PAGE", 40)
    datas = [seeded_bytes(300 + i, 10) for i in range(24)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda d: put(remote, okey(d), d, tmp_path), datas))
    put(remote, "packs/p1", b"not an object", tmp_path)
    present = {okey(d) for d in datas}
    absent = {object_key(hashlib.sha256(f"absent {i}".encode()).hexdigest()) for i in range(60)}
    assert remote.exists_many(sorted(present | absent), jobs=4) == present
    assert remote.exists_many(sorted(absent)) == set()
    assert remote.exists_many(sorted(present | absent | {"packs/p1"})) == present | {"packs/p1"}


def test_delete(remote, tmp_path):
    put(remote, "misc/d", b"bytes", tmp_path)
    remote.delete("misc/d")
    assert remote.stat("misc/d") is None
    with pytest.raises(KeyNotFound):
        get(remote, "misc/d", tmp_path)
    remote.delete("misc/d")


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../up", "a/../b", "a/./b", "a/"])
def test_unsafe_keys_refused(readable, tmp_path, key):
    remote = readable
    with pytest.raises(RemoteError):
        remote.stat(key)
    with pytest.raises(RemoteError):
        put(remote, key, b"x", tmp_path)


def test_concurrent_uploads_of_one_key(remote, tmp_path):
    """Many clones pushing the same object at once: the result is that object, whole."""
    data = seeded_bytes(4, remote.large_size)
    key = okey(data)
    src = tmp_path / "src"
    src.write_bytes(data)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: remote.upload(key, str(src), len(data)), range(4)))
    assert remote.stat(key) == len(data)
    assert get(remote, key, tmp_path) == data
    assert [k for k, _ in remote.list()] == [key]


def test_many_objects_from_threads(readable, tmp_path):
    """One backend shared by the transfer engine's threads."""
    remote = readable
    datas = [seeded_bytes(200 + i, 2000 + i) for i in range(24)]

    def roundtrip(data: bytes) -> bytes:
        put(remote, okey(data), data, tmp_path)
        return get(remote, okey(data), tmp_path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(roundtrip, datas)) == datas
    assert remote.exists_many([okey(d) for d in datas]) == {okey(d) for d in datas}


def test_upload_is_atomic(remote, tmp_path):
    """While a large upload is under way, readers see no object at all, never part of one."""
    data = seeded_bytes(5, remote.large_size)
    key = okey(data)
    midway, resume = threading.Event(), threading.Event()
    seen: dict = {}

    def progress(n: int) -> None:
        if not midway.is_set():
            midway.set()
            resume.wait(timeout=60)

    src = tmp_path / "src"
    src.write_bytes(data)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upload = pool.submit(remote.upload, key, str(src), len(data), progress)
        try:
            assert midway.wait(timeout=60)
            seen["stat"] = remote.stat(key)
            seen["listed"] = list(remote.list())
            seen["exists"] = remote.exists_many([key])
        finally:
            resume.set()
        upload.result()
    assert seen == {"stat": None, "listed": [], "exists": set()}
    assert get(remote, key, tmp_path) == data
