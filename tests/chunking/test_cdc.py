"""Content-defined chunking: streaming gives the same cuts as one buffer; edits stay local."""

from __future__ import annotations

import hashlib
import io
from array import array

import pytest

from gitmodels.chunking import cdc

from .util import MiB, data

BLOB = data(100, 6 * MiB + 12345)


@pytest.fixture(scope="module")
def blob_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cdc") / "blob"
    path.write_bytes(BLOB)
    return str(path)


@pytest.mark.parametrize("block_size", [cdc.MAX_SIZE, 200_000, MiB, cdc.BLOCK_SIZE, 64 * MiB])
def test_streaming_cuts_match_one_buffer(blob_path, block_size):
    scan = cdc.scan_file(blob_path, block_size=block_size)
    assert scan.oid == hashlib.sha256(BLOB).hexdigest() and scan.size == len(BLOB)
    assert list(scan.chunks) == cdc.chunk_ids_of(BLOB)


def test_chunk_sizes_and_ids(blob_path):
    chunks = list(cdc.scan_file(blob_path).chunks)
    lengths = [length for _, _, length in chunks]
    assert min(lengths[:-1]) >= cdc.MIN_SIZE and max(lengths) <= cdc.MAX_SIZE
    assert 20 * 1024 < len(BLOB) / len(chunks) < 64 * 1024  # tens of KiB on average
    for chunk_id, offset, length in chunks[:20]:
        assert chunk_id == hashlib.sha256(BLOB[offset:offset + length]).digest()


def test_copy_progress_and_empty(blob_path, tmp_path):
    out = io.BytesIO()
    seen = []
    scan = cdc.scan_file(blob_path, copy_to=out, progress=seen.append)
    assert out.getvalue() == BLOB and sum(seen) == len(BLOB) and scan.size == len(BLOB)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    scan = cdc.scan_file(str(empty))
    assert scan.oid == hashlib.sha256(b"").hexdigest() and len(scan.chunks) == 0
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"abc")
    assert [(i, o, n) for i, o, n in cdc.scan_file(str(tiny)).chunks] == [(hashlib.sha256(b"abc").digest(), 0, 3)]


def test_an_insertion_only_changes_the_chunks_around_it():
    before = cdc.chunk_ids_of(BLOB)
    after = cdc.chunk_ids_of(BLOB[:3 * MiB] + b"inserted!" + BLOB[3 * MiB:])
    old = {i for i, _, _ in before}
    new = [(i, n) for i, _, n in after if i not in old]
    assert len(new) <= 3 and sum(n for _, n in new) <= 3 * cdc.MAX_SIZE


def test_chunk_list_encoding():
    chunks = cdc.ChunkList(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(3)), array("I", [5, 6, 7]))
    back = cdc.ChunkList.decode(chunks.encode())
    assert back == chunks and back.size == 18 and [o for _, o, _ in back] == [0, 5, 11]
    with pytest.raises(ValueError):
        cdc.ChunkList.decode(chunks.encode()[:-1])


def test_cut_points_are_pinned():
    """The chunker's cuts decide what dedups against what was pushed before: they must not drift.

    If this fails after upgrading pyfastcdc, the cuts changed: pin the old version,
    or accept that new pushes will not share chunks with old ones (nothing breaks).
    """
    chunks = cdc.chunk_ids_of(data(101, MiB))
    assert cdc.CHUNKER == "fastcdc2020/avg=32768,min=16384,max=131072,nc=2,seed=0"
    assert len(chunks) == 28 and [n for _, _, n in chunks[:4]] == [43773, 35149, 43457, 48061]
    ids = hashlib.sha256(b"".join(i for i, _, _ in chunks)).hexdigest()
    assert ids == "2c4e57bc4f5e19848846bda1884c8fcb75e377cb2c948624dbabe69cac28bb01"  # pyfastcdc 0.3.1
