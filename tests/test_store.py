import hashlib
import os
import stat

import pytest

from gitmodels.errors import ArtifactChanged, CorruptObject
from gitmodels.storage.store import Store
from tests.seeded import seeded_bytes


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "cache"))


def test_add_file_hashes_and_copies_read_only(store, tmp_path):
    src = tmp_path / "m.bin"
    data = seeded_bytes(1, 3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    oid, size = store.add_file(str(src))
    assert oid == hashlib.sha256(data).hexdigest() and size == len(data)
    path = store.path(oid)
    assert path.endswith(f"objects/{oid[:2]}/{oid}")
    assert open(path, "rb").read() == data
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list(store.iter_oids()) == [oid]
    assert os.listdir(store.tmp_dir) == []


@pytest.mark.parametrize("size", [1024 * 1024, 12 * 1024 * 1024])  # read whole; copied block by block
def test_add_file_refuses_a_file_written_meanwhile(store, tmp_path, size):
    """A hash taken while something writes the file names bytes that never existed together."""
    src = tmp_path / "m.bin"
    src.write_bytes(seeded_bytes(2, size))

    def write_during(n):
        with open(src, "ab") as f:
            f.write(b"x")

    with pytest.raises(ArtifactChanged, match="m.bin changed while gitmodels was reading it"):
        store.add_file(str(src), progress=write_during)
    assert list(store.iter_oids()) == [] and os.listdir(store.tmp_dir) == []


def test_ingest_refuses_bytes_that_do_not_match(store):
    oid = hashlib.sha256(b"good").hexdigest()

    def fill(tmp):
        open(tmp, "wb").write(b"evil")

    with pytest.raises(CorruptObject):
        store.ingest(oid, fill, where="remote/objects/x")
    assert not store.has(oid)
    assert os.listdir(store.tmp_dir) == []


def test_materialized_copy_never_shares_writable_bytes(store, tmp_path):
    oid = store.add_bytes(b"weights")
    for mode in ("reflink", "copy", "hardlink", "symlink"):
        dest = str(tmp_path / f"out-{mode}")
        store.materialize(oid, dest, mode)
        assert open(dest, "rb").read() == b"weights"
        if mode in ("reflink", "copy"):
            open(dest, "ab").write(b"!")
        elif os.geteuid() != 0:
            with pytest.raises(PermissionError):
                open(dest, "ab")
    assert store.verify(oid)


def test_quarantine_moves_a_corrupt_object_aside(store):
    oid = store.add_bytes(b"abc")
    os.chmod(store.path(oid), 0o644)
    open(store.path(oid), "wb").write(b"abd")
    assert not store.verify(oid)
    moved = store.quarantine(oid)
    assert not store.has(oid) and os.path.exists(moved)


@pytest.mark.parametrize("size", [8 * 1024 * 1024 + 1, 16 * 1024 * 1024, 9 * 1024 * 1024 + 4096 + 513])
def test_large_objects_are_written_direct_and_intact(store, tmp_path, size):
    """Large objects bypass the page cache; unaligned tails must not be lost or padded."""
    src = tmp_path / "big.bin"
    data = seeded_bytes(3, size)
    src.write_bytes(data)
    oid, n = store.add_file(str(src))
    assert n == size and open(store.path(oid), "rb").read() == data


def _refuse_o_direct(monkeypatch) -> None:
    """Make os.open refuse O_DIRECT the way tmpfs and some FUSE and network filesystems do."""
    import errno

    real_open = os.open

    def refusing(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "O_DIRECT not supported")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)


def test_direct_file_falls_back_where_o_direct_is_refused(tmp_path, monkeypatch):
    from gitmodels.storage import fileio

    _refuse_o_direct(monkeypatch)
    with fileio.DirectFile(str(tmp_path / "f")) as f:
        assert not f.direct
        f.write(b"abc")  # a bytes object: not page-aligned, written through the page cache
        f.write(memoryview(bytearray(5000)))
    assert (tmp_path / "f").read_bytes() == b"abc" + bytes(5000)


