"""The transfer queue: one existence pass, files before manifests, one worker budget, a fatal error stops all.

The remotes are real: a directory remote (with a few calls recorded or made to
fail, by subclassing it) and the moto S3 server on loopback, where the HEAD
requests about an object are counted on the wire.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from gitmodels.errors import RemoteUnreachable
from gitmodels.remotes.local import LocalBackend
from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage.objects import MANIFEST_MAGIC, object_key, recipe_key
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import Store
from gitmodels.sync.adapters import CHUNKED, WHOLE, choose
from gitmodels.sync.queue import TransferQueue
from tests.gitutil import gitmodels, model_bytes

MiB = 1024 * 1024


class Recording(LocalBackend):
    """A directory remote that records what it is asked, how many calls overlap, and can fail uploads."""

    def __init__(self, url: str, fail_upload_after: int | None = None, delay: float = 0.0):
        super().__init__(url)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.active = self.most_active = 0
        self.fail_upload_after = fail_upload_after
        self.delay = delay

    def _enter(self, name: str, key: str) -> None:
        with self.lock:
            self.calls.append((name, key))
            self.active += 1
            self.most_active = max(self.most_active, self.active)

    def _leave(self) -> None:
        with self.lock:
            self.active -= 1

    def stat(self, key):
        self._enter("stat", key)
        try:
            return super().stat(key)
        finally:
            self._leave()

    def upload(self, key, src, size, progress=None, movable=False):
        if key.startswith("log/"):  # the push log (docs/formats.md), not an object: tests/test_team_gc.py
            return super().upload(key, src, size, progress, movable)
        self._enter("upload", key)
        try:
            uploads = sum(1 for name, _ in self.calls if name == "upload")
            time.sleep(self.delay)
            if self.fail_upload_after is not None and uploads > self.fail_upload_after:
                raise RemoteUnreachable(f"{self.url} went away", "check the network")
            return super().upload(key, src, size, progress, movable)
        finally:
            self._leave()

    def uploaded(self) -> list[str]:
        return [key for name, key in self.calls if name == "upload"]


@pytest.fixture
def side(tmp_path):
    store = Store(str(tmp_path / "cache"))
    state = StatCache(str(tmp_path / "state.db"))
    (tmp_path / "remote").mkdir()
    yield store, state, str(tmp_path / "remote")
    state.close()


def queue(side, backend, **kwargs) -> TransferQueue:
    store, state, _ = side
    return TransferQueue(store, backend, state, backend.url, **kwargs)


def add_directory(store: Store, files: dict[str, bytes]) -> tuple[list[str], str]:
    """Cache a directory model: (file oids, manifest oid)."""
    oids = [store.add_bytes(data) for data in files.values()]
    entries = [manifest_mod.Entry(path, o, len(data)) for (path, data), o in zip(files.items(), oids)]
    return oids, store.add_bytes(manifest_mod.build(entries).dumps())


def test_files_go_before_manifests_and_the_result_counts_them(side):
    store, _, url = side
    files = {f"w/part-{i}.bin": model_bytes(f"part {i}", 10_000 + i) for i in range(5)}
    file_oids, manifest_oid = add_directory(store, files)
    backend = Recording(url)
    result = queue(side, backend, jobs=3).push(file_oids + [manifest_oid])

    uploaded = backend.uploaded()
    assert uploaded[-1] == object_key(manifest_oid) and len(uploaded) == 6
    assert result.objects == 6 and result.moved == 6 and not result.failed
    total = sum(len(d) for d in files.values()) + store.size(manifest_oid)
    assert result.bytes_total == total and result.bytes_sent == total

    again = queue(side, Recording(url), jobs=3).push(file_oids + [manifest_oid])
    assert (again.objects, again.moved, again.bytes_total, again.bytes_sent) == (6, 0, 0, 0)


def test_one_existence_question_per_object_and_key_kind(side):
    store, _, url = side
    small = store.add_bytes(model_bytes("small", 5000))
    backend = Recording(url)
    result = queue(side, backend, chunk_threshold=1 * MiB).push([small])
    assert result.moved == 1
    stats = [key for name, key in backend.calls if name == "stat"]
    assert sorted(stats) == sorted([object_key(small), recipe_key(small)])  # asked once under each kind

    # a second push: the object was seen on the remote, nothing is asked
    backend = Recording(url)
    assert queue(side, backend, chunk_threshold=1 * MiB).push([small]).moved == 0
    assert backend.calls == []

    # with chunking off, recipes are never asked about
    other = store.add_bytes(model_bytes("other", 5000))
    backend = Recording(url)
    queue(side, backend, chunk_threshold=None).push([other])
    assert [key for name, key in backend.calls if name == "stat"] == [object_key(other)]


def test_an_object_in_neither_the_cache_nor_the_remote_is_reported(side):
    store, _, url = side
    here = store.add_bytes(b"here")
    gone = hashlib.sha256(b"nowhere").hexdigest()
    result = queue(side, Recording(url), name="team").push([here, gone])
    assert result.moved == 1 and [oid for oid, _ in result.failed] == [gone]
    assert "neither the cache nor remote team" in str(result.failed[0][1])


def test_a_fatal_error_stops_the_whole_push(side):
    store, state, url = side
    files = {f"f{i}": model_bytes(f"fatal {i}", 4096) for i in range(12)}
    file_oids, manifest_oid = add_directory(store, files)
    backend = Recording(url, fail_upload_after=3, delay=0.05)
    with pytest.raises(RemoteUnreachable):
        queue(side, backend, jobs=2).push(file_oids + [manifest_oid])
    uploaded = backend.uploaded()
    assert object_key(manifest_oid) not in uploaded  # the manifest never goes after a failure
    # stopped: the 3 that went up, the failed call, and at most one call per worker started meanwhile
    assert len(uploaded) <= 3 + 1 + 2
    on_remote = [o for o in file_oids if LocalBackend(url).stat(object_key(o)) is not None]
    assert 3 == len(on_remote)
    assert set(state.remote_known(url, file_oids)) <= set(on_remote)  # remembered: only what did go up
    retry = Recording(url)
    result = queue(side, retry, jobs=2).push(file_oids + [manifest_oid])
    assert result.moved == 12 + 1 - 3 and not result.failed  # the next push resumes after what went up
    assert not set(retry.uploaded()) & {object_key(o) for o in on_remote}


def test_the_worker_budget_bounds_the_calls_in_flight(side):
    store, _, url = side
    oids = [store.add_bytes(model_bytes(f"many {i}", 2048)) for i in range(16)]
    backend = Recording(url, delay=0.02)
    assert queue(side, backend, jobs=3).push(oids).moved == 16
    assert 1 < backend.most_active <= 3


@pytest.mark.parametrize("jobs, count, expect", [(8, 1, (1, 8)), (8, 2, (2, 4)), (8, 3, (3, 2)), (8, 20, (8, 1)),
                                                 (4, 2, (2, 2)), (1, 5, (1, 1))])
def test_the_budget_is_shared_never_multiplied(side, jobs, count, expect):
    q = queue(side, LocalBackend(side[2]), jobs=jobs)
    at_once, each = q.share(count)
    assert (at_once, each) == expect and at_once * each <= jobs


def test_chunked_objects_get_their_share_of_the_budget(side, monkeypatch):
    from gitmodels.chunking import available, upload

    if not available():
        pytest.skip("pyfastcdc's extension is not importable: chunked pushes are whole pushes here")
    store, _, url = side
    oids = [store.add_bytes(model_bytes(f"chunked {i}", 2 * MiB)) for i in range(2)]
    given: list[int] = []
    real = upload.upload_object

    def recording(*args, **kwargs):
        given.append(kwargs["jobs"])
        assert kwargs["recipe_checked"]  # the queue asked already: no second look at the recipe
        return real(*args, **kwargs)

    monkeypatch.setattr(upload, "upload_object", recording)
    backend = Recording(url)
    result = queue(side, backend, jobs=4, chunk_threshold=1 * MiB).push(oids)
    assert result.moved == 2 and given == [2, 2]
    assert all(key.startswith(("packs/", "recipes/")) for key in backend.uploaded())
    assert sorted(key for name, key in backend.calls if name == "stat" and key.startswith("recipes/")) == \
        sorted(recipe_key(o) for o in oids)  # one question each, in the existence pass

    # a fetch into an empty cache rebuilds them from the recipes, on the same budget
    other = Store(str(side[0].root) + "-other")
    fetched = TransferQueue(other, LocalBackend(url), side[1], url, jobs=4, chunk_threshold=1 * MiB).fetch(
        oids, sizes={o: 2 * MiB for o in oids})
    assert fetched.moved == 2 and all(other.verify(o) for o in oids)


def test_choose_is_the_only_chunk_decision():
    from gitmodels.chunking import available

    assert choose(10 * MiB, 8 * MiB) is (CHUNKED if available() else WHOLE)
    assert choose(10 * MiB, 8 * MiB, pushing=False) is CHUNKED  # reading chunks never needs the chunker
    assert choose(1 * MiB, 8 * MiB) is WHOLE
    assert choose(10 ** 12, None) is WHOLE
    assert MANIFEST_MAGIC == manifest_mod.build([]).dumps()[:len(MANIFEST_MAGIC)]


def test_one_push_of_a_new_20_mib_model_heads_s3_at_most_twice_about_it(s3_remote, repo, s3_requests):
    """Counted on the wire against moto: HEAD requests naming the object, for one push and for a second one."""
    from gitmodels.repo import Repo

    url, settings = s3_remote
    gitmodels(repo, "remote", "add", "cloud", url, "--default", "--local", "-s",
              f"endpoint_url={settings['endpoint_url']}")
    data = model_bytes("s3 model", 20 * MiB)
    oid = hashlib.sha256(data).hexdigest()
    (repo / "model.bin").write_bytes(data)
    gitmodels(repo, "add", "model.bin")

    sent = s3_requests
    with Repo(str(repo)) as r:
        first = r.push(progress=False)
    assert first.moved == 1 and not first.failed
    heads = [u for method, u in sent if method == "HEAD" and oid in u]
    assert 1 <= len(heads) <= 2, heads
    assert any(method == "PUT" and oid in u for method, u in sent)  # it was sent (as a recipe or whole)

    sent.clear()
    with Repo(str(repo)) as r:
        second = r.push(progress=False)
    assert second.moved == 0 and not second.failed
    assert sent == []  # the object was seen there by the first push: nothing is asked


def _imports(folder: str) -> set[str]:
    import ast
    from pathlib import Path

    import gitmodels

    names = set()
    for path in (Path(gitmodels.__file__).parent / folder).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("gitmodels")}


def test_sync_and_storage_import_only_what_lies_below_them():
    assert not [n for n in _imports("sync") if n.startswith(("gitmodels.git", "gitmodels.hooks", "gitmodels.cli",
                                                             "gitmodels.workspace"))]
    # the object layout is storage's own: storage asks nothing of remotes, sync, chunking or git
    assert not [n for n in _imports("storage") if n.startswith(("gitmodels.remotes", "gitmodels.sync",
                                                                "gitmodels.chunking", "gitmodels.git"))]
