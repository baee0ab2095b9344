"""Rebuild one object from its recipe: chunks from the local cache, the rest by ranged pack reads."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import mmap
import os
import queue
import threading
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Union

from gitmodels.storage import fileio
from gitmodels.errors import CorruptObject, ObjectMissing
from gitmodels.remotes.base import READ_SLACK, Backend, KeyNotFound, Progress
from gitmodels.storage.objects import cache_path, pack_key, recipe_key
from gitmodels.chunking.cdc import ChunkList
from gitmodels.chunking.formats import Recipe, RecipeChunk
from gitmodels.chunking.remote import fetch_recipe
from gitmodels.chunking.index import ChunkIndex, open_index

MAX_RANGE = 4 * 1024 * 1024  # largest ranged read; with `jobs`, bounds the memory in flight
MAX_GAP = 64 * 1024  # read through a gap this small rather than make a second request
MAX_IN_FLIGHT = 16 * 1024 * 1024  # bytes handed to the writer threads and not yet written
RANGES_IN_FLIGHT = 4  # ranged reads of one rebuild at once; with MAX_RANGE, bounds its buffers
RECIPE_CHUNKER = "recipe"  # chunk lists learnt from a recipe, not computed here


@dataclasses.dataclass(frozen=True)
class DownloadStats:
    oid: str
    bytes_total: int  # the object's size
    bytes_fetched: int  # bytes read from packs on the remote (gaps read through included)
    bytes_local: int  # bytes taken from other objects in the local cache
    bytes_repeated: int  # bytes copied from earlier in the same file (a chunk that occurs twice)
    recipe_bytes: int
    chunks_total: int
    chunks_fetched: int
    requests: int  # ranged reads of packs
    local_fallbacks: int = 0  # cached chunks that failed their hash check and were fetched instead

    @property
    def bytes_downloaded(self) -> int:
        return self.bytes_fetched + self.recipe_bytes


@dataclasses.dataclass
class _Remote:
    pack_id: str
    start: int
    end: int
    items: list[tuple[int, RecipeChunk]]  # (offset in the file, chunk)


@dataclasses.dataclass
class _Local:
    path: str
    start: int
    end: int
    items: list[tuple[int, RecipeChunk]]


@dataclasses.dataclass
class _Repeat:
    src: int  # offset in the file being written
    length: int


_Segment = Union[_Remote, _Local, _Repeat]


class _Rebuild:
    def __init__(self, backend: Backend, oid: str, recipe: Recipe, jobs: int, trusting: bool = True):
        self.backend = backend
        self.trusting = trusting
        self.oid = oid
        self.recipe = recipe
        self.jobs = max(1, jobs)
        self.lock = threading.Lock()
        self.fetched = 0
        self.requests = 0
        self.chunks_fetched = 0
        self.fallbacks = 0
        self.fallback_bytes = 0

    def plan(self, state: ChunkIndex, cache_root: str | os.PathLike | None) -> list[_Segment]:
        sources: dict[bytes, tuple[str, int]] = {}
        if cache_root is not None:
            found = state.local_sources((c.chunk_id for c in self.recipe.chunks), exclude=self.oid)
            exists: dict[str, str | None] = {}
            for chunk_id, places in found.items():
                for src_oid, offset in places:
                    if src_oid not in exists:
                        path = cache_path(cache_root, src_oid)
                        exists[src_oid] = path if os.path.isfile(path) else None
                    if exists[src_oid]:
                        sources[chunk_id] = (exists[src_oid], offset)
                        break
        segments: list[_Segment] = []
        written: dict[bytes, int] = {}
        for pos, chunk in self.recipe.iter_offsets():
            last = segments[-1] if segments else None
            if chunk.chunk_id in written:
                segments.append(_Repeat(written[chunk.chunk_id], chunk.length))
                continue
            written[chunk.chunk_id] = pos
            local = sources.get(chunk.chunk_id)
            if local:
                path, offset = local
                if (isinstance(last, _Local) and last.path == path and last.end == offset
                        and offset + chunk.length - last.start <= MAX_RANGE):
                    last.end += chunk.length
                    last.items.append((pos, chunk))
                else:
                    segments.append(_Local(path, offset, offset + chunk.length, [(pos, chunk)]))
            else:
                if (isinstance(last, _Remote) and last.pack_id == chunk.pack_id
                        and last.end <= chunk.offset <= last.end + MAX_GAP
                        and chunk.offset + chunk.length - last.start <= MAX_RANGE):
                    last.end = chunk.offset + chunk.length
                    last.items.append((pos, chunk))
                else:
                    segments.append(_Remote(chunk.pack_id, chunk.offset, chunk.offset + chunk.length,
                                            [(pos, chunk)]))
        return segments

    # -- workers: each returns the segment's bytes as pieces, every chunk checked --

    def _read_range(self, pack_id: str, start: int, end: int, buf: mmap.mmap | None = None) -> memoryview:
        """The pack's bytes [start, end): read into `buf` when given, else into new memory."""
        key = pack_key(pack_id)
        try:
            if buf is None:
                data = memoryview(self.backend.read_range(key, start, end - start))
            else:
                data = self.backend.read_range_into(key, start, end - start, memoryview(buf))
        except KeyNotFound:
            raise ObjectMissing(f"pack {key} is missing from {self.backend.describe()}; "
                                f"{self.oid} cannot be rebuilt from it",
                                "push the model again from a clone that has it") from None
        with self.lock:
            self.fetched += len(data)
            self.requests += 1
        if len(data) != end - start:
            raise CorruptObject(f"pack {key} on {self.backend.describe()} is shorter than recipe "
                                f"{recipe_key(self.oid)} says", "run `gitmodels fsck --remote`")
        return data

    def _remote(self, seg: _Remote, buf: mmap.mmap | None = None) -> list[memoryview]:
        data = self._read_range(seg.pack_id, seg.start, seg.end, buf)
        pieces: list[memoryview] = []
        run_start = run_end = -1
        sha = hashlib.sha256
        for _pos, chunk in seg.items:
            lo = chunk.offset - seg.start
            view = data[lo:lo + chunk.length]
            if not self.trusting and sha(view).digest() != chunk.chunk_id:
                raise CorruptObject(
                    f"chunk {chunk.chunk_id.hex()} at offset {chunk.offset} of pack {pack_key(seg.pack_id)} "
                    f"on {self.backend.describe()} is corrupt (needed by {self.oid})",
                    "run `gitmodels fsck --remote` to list the models affected; push them again from a clone "
                    "that has them")
            if lo == run_end:
                run_end += chunk.length
            else:
                if run_start >= 0:
                    pieces.append(data[run_start:run_end])
                run_start, run_end = lo, lo + chunk.length
        pieces.append(data[run_start:run_end])
        with self.lock:
            self.chunks_fetched += len(seg.items)
        return pieces

    def _local(self, seg: _Local, buf: mmap.mmap) -> list[memoryview]:
        try:
            with fileio.DirectReader(seg.path) as f:
                data = f.read_into(seg.start, seg.end - seg.start, memoryview(buf))
        except OSError:
            data = memoryview(buf)[:0]
        if self.trusting and len(data) == seg.end - seg.start:
            return [data]  # cached objects were verified when they entered the cache; the oid check covers them
        pieces: list[memoryview] = []
        sha = hashlib.sha256
        lo = 0
        for _pos, chunk in seg.items:
            view = data[lo:lo + chunk.length]
            if len(view) == chunk.length and sha(view).digest() == chunk.chunk_id:
                pieces.append(view)
            else:  # the cached copy is gone or changed: fetch this chunk instead
                with self.lock:
                    self.fallbacks += 1
                    self.fallback_bytes += chunk.length
                pieces.extend(self._remote(_Remote(chunk.pack_id, chunk.offset, chunk.offset + chunk.length,
                                                   [(_pos, chunk)])))
            lo += chunk.length
        return pieces

    def _with_buffer(self, read, seg: _Segment, free: queue.Queue) -> tuple[list[memoryview], mmap.mmap]:
        buf = free.get()
        try:
            return read(seg, buf), buf
        except BaseException:
            free.put(buf)
            raise

    def run(self, segments: list[_Segment], out: fileio.StagedDirectFile, progress: Progress | None,
            copy=None) -> tuple[str, int, int, int]:
        """Write every segment to `out` (and `copy`) in order; (hex SHA-256, bytes written, local bytes,
        repeated bytes)."""
        digest = hashlib.sha256()
        written = local = repeated = 0
        window = 2 * self.jobs
        # Ranges are read into a fixed set of buffers, each back in the pool once its bytes are
        # written: new memory for every range cost more in page faults than the copy itself.
        # Enough for every segment in the window plus those held by queued writes, so a reader
        # never waits on a buffer only the writing loop could free.
        held_max = MAX_IN_FLIGHT // MAX_RANGE
        free: queue.Queue = queue.Queue()
        for _ in range(window + held_max):
            free.put(mmap.mmap(-1, MAX_RANGE + READ_SLACK))
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="gm-rebuild") as pool, \
                ThreadPoolExecutor(1, thread_name_prefix="gm-rebuild-write") as writer, \
                ThreadPoolExecutor(1, thread_name_prefix="gm-rebuild-copy") as copier:
            # (write, bytes, None) or (None, 0, buffer to free once the writes before it are done)
            writes: deque[tuple[Future | None, int, mmap.mmap | None]] = deque()
            in_flight = held = 0
            pending: deque[tuple[_Segment, Future | None]] = deque()
            todo = iter(segments)

            def submit_next() -> bool:
                seg = next(todo, None)
                if seg is None:
                    return False
                if isinstance(seg, _Remote):
                    pending.append((seg, pool.submit(self._with_buffer, self._remote, seg, free)))
                elif isinstance(seg, _Local):
                    pending.append((seg, pool.submit(self._with_buffer, self._local, seg, free)))
                else:
                    pending.append((seg, None))
                return True

            def retire() -> None:
                nonlocal in_flight, held
                fut, n, buf = writes.popleft()
                if buf is None:
                    fut.result()
                    in_flight -= n
                else:
                    free.put(buf)
                    held -= 1

            try:
                while len(pending) < window and submit_next():
                    pass
                while pending:
                    seg, fut = pending.popleft()
                    buf = None
                    if fut is None:
                        while writes:  # the earlier copy must be on disk before it is read back
                            retire()
                        pieces = [memoryview(out.pread(seg.length, seg.src))]
                        repeated += seg.length
                    else:
                        pieces, buf = fut.result()
                    for piece in pieces:
                        # Hash here while a second thread writes: both release the GIL.
                        digest.update(piece)
                        writes.append((writer.submit(out.write, piece), len(piece), None))
                        in_flight += len(piece)
                        if copy is not None:  # its own thread: the page cache and the disk overlap
                            writes.append((copier.submit(fileio.write_sliced, copy, piece), 0, None))
                        while in_flight > MAX_IN_FLIGHT:  # bounds the memory held by queued writes
                            retire()
                        written += len(piece)
                        if isinstance(seg, _Local):
                            local += len(piece)
                        if progress:
                            progress(len(piece))
                    del pieces
                    if buf is not None:
                        writes.append((None, 0, buf))
                        held += 1
                        while held > held_max:
                            retire()
                    submit_next()
                while writes:
                    retire()
            finally:
                for _, fut in pending:
                    if fut is not None:
                        fut.cancel()
        return digest.hexdigest(), written, local - self.fallback_bytes, repeated


