"""Crash-safe, streaming file operations shared by the cache, remotes and workspace.

Writes go to a temporary name in the target folder and are renamed into place,
so a reader never sees half a file and an interrupted command leaves only a
temp file that the next run ignores and cleans.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import queue
import shutil
import threading
import uuid
from typing import Callable, Iterator

from .hashing import BLOCK_SIZE

FICLONE = 0x40049409  # linux/fs.h: share extents copy-on-write (btrfs, xfs, ...)
TMP_MARK = ".gmtmp-"


def tmp_name_for(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_MARK}{name[:40]}-{uuid.uuid4().hex[:12]}")


def fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
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
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, final)
        if fsync:
            fsync_dir(os.path.dirname(final))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes_atomic(final: str, data: bytes, *, fsync: bool = True) -> None:
    with atomic_path(final, fsync=fsync) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


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


def kernel_copy(src: str, dst: str, progress: Callable[[int], None] | None = None) -> int:
    """Copy src to a new file dst in the kernel (copy_file_range), reflinking where the fs can."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            size = os.fstat(fin.fileno()).st_size
            if progress:
                progress(size)
            return size
        except OSError:
            pass
        total = 0
        infd, outfd = fin.fileno(), fout.fileno()
        chunk = 64 * 1024 * 1024
        try:
            while True:
                n = os.copy_file_range(infd, outfd, chunk)
                if n == 0:
                    break
                total += n
                if progress:
                    progress(n)
            return total
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
        fin.seek(total)
        fout.seek(total)
        while True:
            block = fin.read(BLOCK_SIZE)
            if not block:
                return total
            fout.write(block)
            total += len(block)
            if progress:
                progress(len(block))


def copy_and_hash(src_file, dst_file, progress: Callable[[int], None] | None = None,
                  block_size: int = BLOCK_SIZE) -> tuple[str, int]:
    """Read `src_file` once; hash each block while a second thread writes the previous one.

    hashlib and file writes release the GIL, so on two cores the copy costs
    little more than the hash alone. Memory stays at three blocks.
    """
    digest = hashlib.sha256()
    free: queue.Queue = queue.Queue()
    full: queue.Queue = queue.Queue(maxsize=2)
    for _ in range(3):
        free.put(bytearray(block_size))
    error: list[BaseException] = []

    def writer() -> None:
        while True:
            item = full.get()
            if item is None:
                return
            buf, n = item
            try:
                if not error:
                    dst_file.write(memoryview(buf)[:n])
            except BaseException as exc:  # handed back to the reading thread
                error.append(exc)
            free.put(buf)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    size = 0
    try:
        while not error:
            buf = free.get()
            n = src_file.readinto(buf)
            if not n:
                free.put(buf)
                break
            digest.update(memoryview(buf)[:n])
            size += n
            full.put((buf, n))
            if progress:
                progress(n)
    finally:
        full.put(None)
        thread.join()
    if error:
        raise error[0]
    return digest.hexdigest(), size


class WritebackFile:
    """A raw file that starts disk writeback of each block as soon as it is written.

    The kernel then flushes while we keep hashing, so the fsync before the
    rename finds almost nothing left to do (sync_file_range, Linux only).
    """

    def __init__(self, raw):
        self.raw = raw
        self.offset = 0
        self._sfr = _sync_file_range()

    def write(self, data) -> int:
        n = self.raw.write(data)
        if self._sfr is not None and n:
            self._sfr(self.raw.fileno(), self.offset, n, 2)  # SYNC_FILE_RANGE_WRITE
        self.offset += n
        return n


_SFR: list = []


def syncfs(folder: str) -> None:
    """Flush every dirty page of the filesystem holding `folder` (Linux syncfs; else sync)."""
    try:
        import ctypes

        fd = os.open(folder, os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _sync_file_range():
    if not _SFR:
        fn = None
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        except (OSError, AttributeError):
            fn = None
        _SFR.append(fn)
    return _SFR[0]


def make_readonly(path: str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode & ~0o222)
