"""Push one cached object as chunks: only the chunks the remote lacks, packed, then its recipe."""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import hashlib
import mmap
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from gitmodels.storage import fileio
from gitmodels.errors import CorruptObject, RemoteError
from gitmodels.remotes.base import READ_SLACK, Backend, Progress
from gitmodels.chunking import formats
from gitmodels.chunking.cdc import CHUNKER, ChunkList, scan_file
from gitmodels.storage.objects import pack_key, recipe_key
from gitmodels.chunking.formats import PackEntry, build_recipe
from gitmodels.chunking.remote import _tmp_path, pack_indexes, sync_remote
from gitmodels.chunking.index import ChunkIndex, open_index

T = TypeVar("T")  # an item packed by split_even: a chunk, or a bundle's file

PACK_SIZE = 32 * 1024 * 1024  # target pack size (packs are 0.67x to 1.5x this): few objects on the remote
READ_RUN = 8 * 1024 * 1024  # adjacent chunks are read from the object in runs of up to this
_ATTEMPTS = 3
PACKS_IN_FLIGHT = 2  # packs of one object built and sent at once: more only adds temp space and memory


@dataclasses.dataclass(frozen=True)
class UploadStats:
    oid: str
    bytes_total: int  # the object's size
    bytes_sent: int  # everything uploaded: packs (with headers and indexes) and the recipe
    bytes_new: int  # chunk bytes the remote did not hold before
    chunks_total: int
    chunks_new: int
    packs_uploaded: int
    recipe_bytes: int
    already_present: bool = False  # the remote already had a recipe for this oid; nothing was sent

    @property
    def bytes_deduplicated(self) -> int:
        return self.bytes_total - self.bytes_new


class _Counter:
    """Progress increments from several threads, never more than the object's size in all."""

    def __init__(self, progress: Progress | None, size: int = 0):
        self.progress = progress
        self.size = size
        self.total = 0
        self.lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self.lock:
            n = max(0, min(n, self.size - self.total))
            self.total += n
            if self.progress and n:
                self.progress(n)

    def finish(self, size: int) -> None:
        self(size - self.total)


def _chunk_list_for(state: ChunkIndex, oid: str, path: str, size: int) -> tuple[ChunkList, bool]:
    """The object's chunks, and whether they were computed from the file just now (and its oid checked)."""
    chunks = state.local_chunk_list(oid)
    if chunks is not None and chunks.size == size:
        return chunks, False
    scan = scan_file(path)
    if scan.oid != oid or scan.size != size:
        raise CorruptObject(f"cached object {oid} does not match its name (its bytes hash to {scan.oid})",
                            "run `gitmodels fsck` to quarantine it, then fetch it again")
    state.record_local(oid, size, scan.chunks, CHUNKER)
    return scan.chunks, True


def _runs(chunks: list[tuple[bytes, int, int]]) -> Iterator[tuple[int, list[tuple[bytes, int, int]]]]:
    """Chunks grouped into runs that lie back to back in the object (one read each, at most READ_RUN)."""
    run: list[tuple[bytes, int, int]] = []
    start = end = 0
    for item in chunks:
        _, offset, length = item
        if run and (offset != end or end + length - start > READ_RUN):
            yield start, run
            run = []
        if not run:
            start = end = offset
        run.append(item)
        end += length
    if run:
        yield start, run


_local_scratch = threading.local()


def _scratch() -> memoryview:
    """This thread's page-aligned read buffer (one per pack-building thread, reused across packs)."""
    buf = getattr(_local_scratch, "buf", None)
    if buf is None:
        buf = _local_scratch.buf = memoryview(mmap.mmap(-1, READ_RUN + READ_SLACK))
    return buf


def _build_pack(src: fileio.DirectReader, oid: str, chunks: list[tuple[bytes, int, int]], tmp: str,
                verify: bool) -> tuple[str, int, list[PackEntry]]:
    """Write the chunks (id, offset in the object, length) into a pack file; (pack id, size, entries).

    With `verify`, each chunk read back from the object is checked against its
    id, so a cache file that changed after it was indexed is never packed.
    The object is read around the page cache unless it is there already (it
    was written that way); the pack goes through it, 1 MiB per write, so the
    upload that follows, and a pull on this machine, read it from memory.
    """
    sha = hashlib.sha256
    scratch = _scratch()

    def pieces() -> Iterator[tuple[memoryview, list[tuple[bytes, int]]]]:
        for start, run in _runs(chunks):
            want = run[-1][1] + run[-1][2] - start
            data = src.read_into(start, want, scratch)
            if len(data) != want:
                raise CorruptObject(f"cached object {oid} is shorter than when it was indexed",
                                    "run `gitmodels fsck` to check the cache, then push again")
            if verify:
                for chunk_id, offset, length in run:
                    if sha(data[offset - start:offset - start + length]).digest() != chunk_id:
                        raise CorruptObject(f"cached object {oid} changed after it was indexed (at byte {offset})",
                                            "run `gitmodels fsck` to check the cache, then push again")
            yield data, [(chunk_id, length) for chunk_id, _, length in run]

    return write_pack(tmp, pieces())