def download_object(backend: Backend, state_dir: str | os.PathLike, oid: str, dst_path: str | os.PathLike,
                    cache_root: str | os.PathLike | None = None, progress: Progress | None = None, *,
                    jobs: int = 8, fsync: bool = True, copy_to: str | None = None) -> DownloadStats | None:
    """Rebuild the object `oid` from its recipe on `backend` into `dst_path`.

    Returns None when the remote has no recipe for `oid` (the caller then
    downloads the whole object). Chunks found in other objects of the cache
    at `cache_root` are read from there; the rest come from packs, by ranged
    reads of adjacent chunks coalesced into one request. Every chunk is
    checked against its id and the whole file against `oid` while it is
    written; `dst_path` appears (atomically) only when all of it matches.
    With `copy_to`, a second copy is written there in the same pass.

    `jobs`: the workers this object may use (the transfer queue's share of
    its budget): reading pack indexes, and up to RANGES_IN_FLIGHT ranged reads.

    Raises CorruptObject naming the pack (or recipe) when bytes do not match,
    ObjectMissing when a pack the recipe names is gone, RemoteError when the
    remote fails. Nothing is left at `dst_path` on failure.
    """
    state = open_index(state_dir)
    found = fetch_recipe(backend, oid, state, jobs=jobs)
    if found is None:
        return None
    recipe, recipe_bytes = found
    dst_path = os.fspath(dst_path)
    # Chunks are first taken on trust (one SHA-256 pass over the file instead
    # of two: the whole file is checked against its oid anyway); only if that
    # fails does the rebuild run again checking each chunk, so a damaged pack
    # is named and a damaged cached chunk is fetched instead.
    runs: list[_Rebuild] = []
    for trusting in (True, False):
        job = _Rebuild(backend, oid, recipe, min(jobs, RANGES_IN_FLIGHT), trusting)
        runs.append(job)
        segments = job.plan(state, cache_root)
        try:
            with fileio.atomic_path(dst_path, fsync=fsync) as tmp, contextlib.ExitStack() as files:
                copy = files.enter_context(open(copy_to, "wb")) if copy_to else None
                with fileio.StagedDirectFile(tmp) as out:
                    hexdigest, written, local, repeated = job.run(segments, out, progress, copy)
                if written != recipe.size or hexdigest != oid:
                    raise _Mismatch(hexdigest)
        except _Mismatch as exc:
            if trusting:
                progress = _rewound(progress, written)
                continue
            raise CorruptObject(f"recipe {recipe_key(oid)} on {backend.describe()} rebuilds bytes that hash to "
                                f"{exc.args[0]}, not {oid}",
                                "push the model again from a clone that has it; the recipe is rewritten") from None
        break
    _learn(state, recipe)
    return DownloadStats(oid, recipe.size, sum(r.fetched for r in runs), local, repeated, recipe_bytes,
                         len(recipe.chunks), sum(r.chunks_fetched for r in runs), sum(r.requests for r in runs),
                         job.fallbacks)


class _Mismatch(Exception):
    pass


def _rewound(progress: Progress | None, already: int) -> Progress | None:
    """A progress callback for a second pass that does not count the first pass's bytes twice."""
    if progress is None:
        return None
    skip = [already]

    def report(n: int) -> None:
        take = min(skip[0], n)
        skip[0] -= take
        if n - take:
            progress(n - take)

    return report


def _learn(state: ChunkIndex, recipe: Recipe) -> None:
    """A verified rebuild can serve the next version: record its chunks in the local index."""
    lengths = array("I", (c.length for c in recipe.chunks))
    chunks = ChunkList(b"".join(c.chunk_id for c in recipe.chunks), lengths)
    state.record_local(recipe.oid, recipe.size, chunks, RECIPE_CHUNKER)
