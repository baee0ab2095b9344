"""Crash-safe, streaming file operations shared by the cache, remotes and workspace.

Writes go to a temporary name in the target folder and are renamed into place,
so a reader never sees half a file and an interrupted command leaves only a
temp file that the next run ignores and cleans.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import mmap
import os
import queue
import shutil
import threading
import uuid
from typing import Callable, Iterator

from gitmodels.errors import ArtifactChanged
from gitmodels.storage import features
from gitmodels.storage.features import FEATURES
from gitmodels.storage.hashing import BLOCK_SIZE
from gitmodels.storage.osfiles import (  # noqa: F401  (re-exported: fileio is where callers look)
    create_new, fsync_fd, make_readonly, make_writable, pread, preadinto, pwrite, remove, replace, rmtree,
)

DIRECT_MIN = 4 * 1024 * 1024  # files at least this large are worth writing around the page cache
PAGE_CACHE_WRITE = 1024 * 1024  # the largest single write() into the page cache (see write_sliced)
TMP_MARK = ".gmtmp-"


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file is written to or replaced (the stat cache's key too)."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def changed_while_read(name: str) -> ArtifactChanged:
    return ArtifactChanged(f"{name} changed while gitmodels was reading it")


def check_unchanged(file: int | str, before: os.stat_result, name: str) -> None:
    """Refuse bytes read from a file (a descriptor or path) that something wrote to meanwhile."""
    if identity(os.stat(file)) != identity(before):
        raise changed_while_read(name)


def tmp_name_for(path: str) -> str:
    """A fresh temp name next to `path`: `.gmtmp-<name>-<token>`, unique across processes and threads.

    The token is random per process (48 bits, drawn again after a fork) plus a
    counter, so a 100,000-file checkout does not draw 100,000 UUIDs.
    """
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_MARK}{name[:40]}-{_token()}")


_TOKEN: list = []  # random part, counter (next() on a count is atomic: threads share it)


def _token() -> str:
    return f"{_TOKEN[0]}{next(_TOKEN[1]):x}"


def _reseed() -> None:
    _TOKEN[:] = [uuid.uuid4().hex[:12], itertools.count()]


_reseed()
if hasattr(os, "register_at_fork"):  # a forked child must not reuse its parent's names
    os.register_at_fork(after_in_child=_reseed)


def write_all(fd: int, data) -> None:
    """Write all of `data` to the descriptor `fd`, at most 1 MiB per call (see write_sliced)."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:done + PAGE_CACHE_WRITE])