def write_pack(tmp: str, pieces: Iterable[tuple[bytes | memoryview, list[tuple[bytes, int]]]]
               ) -> tuple[str, int, list[PackEntry]]:
    """Write a pack file at `tmp` from `pieces` in order: (bytes holding some chunks back to back, their
    (id, length)); each piece is written before the next is asked for. Returns (pack id, size, entries)."""
    entries = []
    with open(tmp, "wb") as out:
        header = formats.pack_header()
        fileio.write_sliced(out, header)
        pos = len(header)
        for data, ids in pieces:
            fileio.write_sliced(out, data)
            for chunk_id, length in ids:
                entries.append(PackEntry(chunk_id, pos, length))
                pos += length
        trailer = formats.encode_pack_trailer(entries, pos)
        fileio.write_sliced(out, trailer)
        pos += len(trailer)
    return formats.pack_id_of(trailer), pos, entries


def publish_pack(backend: Backend, state: ChunkIndex, remote: int, tmp: str, pack_id: str, size: int,
                 entries: list[PackEntry], where: dict[bytes, tuple[str, int]], lock: threading.Lock) -> None:
    """Upload the pack built at `tmp` (then gone), record it in the index at once (a push interrupted after
    it resumes after it), and note in `where` where its chunks now live."""
    try:
        backend.upload(pack_key(pack_id), tmp, size, movable=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    state.add_pack(remote, pack_id, size, [(e.chunk_id, e.offset, e.length) for e in entries])
    with lock:
        for e in entries:
            where[e.chunk_id] = (pack_id, e.offset)


def split_even(items: list[T], size_of: Callable[[T], int], pack_size: int) -> list[list[T]]:
    """`items` in order, split into as many packs as their bytes fill at about `pack_size` each, evenly:
    64 MiB of new chunks make two 32 MiB packs, 40 MiB one pack."""
    total = sum(size_of(item) for item in items)
    count = max(1, round(total / pack_size))
    groups: list[list[T]] = [[]]
    done = 0
    for item in items:
        groups[-1].append(item)
        done += size_of(item)
        if done * count >= total * len(groups) and len(groups) < count:
            groups.append([])
    return [g for g in groups if g]


def _send_missing(backend: Backend, state: ChunkIndex, remote: int, oid: str, path: str,
                  missing: list[tuple[bytes, int, int]], where: dict[bytes, tuple[str, int]],
                  progress: _Counter, jobs: int, pack_size: int, verify: bool) -> tuple[int, int, set[str]]:
    """Pack and upload `missing` chunks; fills `where`. Returns (bytes sent, packs, pack ids)."""
    groups = split_even(missing, lambda item: item[2], pack_size)

    sent = 0
    uploaded: set[str] = set()
    lock = threading.Lock()

    def send(tmp: str, pack_id: str, size: int, entries: list[PackEntry]) -> None:
        nonlocal sent
        publish_pack(backend, state, remote, tmp, pack_id, size, entries, where, lock)
        with lock:
            sent += size
            uploaded.add(pack_id)
        progress(sum(e.length for e in entries))

    pending: deque[Future] = deque()
    tmps: list[str] = []
    src = fileio.DirectReader(path)
    try:
        with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="gm-packup") as pool:
            try:
                for group in groups:
                    while len(pending) >= max(1, jobs):  # bounded temp space: jobs packs in flight
                        pending.popleft().result()
                    tmp = _tmp_path(state, "pack")
                    tmps.append(tmp)
                    # Built in the pool too: one pack's disk writes overlap the next one's reads.
                    pending.append(pool.submit(lambda g, t: send(t, *_build_pack(src, oid, g, t, verify)), group, tmp))
                while pending:
                    pending.popleft().result()
            finally:
                for fut in pending:
                    fut.cancel()
    finally:
        src.close()
        for tmp in tmps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return sent, len(uploaded), uploaded


