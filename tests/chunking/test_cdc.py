"""Content-defined chunking: streaming gives the same cuts as one buffer; edits stay local."""

from __future__ import annotations

import errno
import hashlib
import io
import mmap
import subprocess
import sys
import threading
import time
from array import array

import pytest

from gitmodels.chunking import cdc
from gitmodels.errors import ArtifactChanged

from .util import MiB, data

BLOB = data(100, 6 * MiB + 12345)


@pytest.fixture(scope="module")
def blob_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cdc") / "blob"
    path.write_bytes(BLOB)
    return str(path)


def _in_a_thread(fn):
    """Run fn in a worker thread, where no read lease can be taken (no signal handlers): blocks are read."""
    out: list = []

    def run():
        try:
            out.append(("ok", fn()))
        except BaseException as exc:
            out.append(("raised", exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    kind, value = out[0]
    if kind == "raised":
        raise value
    return value


@pytest.fixture
def mapped_blocks(monkeypatch) -> list[bool]:
    """Whether each block of a scan came mapped (True) or read into a buffer (False)."""
    seen: list[bool] = []
    real_map, real_read = cdc._Scanner._map, cdc._Scanner._read

    def map_(self, *a):
        block = real_map(self, *a)
        if block is not None:
            seen.append(True)
        return block

    def read(self, *a):
        seen.append(False)
        return real_read(self, *a)

    monkeypatch.setattr(cdc._Scanner, "_map", map_)
    monkeypatch.setattr(cdc._Scanner, "_read", read)
    return seen


@pytest.mark.parametrize("where", ["main thread", "worker thread"])
@pytest.mark.parametrize("block_size", [cdc.MAX_SIZE, 200_000, MiB, cdc.BLOCK_SIZE, 64 * MiB])
def test_streaming_cuts_match_one_buffer(blob_path, block_size, where, mapped_blocks):
    scan = cdc.scan_file(blob_path, block_size=block_size) if where == "main thread" else \
        _in_a_thread(lambda: cdc.scan_file(blob_path, block_size=block_size))
    assert scan.oid == hashlib.sha256(BLOB).hexdigest() and scan.size == len(BLOB)
    assert list(scan.chunks) == cdc.chunk_ids_of(BLOB)
    # mapped under a lease, in whole pages; read otherwise
    assert set(mapped_blocks) == {where == "main thread" and block_size % mmap.ALLOCATIONGRANULARITY == 0}


def test_a_refused_mapping_reads_the_rest(blob_path, mapped_blocks, monkeypatch):
    """Where mmap stops working mid-file, the blocks after are read, the carried tail included."""
    real_mmap, maps = mmap.mmap, []

    def refuse_after_two(fd, length, *a, **k):
        if fd != -1:
            maps.append(fd)
            if len(maps) > 2:
                raise OSError(errno.ENODEV, "No such device")
        return real_mmap(fd, length, *a, **k)

    monkeypatch.setattr(cdc.mmap, "mmap", refuse_after_two)
    scan = cdc.scan_file(blob_path, block_size=MiB)
    assert mapped_blocks == [True, True] + [False] * 5
    assert scan.oid == hashlib.sha256(BLOB).hexdigest() and list(scan.chunks) == cdc.chunk_ids_of(BLOB)


WRITERS = {
    "rewrite": "f = open(p, 'r+b'); f.seek(5 << 20); f.write(b'x' * 100)",  # same size, in place
    "append": "open(p, 'ab').write(b'more')",
    "truncate": "open(p, 'wb').write(b'new')",  # what `torch.save` to the same name does first
}


@pytest.mark.parametrize("where", ["main thread", "worker thread"])
@pytest.mark.parametrize("change", sorted(WRITERS))
def test_a_file_written_during_the_scan_is_refused(tmp_path, monkeypatch, where, change):
    """Hashes taken while another program writes the file describe bytes that never existed together.

    In the main thread the scan maps the file under a read lease: the writer's
    open() waits until the scan has stopped touching the mapping (a truncated
    mapping would kill us with SIGBUS). In a worker thread blocks are read, and
    the change shows in the file's size or times.
    """
    path = tmp_path / "model.bin"
    path.write_bytes(BLOB)
    broken = []
    real_broken = cdc._Scanner._lease_broken
    monkeypatch.setattr(cdc._Scanner, "_lease_broken", lambda self: broken.append(1) or real_broken(self))
    writers = []

    def start_writer(n):
        if writers:
            return
        writers.append(subprocess.Popen([sys.executable, "-c", f"p = {str(path)!r}; {WRITERS[change]}"]))
        deadline = time.monotonic() + 30
        while writers[0].poll() is None and not broken and time.monotonic() < deadline:
            time.sleep(0.005)  # under a lease the writer waits for us: the signal arrives meanwhile

    def scan():
        return cdc.scan_file(str(path), block_size=MiB, progress=start_writer)

    with pytest.raises(ArtifactChanged, match="model.bin changed while gitmodels was reading it"):
        scan() if where == "main thread" else _in_a_thread(scan)
    assert writers[0].wait(30) == 0  # the lease is gone: the writer went on
    assert bool(broken) == (where == "main thread")


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