@pytest.mark.parametrize("from_page_cache", [True, False])
@pytest.mark.parametrize("refuse_direct", [False, True])
def test_direct_reader_returns_exactly_the_range(tmp_path, monkeypatch, refuse_direct, from_page_cache):
    """Direct reads are widened to block boundaries; the caller must still get only what it asked for."""
    import mmap

    from gitmodels.storage import fileio

    if refuse_direct:
        _refuse_o_direct(monkeypatch)
    data = seeded_bytes(4, 5 * 4096 + 33)
    (tmp_path / "f").write_bytes(data)
    buf = memoryview(mmap.mmap(-1, 3 * 4096))
    if not from_page_cache:
        monkeypatch.setattr(fileio, "in_page_cache", lambda fd, offset, length: False)  # as if only on disk
    with fileio.DirectReader(str(tmp_path / "f")) as f:
        for offset, length in [(0, 4096), (1, 4096), (4096 * 5, 40), (4096 * 5 + 30, 10), (len(data), 1)]:
            assert bytes(f.read_into(offset, length, buf)) == data[offset:offset + length]
        if refuse_direct and not from_page_cache:
            assert not f.direct


def test_page_cache_residency_is_known_per_range(tmp_path):
    from gitmodels.storage import fileio

    path = tmp_path / "f"
    path.write_bytes(seeded_bytes(5, 3 * 4096 + 5))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert fileio.in_page_cache(fd, 4097, 4096) is True  # just written: cached
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if fileio.in_page_cache(fd, 0, 4096):  # pragma: no cover - the kernel may keep it anyway
            pytest.skip("the page cache kept the file")
        assert fileio.in_page_cache(fd, 0, 4096) is False
    finally:
        os.close(fd)


def test_page_cache_writes_are_sliced_to_one_mib():
    """Big write() calls into the page cache cost 10x on VMs that return free memory to the host."""
    import io

    from gitmodels.storage import fileio

    class Recording(io.RawIOBase):
        def __init__(self):
            self.calls, self.data = [], bytearray()

        def writable(self):
            return True

        def write(self, b):
            take = min(len(b), 700_000)  # a raw file may take less than it is given
            self.calls.append(len(b))
            self.data += bytes(b[:take])
            return take

    data = seeded_bytes(6, 3 * fileio.PAGE_CACHE_WRITE + 12345)
    out = Recording()
    fileio.write_sliced(out, data)
    assert bytes(out.data) == data
    assert max(out.calls) <= fileio.PAGE_CACHE_WRITE


def test_direct_file_takes_unaligned_memory(tmp_path):
    from gitmodels.storage import fileio

    with fileio.DirectFile(str(tmp_path / "f")) as f:
        f.write(bytes(8192))  # aligned length, but a bytes object may sit anywhere in memory
        f.write(b"tail")
    assert (tmp_path / "f").read_bytes() == bytes(8192) + b"tail"


def test_staged_direct_file_reads_back_what_it_wrote(tmp_path):
    """Chunk rebuilds read earlier bytes back (a chunk that occurs twice), flushed or still staged."""
    from gitmodels.storage import fileio

    data = seeded_bytes(7, 3 * 65536 + 123)
    with fileio.StagedDirectFile(str(tmp_path / "f"), block_size=65536) as f:
        for i in range(0, len(data), 1000):
            f.write(data[i:i + 1000])
            end = min(i + 1000, len(data))
            start = max(0, end - 1500)
            assert f.pread(end - start, start) == data[start:end]
    assert (tmp_path / "f").read_bytes() == data


def test_followed_file_is_hashed_into_the_cache_as_it_is_written(store, tmp_path):
    from gitmodels.hooks.following import FollowedFile

    data = seeded_bytes(8, 20 * 1024 * 1024 + 99)
    with FollowedFile(store, str(tmp_path / "weights.pt")) as f:
        for i in range(0, len(data), 3 * 1024 * 1024 + 7):  # odd-sized writes, like a serializer's
            f.write(data[i:i + 3 * 1024 * 1024 + 7])
    oid = hashlib.sha256(data).hexdigest()
    assert f.oid == oid and f.size == len(data)
    assert (tmp_path / "weights.pt").read_bytes() == data
    assert open(store.path(oid), "rb").read() == data
    assert os.listdir(store.tmp_dir) == []


def test_a_serializer_that_fails_leaves_nothing_in_the_cache(store, tmp_path):
    from gitmodels.hooks.following import FollowedFile

    with pytest.raises(RuntimeError):
        with FollowedFile(store, str(tmp_path / "weights.pt")) as f:
            f.write(seeded_bytes(9, 9 * 1024 * 1024))
            raise RuntimeError("the framework failed half way")
    assert list(store.iter_oids()) == [] and os.listdir(store.tmp_dir) == []