def upload_object(backend: Backend, state_dir: str | os.PathLike, oid: str, path: str | os.PathLike,
                  size: int, progress: Progress | None = None, *, jobs: int = 8,
                  pack_size: int = PACK_SIZE, rewrite: bool = False,
                  avoid_packs: Iterable[str] = (), trusted: bool = False,
                  recipe_checked: bool = False) -> UploadStats:
    """Push the cached object `oid` (the file `path`, `size` bytes) to `backend` as chunks.

    Only chunks the remote does not hold are uploaded, grouped into packs;
    the recipe goes last, after checking that every pack it names exists, so
    a recipe never points at a missing pack and an interrupted push can be
    run again (it resumes after the packs already sent). Safe to call for
    different oids from several threads, and from several clones at once.

    `progress` receives increments that add up to `size`: bytes found on the
    remote at once, new bytes as their pack finishes uploading.
    Repair after `verify_pack` found corrupt chunks: `rewrite=True` replaces
    an existing recipe, and chunks held only in `avoid_packs` are sent again.
    `trusted`: the caller vouches that the file is unchanged since it was
    verified (its stat), so chunks from the index are packed without re-hashing.
    `recipe_checked`: the caller just found no recipe for `oid` on the remote
    (the transfer queue's one existence pass), so it is not looked up again.
    `jobs`: the workers this object may use (the queue's share of its budget):
    reading the remote's pack indexes, and up to PACKS_IN_FLIGHT pack uploads.

    Raises CorruptObject when the file does not match `oid`, RemoteError
    (and subclasses) when the remote fails, ChunkerUnavailable without pyfastcdc
    for an object that was never indexed.
    """
    path = os.fspath(path)
    state = open_index(state_dir)
    counter = _Counter(progress, size)
    rkey = recipe_key(oid)
    avoid = set(avoid_packs)
    if not rewrite and not recipe_checked and backend.stat(rkey) is not None:
        counter(size)
        return UploadStats(oid, size, 0, 0, 0, 0, 0, 0, already_present=True)

    chunks, scanned = _chunk_list_for(state, oid, path, size)
    remote = state.remote_id(backend.url)
    sync_remote(backend, state, jobs=jobs)

    first: dict[bytes, tuple[int, int]] = {}  # unique chunk id -> (offset, length), first occurrence
    for chunk_id, offset, length in chunks:
        first.setdefault(chunk_id, (offset, length))

    bytes_sent = bytes_new = chunks_new = packs = 0
    uploaded: set[str] = set()
    for attempt in range(_ATTEMPTS):
        where = state.locate(remote, first, avoid)
        missing = [(cid, off, length) for cid, (off, length) in first.items() if cid not in where]
        if attempt == 0:
            counter(size - sum(m[2] for m in missing))
        mine, done, theirs = state.claim(remote, (m[0] for m in missing))
        try:
            mine_items = [m for m in missing if m[0] in mine]
            sent, n_packs, new_packs = _send_missing(backend, state, remote, oid, path, mine_items, where, counter,
                                                     min(jobs, PACKS_IN_FLIGHT), pack_size,
                                                     verify=not (scanned or trusted))
        finally:
            state.release(remote, mine, done)
        bytes_sent += sent
        bytes_new += sum(m[2] for m in mine_items)
        chunks_new += len(mine_items)
        packs += n_packs
        uploaded |= new_packs
        if theirs:  # other threads were sending some of our chunks: use theirs once they are up
            for event in theirs:
                event.wait()
            where = state.locate(remote, first, avoid)
            if len(where) < len(first):
                continue  # a thread failed: send what is still missing ourselves

        referenced = {where[cid][0] for cid in first}
        lost = _missing_packs(backend, referenced - uploaded, jobs)
        if lost:  # another clone's gc removed them since we last looked: send those chunks again
            state.forget_packs(remote, lost)
            continue
        recipe = build_recipe(oid, ((cid, length) for cid, _, length in chunks), where, size)
        blob = recipe.encode_runs(_entry_index(backend, state, remote, jobs))
        _upload_bytes(backend, state, rkey, blob)
        bytes_sent += len(blob)
        # A gc racing with this push could have removed a pack between the check and the recipe.
        lost = _missing_packs(backend, referenced, jobs)
        if lost:
            state.forget_packs(remote, lost)
            uploaded -= set(lost)
            continue
        counter.finish(size)
        return UploadStats(oid, size, bytes_sent, bytes_new, len(chunks), chunks_new, packs, len(blob))
    raise RemoteError(f"could not finish pushing {oid} to {backend.describe()}: packs kept disappearing "
                      "or other uploads of its chunks kept failing",
                      "is a `gitmodels gc` running on the remote? wait for it to finish, then push again")


def _entry_index(backend: Backend, state: ChunkIndex, remote: int, jobs: int):
    """(pack id, offset) -> the chunk's place in that pack's index, from the local view of the
    remote (every pack pushed or synced is recorded whole), else from the pack itself."""
    offsets: dict[str, list[int]] = {}

    def index(pack_id: str, offset: int) -> int:
        if pack_id not in offsets:
            offsets[pack_id] = state.pack_offsets(remote, pack_id) or \
                [e.offset for e in pack_indexes(backend, [pack_id], jobs=jobs)[pack_id]]
        known = offsets[pack_id]
        i = bisect.bisect_left(known, offset)
        if i == len(known) or known[i] != offset:
            raise RemoteError(f"pack {pack_id} has no chunk at offset {offset}; the local chunk index is stale",
                              "delete <cache>/chunks and push again")
        return i

    return index


def _missing_packs(backend: Backend, pack_ids: set[str], jobs: int) -> list[str]:
    if not pack_ids:
        return []
    keys = {pack_key(p): p for p in pack_ids}
    present = backend.exists_many(list(keys), jobs)
    return [p for k, p in keys.items() if k not in present]


def _upload_bytes(backend: Backend, state: ChunkIndex, key: str, blob: bytes) -> None:
    tmp = _tmp_path(state, "blob")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
        backend.upload(key, tmp, len(blob))
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
