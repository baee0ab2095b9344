"""Moving objects between the cache and a remote: plan what is missing, move it in parallel.

Uploads skip what the remote is known (or found) to hold; downloads are hashed
before they enter the cache, so a damaged remote object is reported by its key
and never used. Running a push or fetch again moves only what is still missing.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable

from gitmodels.storage import manifest as manifest_mod
from gitmodels.config import DEFAULTS
from gitmodels.errors import (AccessDenied, BucketMissing, CredentialsError, GitModelsError, ObjectMissing, ReadOnlyRemote, RemoteUnreachable)
from gitmodels.remotes.base import Backend, KeyNotFound, object_key
from gitmodels.workspace.spares import Spares
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import Store

Progress = Callable[[int], None]
FATAL = (RemoteUnreachable, AccessDenied, CredentialsError, BucketMissing)


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


class Transfer:
    def __init__(self, store: Store, backend: Backend, state: StatCache, remote_id: str, *, jobs: int = 8,
                 chunk_threshold: int | None = DEFAULTS["core"]["chunk_threshold"]):
        """`chunk_threshold`: objects this large are pushed as chunks (None: no chunk dedup at all)."""
        self.store = store
        self.backend = backend
        self.state = state
        self.remote_id = remote_id
        self.jobs = max(1, jobs)
        self.chunking = chunk_threshold is not None
        self.chunk_threshold = chunk_threshold

    # -- what the remote holds ----------------------------------------------------------

    def remote_missing(self, oids: Iterable[str], trust_known: bool = True) -> set[str]:
        oids = set(oids)
        known = self.state.remote_known(self.remote_id, oids) if trust_known else set()
        ask = sorted(oids - known)
        if not ask:
            return set()
        present = self._remote_has(ask)
        self.state.remote_add(self.remote_id, present)
        return set(ask) - present

    def _remote_has(self, oids: list[str]) -> set[str]:
        keys = {object_key(o): o for o in oids}
        present = {keys[k] for k in self.backend.exists_many(list(keys), self.jobs)}
        if self.chunking and len(present) < len(oids):
            chunking = _chunking()
            if chunking is not None:
                rest = [o for o in oids if o not in present]
                present |= set(chunking.remote_has_objects(self.backend, rest))
        return present

    # -- push -------------------------------------------------------------------------

    def push(self, oids: Iterable[str], progress: Progress | None = None,
             on_total: Callable[[int, int], None] | None = None) -> TransferResult:
        oids = set(oids)
        result = TransferResult(objects=len(oids))
        absent = [o for o in oids if not self.store.has(o)]
        if absent:
            raise ObjectMissing(f"{len(absent)} object(s) to push are not in the cache (first: {absent[0][:12]})",
                                "run `gitmodels fetch` from a remote that has them, or `gitmodels add` the model again")
        todo = sorted(self.remote_missing(oids))
        if todo and self.backend.read_only:  # checked after the lookup: a push of what is published already is a no-op
            raise ReadOnlyRemote(f"cannot push {len(todo)} object(s) to remote {self.backend.describe()}: "
                                 "an HTTP(S) remote is read-only")
        sizes = {o: self.store.size(o) or 0 for o in todo}
        if on_total:
            on_total(len(todo), sum(sizes.values()))

        def upload(oid: str) -> int:
            path = self.store.path(oid)
            chunking = _chunking() if self.chunking else None
            if chunking is not None and chunking.should_chunk(sizes[oid], self.chunk_threshold):
                trusted = self.state.known_oid(path, os.stat(path)) == oid  # unchanged since verified
                stats = chunking.upload_object(self.backend, self._chunk_state(), oid, path, sizes[oid], progress,
                                               trusted=trusted)
                return stats.bytes_sent
            self.backend.upload(object_key(oid), path, sizes[oid], progress)
            return sizes[oid]

        # Manifests last: a remote never lists a directory whose files it lacks.
        for batch in _files_then_manifests(self.store, todo):
            self._run(batch, upload, sizes, result, remember=True)
            if result.failed:
                break
        return result

    # -- fetch ------------------------------------------------------------------------

    def fetch(self, oids: Iterable[str], progress: Progress | None = None,
              on_total: Callable[[int, int], None] | None = None, sizes: dict[str, int] | None = None,
              spares: Spares | None = None) -> TransferResult:
        """Download what the cache lacks. With `spares` (the objects are about to be checked
        out), large ones are also written as workspace-ready spare copies in the same pass."""
        oids = set(oids)
        todo = sorted(o for o in oids if not self.store.has(o))
        result = TransferResult(objects=len(oids))
        sizes = {o: (sizes or {}).get(o, 0) for o in todo}
        if on_total:
            on_total(len(todo), sum(sizes.values()))

        chunking = _chunking() if self.chunking else None

        def download(oid: str) -> int:
            key = object_key(oid)
            sent = [0]
            copy_to = spares.start(sizes.get(oid, 0)) if spares is not None else None

            def from_recipe(tmp: str) -> bool:
                stats = chunking.download_object(self.backend, self._chunk_state(), oid, tmp, self.store.root,
                                                 progress, fsync=False,  # the store syncs once per command
                                                 copy_to=copy_to)
                if stats is not None:
                    sent[0] = stats.bytes_downloaded
                return stats is not None

            def fill(tmp: str) -> str | None:
                # Large objects are looked for as chunk recipes first; small ones as whole
                # objects first, so many small models cost one request each.
                recipe_first = chunking is not None and sizes.get(oid, 0) >= self.chunk_threshold
                if recipe_first and from_recipe(tmp):
                    return oid  # rebuilt and verified against oid while streaming
                try:
                    digest = self.backend.download(key, tmp, progress,
                                                   copy_to if self.backend.can_copy_to else None)
                except KeyNotFound:
                    if chunking is not None and not recipe_first and from_recipe(tmp):
                        return oid
                    raise
                sent[0] = os.path.getsize(tmp)
                return digest

            try:
                self.store.ingest(oid, fill, where=f"{self.backend.describe()}/{key}")
            except BaseException:
                if copy_to:
                    Spares.drop(copy_to)
                raise
            if copy_to:
                spares.adopt(copy_to, oid)
            path = self.store.path(oid)
            self.state.record(path, os.stat(path), oid)  # verified just now: checkout may trust it
            self.state.remote_add(self.remote_id, [oid])
            return sent[0]

        self._run(todo, download, sizes, result)
        self.store.sync()
        return result

    def _run(self, oids: list[str], fn: Callable[[str], int], sizes: dict[str, int], result: TransferResult,
             remember: bool = False) -> None:
        if not oids:
            return
        done = []
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(oids))) as pool:
            futures = {pool.submit(fn, oid): oid for oid in oids}
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

    def _chunk_state(self) -> str:
        return self.store.chunk_dir


def _files_then_manifests(store: Store, oids: list[str]) -> list[list[str]]:
    manifests = [o for o in oids if manifest_mod.looks_like_manifest(store.path(o))]
    files = [o for o in oids if o not in set(manifests)]
    return [b for b in (files, manifests) if b]


_CHUNKING: list = []


def _chunking():
    """The dedup engine (imported on first use). Uploads also need its chunker: see should_chunk."""
    if not _CHUNKING:
        from gitmodels import chunking

        _CHUNKING.append(chunking)
    return _CHUNKING[0]


def manifest_entries(store: Store, oid: str) -> list[manifest_mod.Entry]:
    return list(manifest_mod.parse(store.read_bytes(oid), f"manifest {oid[:12]}").entries)
