"""Content-defined chunking: cut a file where its content says, name each chunk by its SHA-256.

The cut points come from FastCDC 2020 (a Gear rolling hash with normalized
chunking), from the `pyfastcdc` Cython extension; only the cut-point search
runs in C, with the GIL released. A cut point depends only on the bytes just
before it, so an edit moves the cuts around it and nowhere else: the chunks
after an insertion are the same chunks as before, shifted.

`scan_file` reads a file once, in large blocks, and overlaps three jobs on
separate threads (each releases the GIL in C): the whole-file SHA-256 (the
oid), the cut-point search, and the per-chunk SHA-256. Memory stays at a few
blocks whatever the file size.

The blocks are windows mapped onto the page cache (mmap) rather than copies
read into buffers of our own: the scan is CPU-bound, and the copy, and the
cache copy's direct writes from anonymous buffers, cost it 10-20%. A mapping
is used only under a read lease (`lease.py`), so nobody can write or truncate
the file while the hashes and the cache copy read its pages; where there is
no lease, or mmap is refused, blocks are read into buffers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import sys
import threading
import time
import warnings
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

from gitmodels.storage import fileio
from gitmodels.errors import GitModelsWarning
from gitmodels.storage.lease import ReadLease

# The chunker's parameters are part of what makes two files share chunks:
# changing them is safe (recipes list chunks explicitly) but stops new versions
# from deduplicating against old ones, so they are named and recorded.
AVG_SIZE = 32 * 1024
MIN_SIZE = 16 * 1024
MAX_SIZE = 128 * 1024
NORMALIZATION = 2
CHUNKER = f"fastcdc2020/avg={AVG_SIZE},min={MIN_SIZE},max={MAX_SIZE},nc={NORMALIZATION},seed=0"

ID_SIZE = 32  # a chunk id is the raw SHA-256 digest of the chunk
BLOCK_SIZE = 8 * 1024 * 1024

Progress = Callable[[int], None]


class ChunkerUnavailable(ImportError):
    """pyfastcdc's extension does not import: files are stored whole (downloads of chunked objects still work)."""


class DedupUnavailable(GitModelsWarning):
    """Said once per process: a large model was stored whole because the chunker does not import."""


_probe: list[str | None] = []  # the import is tried once per process
_warned: list[bool] = []


def unavailable_reason() -> str | None:
    """Why chunking cannot run here (None: it can). The one place that decides it."""
    if not _probe:
        try:
            from pyfastcdc.cy import FastCDC  # noqa: F401  the compiled extension only, never the slow fallback
        except ImportError as exc:  # a missing package, or a wheel built for another Python/platform
            _probe.append(f"cannot import pyfastcdc's compiled extension ({exc})")
        else:
            _probe.append(None)
    return _probe[0]


def available() -> bool:
    """Whether chunking can run here (the `pyfastcdc` extension imports)."""
    return unavailable_reason() is None


def warn_unavailable() -> None:
    """Say, once per process, that dedup is off and why: a model stored whole is never a silent choice."""
    reason = unavailable_reason()
    if reason is None or _warned:
        return
    _warned.append(True)
    warnings.warn(DedupUnavailable(f"chunk dedup unavailable: {reason}; models are stored whole "
                                   f"(reinstall pyfastcdc to store only the bytes that change)"), stacklevel=2)


def _fastcdc_class():
    reason = unavailable_reason()
    if reason is not None:
        raise ChunkerUnavailable(f"chunk dedup unavailable: {reason}")
    from pyfastcdc.cy import FastCDC

    return FastCDC


def new_chunker():
    return _fastcdc_class()(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=NORMALIZATION)


class ChunkList:
    """The chunks of one file in order, compactly: 32-byte ids back to back and a length array.

    36 bytes a chunk, so the list for a 100 GiB file fits in ~100 MB.
    """

    __slots__ = ("ids", "lengths")

    def __init__(self, ids: bytes = b"", lengths: array | None = None):
        self.ids = bytes(ids)
        self.lengths = lengths if lengths is not None else array("I")
        if len(self.ids) != ID_SIZE * len(self.lengths):
            raise ValueError("chunk ids and lengths disagree")

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[tuple[bytes, int, int]]:
        """(chunk id, offset in the file, length) in file order."""
        ids, offset = self.ids, 0
        for i, length in enumerate(self.lengths):
            yield ids[i * ID_SIZE:(i + 1) * ID_SIZE], offset, length
            offset += length

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChunkList) and self.ids == other.ids and self.lengths == other.lengths

    @property
    def size(self) -> int:
        return sum(self.lengths)

    def id_at(self, i: int) -> bytes:
        return self.ids[i * ID_SIZE:(i + 1) * ID_SIZE]

    def encode(self) -> bytes:
        """ids, then u32 little-endian lengths (the local index stores this)."""
        lengths = array("I", self.lengths)
        if sys.byteorder != "little":  # pragma: no cover
            lengths.byteswap()
        return self.ids + lengths.tobytes()

    @classmethod
    def decode(cls, blob: bytes) -> "ChunkList":
        if len(blob) % (ID_SIZE + 4):
            raise ValueError("truncated chunk list")
        n = len(blob) // (ID_SIZE + 4)
        lengths = array("I")
        lengths.frombytes(blob[n * ID_SIZE:])
        if sys.byteorder != "little":  # pragma: no cover
            lengths.byteswap()
        return cls(blob[:n * ID_SIZE], lengths)


