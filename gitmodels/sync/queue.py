"""The one transfer queue: what a push or fetch moves, decided once, moved once.

A push asks the remote once what it holds (`remote_missing`: one existence
question per object and key kind, none for objects this clone already saw
there), then uploads the rest, files before manifests so a remote never lists
a directory whose files it lacks. The small files of a directory are never
asked about one by one: they travel in its bundle, a few packs and one recipe
(gitmodels.chunking.bundle, docs/storage.md). A fetch downloads what the cache
lacks (a directory's small files by large reads of its bundle's packs) and
hashes every byte before it enters the cache. Either one runs on one budget of
`jobs` workers: the objects moving at once share it, and a chunked object's
own pools (pack uploads, ranged reads) get its share, never a budget of their
own. A fatal remote error (unreachable, access denied, no bucket) stops the
whole operation at once; any other failure is reported per object in the
`TransferResult`, and running the command again moves only what is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from gitmodels.config import DEFAULTS
from gitmodels.errors import (AccessDenied, BucketMissing, CorruptObject, CredentialsError, GitModelsError,
                              ObjectMissing, ReadOnlyRemote, RemoteUnreachable)
from gitmodels.remotes.base import Backend, KeyNotFound, Progress
from gitmodels.storage.manifest import Entry
from gitmodels.storage.objects import bundle_name, is_manifest, object_key
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import SMALL_OBJECT, Store
from gitmodels.sync import pushlog
from gitmodels.sync.adapters import CHUNKED, WHOLE, choose

FATAL = (RemoteUnreachable, AccessDenied, CredentialsError, BucketMissing)
OnTotal = Callable[[int, int], None]  # (objects, bytes) about to move


@dataclasses.dataclass
class TransferResult:
    objects: int = 0          # objects the operation was about
    moved: int = 0            # objects actually transferred
    bytes_total: int = 0      # bytes of the objects moved
    bytes_sent: int = 0       # bytes that crossed the wire (less than total with chunk dedup)
    failed: list[tuple[str, GitModelsError]] = dataclasses.field(default_factory=list)  # (oid, why)

    def merge(self, other: "TransferResult") -> None:
        self.objects += other.objects
        self.moved += other.moved
        self.bytes_total += other.bytes_total
        self.bytes_sent += other.bytes_sent
        self.failed.extend(other.failed)


class SpareCopies(Protocol):
    """Workspace-ready second copies written during a fetch (gitmodels.workspace.spares.Spares)."""

    def start(self, size: int) -> str | None: ...

    def adopt(self, tmp: str, oid: str) -> None: ...

    def drop(self, spare: str) -> None: ...


class StagedFiles(Protocol):
    """Workspace files written from a directory's fetched bytes (gitmodels.workspace.dirs.Stage)."""

    def write(self, oid: str, data) -> None: ...


