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
"""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import sys
import threading
import time
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

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
    """pyfastcdc is not installed: files are stored whole (downloads of chunked objects still work)."""


def available() -> bool:
    """Whether chunking can run here (the `pyfastcdc` extension imports)."""
    try:
        _fastcdc_class()
    except ChunkerUnavailable:
        return False
    return True


def _fastcdc_class():
    try:
        from pyfastcdc.cy import FastCDC  # the compiled extension only, never the slow fallback
    except ImportError:
        raise ChunkerUnavailable("chunk-level dedup needs pyfastcdc: pip install 'gitmodels[chunking]'") from None
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


def _read_full(f: BinaryIO, view: memoryview) -> int:
    """Fill `view` unless the file ends first; returns the bytes read."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


class _Block:
    """One block of the file on its way through the pipeline."""

    __slots__ = ("buf", "n", "eof", "written", "views", "digests", "next", "done")

    def __init__(self, buf: bytearray):
        self.buf = buf
        self.n = 0
        self.eof = False
        self.written: Future | None = None
        self.views: list[memoryview] = []
        self.digests: list[bytes] = []
        self.next = 0  # the first chunk nobody has claimed yet
        self.done = 0  # chunks hashed


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

    def _reader(self) -> None:
        start = time.thread_time()
        try:
            self._read_all()
        finally:
            self.cpu["reader"] = time.thread_time() - start

    def _read_all(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as f, \
                    ThreadPoolExecutor(1, thread_name_prefix="gm-copy") as writer:
                eof = False
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
                    block = _Block(buf)
                    view = memoryview(buf)[self.pad:]
                    block.n = _read_full(f, view)
                    block.eof = eof = block.n < self.block_size
                    data = view[:block.n]
                    if self.copy_to is not None and block.n:
                        block.written = writer.submit(self.copy_to.write, data)
                    self.whole.update(data)
                    del view, data
                    with self.cv:
                        self.ready.append(block)
                        self.cv.notify_all()
        except BaseException as exc:  # handed to the calling thread
            with self.cv:
                self.error = self.error or exc
                self.cv.notify_all()

    # -- the calling thread --

    def run(self) -> FileScan:
        start = time.thread_time()
        try:
            return self._run()
        finally:
            self.cpu["caller"] = time.thread_time() - start

    def _run(self) -> FileScan:
        chunker = new_chunker()
        pad = self.pad
        ids: list[bytes] = []
        lengths = array("I")
        size = 0
        carry = b""
        thread = threading.Thread(target=self._reader, name="gm-scan-reader", daemon=True)
        thread.start()
        try:
            while True:
                with self.cv:
                    while not self.ready and not self.error:
                        self.cv.wait()
                    if self.error:
                        raise self.error
                    block = self.ready.popleft()
                    self.cv.notify_all()
                mv = memoryview(block.buf)
                n, eof = block.n, block.eof
                if carry:
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
                with self.cv:
                    self.free.append(block.buf)
                    self.cv.notify_all()
                if self.progress and n:
                    self.progress(n)
                if eof:
                    break
        finally:
            with self.cv:
                self.finished = True
                self.cv.notify_all()
            thread.join()
        if self.error:
            raise self.error
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