def fsync_dir(folder: str) -> None:
    """Make a rename in `folder` durable where directories can be synced (Windows' NTFS journals it)."""
    if not FEATURES.dir_fsync:
        return
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        fsync_fd(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_path(path: str) -> None:
    # Windows flushes only a handle opened for writing (FlushFileBuffers); POSIX takes any.
    fd = os.open(path, os.O_RDONLY if os.name == "posix" else os.O_RDWR)
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str, *, fsync: bool = True, mode: int | None = None) -> Iterator[str]:
    """Yield a temp path next to `final`; on success it is renamed over `final`."""
    os.makedirs(os.path.dirname(final) or ".", exist_ok=True)
    tmp = tmp_name_for(final)
    try:
        yield tmp
        if fsync:
            fsync_path(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        replace(tmp, final)
        if fsync:
            fsync_dir(os.path.dirname(final))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_sliced(f, data) -> None:
    """Write all of `data` to a file that goes through the page cache, 1 MiB per write() call.

    On VMs that hand free memory back to their host (virtio-balloon free page
    reporting, as on this project's Firecracker machines), write() calls of
    2 MiB or more into memory freed seconds earlier are about ten times
    slower: 1 GiB in 8 MiB calls cost 1.5-2.5 s of system time there, in
    1 MiB calls 0.17 s (docs/benchmarks.md). Smaller calls cost nothing
    measurable elsewhere.
    """
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        piece = view[done:done + PAGE_CACHE_WRITE]
        n = f.write(piece)
        done += len(piece) if n is None else n


def write_bytes_atomic(final: str, data: bytes, *, fsync: bool = True) -> None:
    with atomic_path(final, fsync=fsync) as tmp:
        with open(tmp, "wb") as f:
            write_sliced(f, data)


def swap_into_place(staged: str, dest: str) -> None:
    """Put `staged` (file or directory) at `dest`, replacing what is there only once the new copy is complete."""
    if not os.path.lexists(dest):
        os.rename(staged, dest)
        return
    old = tmp_name_for(dest)
    os.rename(dest, old)
    try:
        os.rename(staged, dest)
    except OSError:
        os.rename(old, dest)
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(old)


def kernel_copy(src: str, dst: str, progress: Callable[[int], None] | None = None,
                plan: tuple[str, ...] | None = None) -> int:
    """Copy src to a new file dst by the fastest method this platform has; returns the bytes copied.

    In order (features.Features.copy_plan): a copy-on-write clone (Linux
    FICLONE, macOS APFS clonefile: instant, no bytes copied), the kernel's
    copy_file_range or sendfile (Linux), then reads and writes. A method the
    filesystem refuses falls through to the next, with the same result.
    """
    plan = plan or FEATURES.copy_plan
    if "clonefile" in plan:
        size = _clonefile(src, dst)
        if size is not None:
            if progress:
                progress(size)
            return size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        return copy_fds(fin.fileno(), fout.fileno(), progress, plan)


def copy_fds(infd: int, outfd: int, progress: Callable[[int], None] | None = None,
             plan: tuple[str, ...] | None = None) -> int:
    """kernel_copy between two open descriptors (a new, empty output); returns the bytes copied."""
    plan = plan or FEATURES.copy_plan
    if "ficlone" in plan:
        try:
            FEATURES.fcntl.ioctl(outfd, features.LINUX_FICLONE, infd)
            size = os.fstat(infd).st_size
            if progress:
                progress(size)
            return size
        except OSError:
            pass
    total = 0
    chunk = 64 * 1024 * 1024
    for method in ("copy_file_range", "sendfile"):
        if method not in plan:
            continue
        call = getattr(os, method)
        try:
            while True:
                n = call(infd, outfd, chunk) if method == "copy_file_range" else call(outfd, infd, None, chunk)
                if n == 0:
                    return total
                total += n
                if progress:
                    progress(n)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
        # sendfile reads at its own offset: both methods go on from `total`, wherever they stopped
        os.lseek(infd, total, os.SEEK_SET)
        os.lseek(outfd, total, os.SEEK_SET)
    os.lseek(infd, total, os.SEEK_SET)
    os.lseek(outfd, total, os.SEEK_SET)
    while True:
        block = os.read(infd, BLOCK_SIZE)
        if not block:
            return total
        write_all(outfd, block)
        total += len(block)
        if progress:
            progress(len(block))


def _clonefile(src: str, dst: str) -> int | None:
    """APFS clonefile(2) of src to the new name dst; its size, or None where the volume or OS cannot."""
    clone = features.clonefile()
    if clone is None:
        return None
    err = clone(src, dst)
    if err == 0:
        return os.path.getsize(dst)
    if err == errno.EEXIST:
        raise FileExistsError(err, os.strerror(err), dst)
    return None  # ENOTSUP (not APFS), EXDEV (another volume), ...: copy instead


def read_full(f, view: memoryview) -> int:
    """Fill `view` from the stream `f` (anything with readinto) unless it ends first; returns the bytes read."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def pread_full(fd: int, buf: memoryview, offset: int) -> int:
    """Fill `buf` from `fd` at `offset` unless the file ends first; returns the bytes read."""
    got = 0
    while got < len(buf):
        n = preadinto(fd, buf[got:], offset + got)
        if n <= 0:
            break
        got += n
    return got


def copy_and_hash(src_file, dst_files, progress: Callable[[int], None] | None = None,
                  block_size: int = BLOCK_SIZE) -> tuple[str, int]:
    """Read `src_file` once; hash each block while other threads write it to `dst_files`.

    `dst_files` is one file or a list (a cache copy and a workspace copy, say),
    each written by its own thread so a slow disk and a slow page cache
    overlap. hashlib and file writes release the GIL, so on two cores the copy
    costs little more than the hash alone. Memory stays at a few page-aligned
    blocks (aligned so that a `DirectFile` can hand them to the disk as they are).
    """
    dsts = list(dst_files) if isinstance(dst_files, (list, tuple)) else [dst_files]
    digest = hashlib.sha256()
    free: queue.Queue = queue.Queue()
    for _ in range(2 + len(dsts)):
        free.put(mmap.mmap(-1, block_size))
    inboxes = [queue.Queue(maxsize=2) for _ in dsts]
    readers: dict[int, int] = {}  # id(block) -> writers still using it
    lock = threading.Lock()
    error: list[BaseException] = []

    def release(buf) -> None:
        with lock:
            readers[id(buf)] -= 1
            done = not readers[id(buf)]
        if done:
            free.put(buf)

    def writer(dst, inbox: queue.Queue) -> None:
        while True:
            item = inbox.get()
            if item is None:
                return
            buf, n = item
            try:
                if not error:
                    if isinstance(dst, DirectFile):
                        dst.write(memoryview(buf)[:n])
                    else:
                        write_sliced(dst, memoryview(buf)[:n])
            except BaseException as exc:  # handed back to the reading thread
                error.append(exc)
            release(buf)

    threads = [threading.Thread(target=writer, args=(d, q), daemon=True) for d, q in zip(dsts, inboxes)]
    for t in threads:
        t.start()
    size = 0
    try:
        while not error:
            buf = free.get()
            n = src_file.readinto(buf)
            if not n:
                break
            digest.update(memoryview(buf)[:n])
            size += n
            with lock:
                readers[id(buf)] = len(dsts)
            for inbox in inboxes:
                inbox.put((buf, n))
            if progress:
                progress(n)
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for t in threads:
            t.join()
    if error:
        raise error[0]
    return digest.hexdigest(), size


class DirectFile:
    """A new file written around the page cache (O_DIRECT) where the filesystem allows it.

    A multi-GB cache copy is written once and rarely read back soon, so
    buffering it only costs: the kernel must find a fresh page for every
    4 KiB (slow on VMs whose free memory went back to the host), evicts the
    user's hot data, and must flush it all before the object is durable.
    Direct writes reach the disk while we hash and leave nothing dirty behind.
    An unaligned write (the tail of a file, a caller's bytes object) switches
    the file to ordinary buffered writes for the rest.
    """

    ALIGN = 4096

    def __init__(self, path: str):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        direct = FEATURES.o_direct
        self.direct = bool(direct)
        try:
            self.fd = os.open(path, flags | direct, 0o644)
        except OSError as exc:  # tmpfs, some FUSE and network filesystems refuse O_DIRECT
            if not direct or exc.errno != errno.EINVAL:
                raise
            self.fd = os.open(path, flags, 0o644)
            self.direct = False
        if FEATURES.nocache is not None:
            # macOS has no O_DIRECT; F_NOCACHE keeps these pages out of the cache with no alignment rules
            with contextlib.suppress(OSError):
                FEATURES.fcntl.fcntl(self.fd, FEATURES.nocache, 1)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        tail = len(view) % self.ALIGN if self.direct else 0
        if tail:  # the aligned part goes direct; the tail, and any later write, buffered
            self._write(view[:-tail])
            self._buffered()
            self._write(view[-tail:])
        else:
            self._write(view)
        return len(view)

    def _write(self, view: memoryview) -> None:
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:] if self.direct else view[done:done + PAGE_CACHE_WRITE])
            except OSError as exc:
                if not self.direct or exc.errno != errno.EINVAL:
                    raise
                self._buffered()  # misaligned memory: write it through the page cache instead

    def _buffered(self) -> None:
        fcntl = FEATURES.fcntl  # present wherever O_DIRECT is (features.detect)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~FEATURES.o_direct)
        self.direct = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "DirectFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StagedDirectFile(DirectFile):
    """A DirectFile for writers of odd-sized pieces: they are gathered into aligned blocks first.

    `pread` reads back what was written so far, from the disk or from the
    block still being gathered.
    """

    def __init__(self, path: str, block_size: int = BLOCK_SIZE):
        super().__init__(path)
        self.stage = mmap.mmap(-1, block_size)
        self.staged = 0
        self.flushed = 0  # file offset where the staged block starts
        self.reader = os.open(path, os.O_RDONLY)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            n = min(len(view) - done, len(self.stage) - self.staged)
            self.stage[self.staged:self.staged + n] = view[done:done + n]
            self.staged += n
            done += n
            if self.staged == len(self.stage):
                self._flush_stage()
        return done

    def _flush_stage(self) -> None:
        super().write(memoryview(self.stage)[:self.staged])
        self.flushed += self.staged
        self.staged = 0

    def pread(self, length: int, offset: int) -> bytes:
        out = bytearray()
        if offset < self.flushed:
            out += pread(self.reader, min(length, self.flushed - offset), offset)
        if len(out) < length:
            lo = offset + len(out) - self.flushed
            out += self.stage[lo:min(self.staged, lo + length - len(out))]
        return bytes(out)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self._flush_stage()
            finally:
                os.close(self.reader)
                self.stage.close()
                super().close()


class DirectReader:
    """Positional reads of a large file that is read once (packs, cached objects).

    Ranges the page cache holds are read from it; the rest around it
    (O_DIRECT), so bytes that are only on disk take no page-cache pages (slow
    to come by on VMs that hand free memory back to the host) and evict
    nothing the user had cached. Residency is asked with mincore: a
    non-blocking read (RWF_NOWAIT) would start the very readahead this avoids.
    Where O_DIRECT is refused, reads are ordinary ones.
    """

    ALIGN = DirectFile.ALIGN

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.direct_fd = -1
        self.direct = bool(FEATURES.o_direct)

    def read_into(self, offset: int, length: int, buf: memoryview) -> memoryview:
        """Bytes [offset, offset+length) (fewer at the end of the file) as a view of `buf`.

        `buf` must be page-aligned with 2 * ALIGN bytes beyond `length`: a
        direct read starts and ends on block boundaries around the range.
        """
        if self.direct and not in_page_cache(self.fd, offset, length) and self._open_direct():
            start = offset - offset % self.ALIGN
            stop = -(-(offset + length) // self.ALIGN) * self.ALIGN
            try:
                got = pread_full(self.direct_fd, buf[:stop - start], start)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False
            else:
                lo = offset - start
                return buf[lo:lo + max(0, min(length, got - lo))]
        return buf[:pread_full(self.fd, buf[:length], offset)]

    def _open_direct(self) -> bool:
        if self.direct_fd < 0:
            try:
                self.direct_fd = os.open(self.path, os.O_RDONLY | FEATURES.o_direct)
            except OSError as exc:  # tmpfs, some FUSE and network filesystems refuse O_DIRECT
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False
                return False
        return True

    def close(self) -> None:
        for fd in (self.fd, self.direct_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.direct_fd = -1

    def __enter__(self) -> "DirectReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def in_page_cache(fd: int, offset: int, length: int) -> bool | None:
    """Whether the page cache holds all of [offset, offset+length) of the open file `fd` (mincore).

    None where that cannot be asked (no mincore, or mapping refused).
    """
    libc = _libc()
    if libc is None or length <= 0:
        return None
    start = offset - offset % mmap.PAGESIZE
    size = offset + length - start
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
    if addr is None or addr == _MAP_FAILED:
        return None
    try:
        vec = _ctypes.create_string_buffer(-(-size // mmap.PAGESIZE))
        if libc.mincore(addr, size, vec) != 0:
            return None
        return vec.raw.translate(_LOW_BIT).find(0) < 0
    finally:
        libc.munmap(addr, size)


_ctypes = None
_libc_handle = None
_MAP_FAILED = None


def _libc():
    """libc's mmap, munmap and mincore through ctypes, loaded on first use (None where unavailable)."""
    global _ctypes, _libc_handle, _MAP_FAILED
    if _libc_handle is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)  # its own handle: the argtypes below are set on it
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_long]
            libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        except (OSError, AttributeError, TypeError):  # no mincore, or Windows (CDLL(None) is a TypeError)
            _libc_handle = False
        else:
            _ctypes, _libc_handle, _MAP_FAILED = ctypes, libc, ctypes.c_void_p(-1).value
    return _libc_handle or None


_LOW_BIT = bytes(i & 1 for i in range(256))  # mincore defines only each byte's lowest bit


def syncfs(folder: str) -> bool:
    """Flush every dirty page of the filesystem holding `folder` at once; False where only per-file syncs work.

    Linux: syncfs(2) (else sync(2)). macOS's sync only schedules the writes and
    Windows has neither, so there the caller fsyncs file by file.
    """
    if not FEATURES.syncfs:
        return False
    libc = features.libc()
    if libc is not None:
        try:
            fd = os.open(folder, os.O_RDONLY)
            try:
                if libc.syncfs(fd) == 0:
                    return True
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            pass
    if not hasattr(os, "sync"):
        return False
    os.sync()
    return True
