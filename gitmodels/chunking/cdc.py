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
import os
import sys
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

# The chunker's parameters are part of what makes two files share chunks:
# changing them is safe (recipes list chunks explicitly) but stops new versions
# from deduplicating against old ones, so they are named and recorded.
AVG_SIZE = 32 * 1024
MIN_SIZE = 8 * 1024
MAX_SIZE = 128 * 1024
NORMALIZATION = 2
CHUNKER = f"fastcdc2020/avg={AVG_SIZE},min={MIN_SIZE},max={MAX_SIZE},nc={NORMALIZATION},seed=0"

ID_SIZE = 32  # a chunk id is the raw SHA-256 digest of the chunk
BLOCK_SIZE = 8 * 1024 * 1024
_BUFFERS = 4  # blocks in flight: reading, whole-file hash, cutting, chunk hashes
_HASH_BATCH = 2 * 1024 * 1024  # chunk bytes per chunk-hashing task

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


def _hash_batch(views: list[memoryview]) -> bytes:
    sha = hashlib.sha256
    return b"".join([sha(v).digest() for v in views])


def _read_full(f: BinaryIO, view: memoryview) -> int:
    """Fill `view` unless the file ends first; returns the bytes read."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def scan_file(path: str | os.PathLike, *, copy_to: BinaryIO | None = None,
              progress: Progress | None = None, block_size: int = BLOCK_SIZE) -> FileScan:
    """Read `path` once: its oid, size and chunk list.

    With `copy_to` (a binary file opened for writing), the bytes are also
    written there in the same pass, so a cache can hash, chunk and copy a
    new file with one read. Raises ChunkerUnavailable without pyfastcdc.
    """
    chunker = new_chunker()
    pad = MAX_SIZE  # room before each block for the tail carried over from the previous one
    whole = hashlib.sha256()
    lengths = array("I")
    id_parts: list[Future] = []
    free = [bytearray(pad + block_size) for _ in range(_BUFFERS)]
    pending: deque[tuple[bytearray, list[Future]]] = deque()
    size = 0
    prev: bytearray | None = None
    carry_start = carry_end = 0  # the carried tail, as a slice of `prev`

    with open(path, "rb", buffering=0) as f, \
            ThreadPoolExecutor(1, thread_name_prefix="gm-wholehash") as ordered, \
            ThreadPoolExecutor(1, thread_name_prefix="gm-chunkhash") as hashers, \
            ThreadPoolExecutor(1, thread_name_prefix="gm-copy") as writer:
        eof = False
        while not eof:
            if not free:
                buf, futures = pending.popleft()
                for fut in futures:
                    fut.result()
                free.append(buf)
            buf = free.pop()
            mv = memoryview(buf)
            carry = carry_end - carry_start
            if carry:
                mv[pad - carry:pad] = memoryview(prev)[carry_start:carry_end]
            n = _read_full(f, mv[pad:pad + block_size])
            eof = n < block_size
            futures: list[Future] = []
            if n:
                data = mv[pad:pad + n]
                futures.append(ordered.submit(whole.update, data))
                if copy_to is not None:
                    futures.append(writer.submit(copy_to.write, data))
                size += n
            region = mv[pad - carry:pad + n]
            end = len(region)
            carry_start = carry_end = 0
            batch: list[memoryview] = []
            batch_bytes = 0
            for chunk in chunker.cut_buf(region):
                # A cut found with less than MAX_SIZE bytes left might move once
                # the next block is there: carry that tail over and cut it again.
                if not eof and end - chunk.offset < MAX_SIZE:
                    carry_start, carry_end = pad - carry + chunk.offset, pad + n
                    break
                lengths.append(chunk.length)
                batch.append(chunk.data)
                batch_bytes += chunk.length
                if batch_bytes >= _HASH_BATCH:
                    fut = hashers.submit(_hash_batch, batch)
                    id_parts.append(fut)
                    futures.append(fut)
                    batch, batch_bytes = [], 0
            if batch:
                fut = hashers.submit(_hash_batch, batch)
                id_parts.append(fut)
                futures.append(fut)
            del region, batch
            pending.append((buf, futures))
            prev = buf
            if progress and n:
                progress(n)
        for _, futures in pending:
            for fut in futures:
                fut.result()
    ids = b"".join(fut.result() for fut in id_parts)
    return FileScan(whole.hexdigest(), size, ChunkList(ids, lengths))


def chunk_ids_of(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset, length) of the chunks of an in-memory buffer (tests and small data)."""
    out = []
    for chunk in new_chunker().cut_buf(data):
        out.append((hashlib.sha256(chunk.data).digest(), chunk.offset, chunk.length))
    return out