class TransferQueue:
    def __init__(self, store: Store, backend: Backend, state: StatCache, remote_id: str, *, jobs: int = 8,
                 chunk_threshold: int | None = DEFAULTS["core"]["chunk_threshold"], name: str | None = None,
                 pack_threshold: int = DEFAULTS["core"]["pack_threshold"]):
        """`jobs`: the worker budget of every push and fetch; `chunk_threshold`: objects this large
        move as chunks (None: chunking is off); `name`: the remote's name, for messages;
        `pack_threshold`: a directory's files smaller than this travel in its bundle (0: none)."""
        self.store = store
        self.backend = backend
        self.state = state
        self.remote_id = remote_id
        self.jobs = max(1, jobs)
        self.chunk_threshold = chunk_threshold
        self.name = name or backend.describe()
        self.pack_threshold = pack_threshold
        self._from_bundles: set[str] = set()  # put in the cache by fetch_dirs through this queue: no stat each
        if chunk_threshold is not None:
            # Imported here, once: the pool's threads importing the package at the same time can see it
            # half-initialised (ImportError from a concurrent push, found by tests/test_concurrency.py).
            import gitmodels.chunking  # noqa: F401

    @property
    def chunking(self) -> bool:
        return self.chunk_threshold is not None

    # -- what the remote holds ----------------------------------------------------------

    def remote_missing(self, oids: Iterable[str], trust_known: bool = True) -> set[str]:
        """The oids the remote cannot serve: the one existence pass of a push.

        Objects this clone already saw on the remote are not asked about
        (unless `trust_known` is False); the rest are asked under objects/,
        then (with chunking on) those not found there under recipes/: at most
        one question per object and key kind. What is found is remembered.
        """
        oids = set(oids)
        known = self.state.remote_known(self.remote_id, oids) if trust_known else set()
        ask = sorted(oids - known)
        if not ask:
            return set()
        present: set[str] = set()
        for adapter in (WHOLE, CHUNKED) if self.chunking else (WHOLE,):
            rest = [o for o in ask if o not in present]
            if rest:
                present |= self._present(rest, adapter.key)
        self.state.remote_add(self.remote_id, present)
        return set(ask) - present

    def _present(self, oids: list[str], key: Callable[[str], str]) -> set[str]:
        keys = {key(o): o for o in oids}
        return {keys[k] for k in self.backend.exists_many(list(keys), self.jobs)}

    # -- push -------------------------------------------------------------------------

    def push(self, oids: Iterable[str], progress: Progress | None = None,
             on_total: OnTotal | None = None, dirs: Mapping[str, Sequence[Entry]] | None = None) -> TransferResult:
        """Upload what the remote lacks of `oids`, files before manifests.

        `dirs` (manifest oid -> its entries; each manifest also in `oids`):
        the small files of a directory travel in its bundle (gitmodels.chunking.bundle),
        never asked about one by one; the larger ones must be in `oids`. A
        directory whose manifest the remote holds needs nothing more: manifests
        go last, so the remote has its files. An object the remote lacks and
        the cache does not hold is reported as failed, never guessed at.
        Raises ReadOnlyRemote when something must be uploaded to a read-only
        remote, and the fatal remote errors.
        """
        from gitmodels.chunking.bundle import packed_files

        oids = set(oids)
        bundles = {m: packed_files(entries, self.pack_threshold) for m, entries in (dirs or {}).items()}
        bundles = {m: files for m, files in bundles.items() if files}
        result = TransferResult(objects=len(oids) + len({o for files in bundles.values() for o, _ in files} - oids))
        if self.state.remote_known(self.remote_id, oids) != oids:
            # First, whenever the remote is asked at all: a remote gc spares what is in flight (docs/formats.md).
            pushlog.log_push(self.backend, self.store.tmp_dir, oids | {bundle_name(m) for m in bundles})
        missing = self.remote_missing(oids)
        bundles = {m: files for m, files in bundles.items() if m in missing and self.store.has(m)}
        todo = sorted(self.store.present(missing))
        absent = sorted(missing - set(todo))
        if (todo or bundles) and self.backend.read_only:  # after the lookup: pushing what is published is a no-op
            raise ReadOnlyRemote(f"cannot push {len(todo)} object(s) to remote {self.backend.describe()}: "
                                 "an HTTP(S) remote is read-only")
        sizes = {o: self.store.size(o) or 0 for o in todo}
        if on_total:
            packed = {o: s for files in bundles.values() for o, s in files}
            on_total(len(todo) + len(packed), sum(sizes.values()) + sum(packed.values()))

        def upload(oid: str, jobs: int) -> int:
            adapter = choose(sizes[oid], self.chunk_threshold)
            return adapter.push(self, oid, sizes[oid], progress, jobs)

        # Bundles and files first, manifests last: a remote never lists a directory whose files it lacks.
        if dirs:
            manifests = [o for o in todo if o in dirs]
        else:
            manifests = [o for o in todo if is_manifest(self.store.path(o))]
        files = [o for o in todo if o not in set(manifests)]
        unbundled = self._push_bundles(bundles, progress, result)
        for oid in sorted(unbundled):  # small files neither cached nor in a pack: on the remote as objects?
            if oid in self.remote_missing([oid]):
                result.failed.append((oid, ObjectMissing(
                    f"object {oid[:12]} is in neither the cache nor remote {self.name}",
                    "fetch it from a remote that has it, or add the model again")))
        for batch in (files, manifests):
            if result.failed:
                break
            self._run(batch, upload, sizes, result, remember=True)
        for oid in absent:
            result.failed.append((oid, ObjectMissing(f"object {oid[:12]} is in neither the cache nor remote {self.name}",
                                                     "fetch it from a remote that has it, or add the model again")))
        return result

    def _push_bundles(self, bundles: dict[str, list[tuple[str, int]]], progress: Progress | None,
                      result: TransferResult) -> set[str]:
        """Write the bundle of each directory; the small files left out of them (neither cached nor packed)."""
        from gitmodels.chunking.bundle import push_bundle

        left_out: set[str] = set()
        for manifest, files in bundles.items():
            try:
                stats = push_bundle(self.backend, self.store.chunk_dir, manifest, files, self.store.present,
                                    self.store.read_many, progress, jobs=self.jobs)
            except FATAL:
                raise
            except GitModelsError as exc:
                result.failed.append((bundle_name(manifest), exc))
                continue
            left_out.update(stats.left_out)
            result.moved += stats.files_new
            result.bytes_total += stats.bytes_new
            result.bytes_sent += stats.bytes_sent
        return left_out

    # -- fetch ------------------------------------------------------------------------

    def fetch(self, oids: Iterable[str], progress: Progress | None = None, on_total: OnTotal | None = None,
              sizes: dict[str, int] | None = None, spares: SpareCopies | None = None) -> TransferResult:
        """Download what the cache lacks of `oids` (no existence pass: a missing object is a failed
        download). With `spares` (the objects are about to be checked out), large ones are also
        written as workspace-ready copies in the same pass. `sizes` (from the pointers) choose
        how each object is looked for: a large one as chunks first."""
        oids = set(oids)
        asked = [o for o in oids if o not in self._from_bundles]
        todo = sorted(set(asked) - self.store.present(asked))  # loose or packed: a few queries, not one each
        result = TransferResult(objects=len(oids))
        sizes = {o: (sizes or {}).get(o, 0) for o in todo}
        if on_total:
            on_total(len(todo), sum(sizes.values()))

        def download(oid: str, jobs: int) -> int:
            key = object_key(oid)
            adapter = choose(sizes[oid], self.chunk_threshold, pushing=False)
            received = [0]
            copy_to = spares.start(sizes[oid]) if spares is not None else None

            def fill(tmp: str) -> str | None:
                digest, received[0] = adapter.fill(self, oid, tmp, progress, copy_to, jobs)
                return digest

            try:
                self.store.ingest(oid, fill, where=f"{self.backend.describe()}/{key}")
            except BaseException:
                if copy_to:
                    spares.drop(copy_to)
                raise
            if copy_to:
                spares.adopt(copy_to, oid)
            path = self.store.path(oid)
            self.state.record(path, os.stat(path), oid)  # verified just now: checkout may trust it
            self.state.remote_add(self.remote_id, [oid])
            return received[0]

        self._run(todo, download, sizes, result)
        self.store.sync()
        return result

    def fetch_dirs(self, dirs: Mapping[str, Sequence[Entry]], progress: Progress | None = None,
                   stages: Mapping[str, StagedFiles] | None = None) -> TransferResult:
        """Download the small files of these directories (manifest oid -> entries) from their bundles.

        Each byte is hashed and must match its oid before it becomes a cache
        object (a small one appended to a cache pack, a larger one written to a
        temp file and renamed into place; one store sync at the end). What a
        bundle does not cover (no bundle on a remote written before bundles,
        larger files, a pack gone) is left to `fetch`; the
        result lists only bundle files, `failed` those whose bytes were refused.
        `stages` (manifest oid -> dirs.Stage): the verified bytes are also written
        there as workspace files, for a checkout that follows.
        """
        from gitmodels.chunking.bundle import fetch_bundle

        result = TransferResult()
        where = f"{self.backend.describe()} (bundle)"

        def put(oid: str, data: memoryview) -> None:
            digest = hashlib.sha256(data).hexdigest()
            if digest != oid:  # as Store.ingest says it: bytes that do not match never enter the cache
                raise CorruptObject(f"corrupt object {oid[:12]} from {where}: its bytes hash to {digest[:12]}",
                                    "the copy on the remote is damaged; run `gitmodels fsck --remote` "
                                    "and push the object again from a clone that has it")
            # a small one appended to a pack, a larger one a file of its own; `need` holds only absent ones
            self.store.put_packed(oid, data, known_absent=True)
            if stage is not None:
                stage.write(oid, data)
            if len(data) >= SMALL_OBJECT:  # a smaller one is hashed again on each copy out of the cache
                path = self.store.path(oid)
                self.state.record(path, os.stat(path), oid)  # verified just now: checkout may trust it

        asked: set[str] = set()
        stage = None
        for manifest, entries in dirs.items():
            stage = (stages or {}).get(manifest)
            need = {e.oid: e.size for e in entries if e.size > 0 and e.oid not in asked}
            for oid in self.store.present(need):
                del need[oid]
            if not need:
                continue
            asked.update(need)
            got = fetch_bundle(self.backend, self.store.chunk_dir, manifest, need, put, progress, jobs=self.jobs)
            result.objects += len(got.done) + len(got.corrupt)
            result.moved += len(got.done)
            result.bytes_total += sum(need[o] for o in got.done)
            result.bytes_sent += got.bytes_read
            result.failed.extend(got.corrupt.items())
            self.state.remote_add(self.remote_id, got.done)
            self._from_bundles.update(got.done)
        self.store.sync()
        return result

    # -- the workers ------------------------------------------------------------------

    def share(self, count: int) -> tuple[int, int]:
        """(objects moved at once, workers each of them may use) for a batch of `count` objects:
        together never more than the budget."""
        at_once = max(1, min(self.jobs, count))
        return at_once, max(1, self.jobs // at_once)

    def _run(self, oids: list[str], fn: Callable[[str, int], int], sizes: dict[str, int], result: TransferResult,
             remember: bool = False) -> None:
        if not oids:
            return
        at_once, each = self.share(len(oids))
        done = []
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="gm-transfer") as pool:
            futures = {pool.submit(fn, oid, each): oid for oid in oids}
            for fut in as_completed(futures):
                oid = futures[fut]
                try:
                    sent = fut.result()
                except FATAL as exc:
                    # The remote itself is gone or refuses us: every other object would fail the same way.
                    pool.shutdown(wait=True, cancel_futures=True)
                    if remember:
                        self.state.remote_add(self.remote_id, done)
                    raise exc from None
                except KeyNotFound:
                    result.failed.append((oid, ObjectMissing(
                        f"object {oid[:12]} is not on remote {self.backend.describe()}",
                        "push it from a clone that has it (`gitmodels push`), then run this again")))
                except GitModelsError as exc:
                    result.failed.append((oid, exc))
                else:
                    done.append(oid)
                    result.moved += 1
                    result.bytes_total += sizes.get(oid) or (self.store.size(oid) or 0)
                    result.bytes_sent += sent
        if remember:
            self.state.remote_add(self.remote_id, done)