@dataclasses.dataclass(frozen=True)
class FileScan:
    oid: str  # hex SHA-256 of the whole file
    size: int
    chunks: ChunkList
    chunker: str = CHUNKER


class _Block:
    """One block of the file on its way through the pipeline.

    Its bytes sit at `pad` in `window` (a mapping of the file, or `buf`, a
    pool buffer they were read into), after room for the tail of the block
    before, which a mapping already holds and a buffer has copied in.
    """

    __slots__ = ("buf", "window", "pad", "n", "eof", "written", "views", "digests", "next", "done")

    def __init__(self, buf: mmap.mmap, window: mmap.mmap | None, pad: int, n: int, eof: bool):
        self.buf = buf
        self.window = window
        self.pad = pad
        self.n = n
        self.eof = eof
        self.written: Future | None = None
        self.views: list[memoryview] = []
        self.digests: list[bytes] = []
        self.next = 0  # the first chunk nobody has claimed yet
        self.done = 0  # chunks hashed

    @property
    def memory(self) -> mmap.mmap:
        return self.window if self.window is not None else self.buf


class _Scanner:
    """Two workers share the CPU work of one read.

    The reader thread reads a block and feeds it to the whole-file hash; the
    calling thread cuts blocks into chunks and hashes them. Whenever the reader
    is far enough ahead it steals chunks to hash from the block being hashed,
    so both cores stay busy (hashlib and the cut search release the GIL).
    """

    AHEAD = 2  # blocks read and hashed ahead of the cutter
    GROUP = 8  # chunks claimed at a time

    def __init__(self, path: str | os.PathLike, copy_to: BinaryIO | None, progress: Progress | None,
                 block_size: int):
        self.path = path
        self.copy_to = copy_to
        self.progress = progress
        self.block_size = block_size
        self.pad = MAX_SIZE  # room before each block for the tail carried over from the previous one
        self.cv = threading.Condition()
        # Page-aligned blocks (and pad), so a copy_to opened O_DIRECT takes them as they are.
        self.free = [mmap.mmap(-1, self.pad + block_size) for _ in range(self.AHEAD + 2)]
        self.before: os.stat_result | None = None  # the file as the scan found it
        self.ready: deque[_Block] = deque()
        self.current: _Block | None = None
        self.finished = False
        self.error: BaseException | None = None
        self.whole = hashlib.sha256()
        self.cpu = {"reader": 0.0, "caller": 0.0}  # CPU seconds per thread (benchmarks/chunking_bench.py)

    # -- shared: claiming and hashing chunks of the current block --

    def _claim(self) -> tuple[_Block, int, int] | None:
        """Under the lock: a run of unclaimed chunks of the current block."""
        block = self.current
        if block is None or block.next >= len(block.views):
            return None
        start = block.next
        block.next = stop = min(start + self.GROUP, len(block.views))
        return block, start, stop

    def _hash(self, block: _Block, start: int, stop: int) -> None:
        sha = hashlib.sha256
        block.digests[start:stop] = [sha(v).digest() for v in block.views[start:stop]]
        with self.cv:
            block.done += stop - start
            self.cv.notify_all()

    # -- the reader thread --

    def _reader(self, f: BinaryIO, mapping: bool) -> None:
        start = time.thread_time()
        try:
            self._read_all(f, mapping)
        finally:
            self.cpu["reader"] = time.thread_time() - start
            with self.cv:
                self.cv.notify_all()  # the caller may wait on it for an error it has yet to see

    def _read_all(self, f: BinaryIO, mapping: bool) -> None:
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="gm-copy") as writer:
                fd, before = f.fileno(), self.before
                offset, eof = 0, False
                while True:
                    with self.cv:
                        while True:
                            if self.finished or self.error:
                                return
                            if not eof and self.free and len(self.ready) < self.AHEAD:
                                job, buf = None, self.free.pop()
                                break
                            job = self._claim()
                            if job:
                                break
                            self.cv.wait()
                    if job:
                        self._hash(*job)
                        continue
                    fileio.check_unchanged(fd, before, str(self.path))  # also: a shrunk file is never mapped
                    block = self._map(fd, offset, buf) if mapping else None
                    if block is None:
                        mapping = False
                        block = self._read(f, offset, buf)
                    offset += block.n
                    eof = block.eof
                    data = memoryview(block.memory)[block.pad:block.pad + block.n]
                    if self.copy_to is not None and block.n:
                        block.written = writer.submit(self.copy_to.write, data)
                    self.whole.update(data)
                    del data
                    with self.cv:
                        self.ready.append(block)
                        self.cv.notify_all()
        except BaseException as exc:  # handed to the calling thread
            with self.cv:
                self.error = self.error or exc
                self.cv.notify_all()

    def _map(self, fd: int, offset: int, buf: mmap.mmap) -> _Block | None:
        """The block at `offset` as a read-only window that starts MAX_SIZE earlier; None where mmap is refused."""
        size = self.before.st_size
        if offset >= size:
            return None  # mmap cannot map nothing: the empty last block is read
        start = max(0, offset - MAX_SIZE)
        end = min(size, offset + self.block_size)
        try:
            window = mmap.mmap(fd, end - start, access=mmap.ACCESS_READ, offset=start)  # Windows too
        except OSError:  # some FUSE and special filesystems
            return None
        return _Block(buf, window, offset - start, end - offset, end >= size)

    def _read(self, f: BinaryIO, offset: int, buf: mmap.mmap) -> _Block:
        f.seek(offset)
        n = fileio.read_full(f, memoryview(buf)[self.pad:])
        return _Block(buf, None, self.pad, n, n < self.block_size)

    # -- the calling thread --

    def run(self) -> FileScan:
        start = time.thread_time()
        try:
            return self._run()
        finally:
            self.cpu["caller"] = time.thread_time() - start

    def _lease_broken(self) -> None:
        """Someone opens the file for writing: both threads stop at their next step, so the lease can go.

        A signal handler, run between two steps of the calling thread: it takes no lock.
        """
        self.error = self.error or fileio.changed_while_read(str(self.path))

    def _run(self) -> FileScan:
        with open(self.path, "rb", buffering=0) as f, ReadLease(f.fileno(), self._lease_broken) as lease:
            self.before = os.fstat(f.fileno())  # after the lease: no write can come between
            mapping = lease.held and self.block_size % mmap.ALLOCATIONGRANULARITY == 0
            thread = threading.Thread(target=self._reader, args=(f, mapping), name="gm-scan-reader", daemon=True)
            thread.start()
            try:
                return self._scan()
            finally:
                with self.cv:
                    self.finished = True
                    self.cv.notify_all()
                thread.join()  # nothing touches the mapping after this: the lease may go

    def _scan(self) -> FileScan:
        chunker = new_chunker()
        ids: list[bytes] = []
        lengths = array("I")
        size = 0
        carry = b""
        while True:
            with self.cv:
                while not self.ready and not self.error:
                    self.cv.wait()
                if self.error:
                    raise self.error
                block = self.ready.popleft()
                self.cv.notify_all()
            mv = memoryview(block.memory)
            n, eof, pad = block.n, block.eof, block.pad
            if carry and block.window is None:
                mv[pad - len(carry):pad] = carry
            region = mv[pad - len(carry):pad + n]
            end = len(region)
            views: list[memoryview] = []
            carry = b""
            chunk = None
            for chunk in chunker.cut_buf(region):
                # A cut found with less than MAX_SIZE bytes left might move once
                # the next block is there: carry that tail over and cut it again.
                if not eof and end - chunk.offset < MAX_SIZE:
                    carry = bytes(region[chunk.offset:])
                    break
                views.append(chunk.data)
                lengths.append(chunk.length)
            block.views = views
            block.digests = [b""] * len(views)
            with self.cv:
                self.current = block
                self.cv.notify_all()
            while True:
                with self.cv:
                    job = self._claim()
                if not job:
                    break
                self._hash(*job)
            with self.cv:
                while block.done < len(views) and not self.error:
                    self.cv.wait()
                if self.error:
                    raise self.error
                self.current = None
            if block.written is not None:
                block.written.result()
            ids.extend(block.digests)
            del region, views, mv, chunk
            block.views = block.digests = []
            size += n
            block.window = None  # unmapped once the last view of it is gone (close() would race them)
            with self.cv:
                self.free.append(block.buf)
                self.cv.notify_all()
            if self.progress and n:
                self.progress(n)
            if eof:
                break
        if self.error:
            raise self.error
        fileio.check_unchanged(self.path, self.before, str(self.path))
        return FileScan(self.whole.hexdigest(), size, ChunkList(b"".join(ids), lengths))


def scan_file(path: str | os.PathLike, *, copy_to: BinaryIO | None = None,
              progress: Progress | None = None, block_size: int = BLOCK_SIZE) -> FileScan:
    """Read `path` once: its oid, size and chunk list.

    With `copy_to` (a binary file opened for writing), the bytes are also
    written there in the same pass, so a cache can hash, chunk and copy a
    new file with one read. Raises ChunkerUnavailable without pyfastcdc.
    """
    if block_size < MAX_SIZE:
        raise ValueError("block_size must be at least MAX_SIZE")
    return _Scanner(path, copy_to, progress, block_size).run()


def chunk_ids_of(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset, length) of the chunks of an in-memory buffer (tests and small data)."""
    out = []
    for chunk in new_chunker().cut_buf(data):
        out.append((hashlib.sha256(chunk.data).digest(), chunk.offset, chunk.length))
    return out
