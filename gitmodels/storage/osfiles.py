"""File operations whose rules differ between Linux, macOS and Windows, written once for all three.

Durability: macOS needs F_FULLFSYNC where Linux and Windows take fsync.
Replacing and deleting: Windows refuses both on a read-only file (the cache's
objects, hardlinked or symlinked workspace files) and on a file another
program holds open; POSIX allows both. Callers use these instead of
os.replace / os.unlink / shutil.rmtree on anything gitmodels made read-only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time

from gitmodels.errors import FileInUse
from gitmodels.storage.features import FEATURES


def fsync_fd(fd: int) -> None:
    """Make a file's written bytes durable: fsync, and on macOS F_FULLFSYNC.

    macOS's fsync hands the bytes to the drive but not through its write
    cache; only F_FULLFSYNC does (it costs a drive-cache flush, milliseconds
    on an SSD, so gitmodels asks for it only where it promised durability).
    A filesystem that refuses it (some network ones) gets the plain fsync.
    """
    if FEATURES.full_fsync is not None:
        try:
            FEATURES.fcntl.fcntl(fd, FEATURES.full_fsync)
            return
        except OSError:
            pass
    os.fsync(fd)


REPLACE_RETRY_SECONDS = 2.0  # how long a replace waits for another program to close the target (Windows)


def create_new(path: str, mode: int) -> int:
    """A descriptor open for writing on a file made now at `path` with permissions `mode` (umask applied),
    never one that already exists (O_EXCL); binary on Windows, where a descriptor is text by default."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)


def make_writable(path: str) -> None:
    """Clear the read-only bit of a file, so Windows lets it be replaced or deleted."""
    with contextlib.suppress(OSError):
        mode = os.lstat(path).st_mode
        if not mode & 0o200:
            os.chmod(path, mode | 0o200)


def replace(src: str, dst: str, *, wait: float | None = None, windows: bool | None = None, _replace=None) -> None:
    """os.replace that also works on Windows: onto a read-only file, and onto one another program has open.

    POSIX replaces either at once. Windows refuses both (access denied): the
    read-only bit is cleared and the rename tried again; a file held open
    (an antivirus scan, an editor, a notebook that loaded the model) is
    waited for up to `wait` seconds, then reported in one line.
    """
    do = _replace or os.replace
    try:
        do(src, dst)
        return
    except PermissionError:  # on POSIX it means a folder we cannot write: nothing to wait for
        if not (os.name == "nt" if windows is None else windows) or not os.path.lexists(dst):
            raise
    make_writable(dst)
    deadline = time.monotonic() + (REPLACE_RETRY_SECONDS if wait is None else wait)
    delay = 0.01
    while True:
        try:
            do(src, dst)
            return
        except PermissionError:
            if time.monotonic() >= deadline:
                raise FileInUse(f"cannot replace {dst}: another program has it open") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def remove(path: str, *, _unlink=None) -> None:
    """Delete a file, read-only or not (Windows refuses to delete a read-only file)."""
    unlink = _unlink or os.unlink
    try:
        unlink(path)
    except PermissionError:
        if not os.path.lexists(path) or os.path.isdir(path):
            raise
        make_writable(path)
        unlink(path)


def rmtree(path: str) -> None:
    """shutil.rmtree that also deletes read-only files on Windows."""
    def retry_writable(func, failed, exc_info) -> None:
        if not issubclass(exc_info[0], PermissionError):
            raise exc_info[1]
        make_writable(failed)
        func(failed)

    shutil.rmtree(path, onerror=retry_writable)


def make_readonly(path: str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode & ~0o222)


_SEEK_LOCK = threading.Lock()  # the fallbacks below move a shared file offset: one at a time


def pread(fd: int, length: int, offset: int) -> bytes:
    """os.pread where there is one (POSIX); Windows seeks and reads under a lock."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)


def preadinto(fd: int, view: memoryview, offset: int) -> int:
    """Read into `view` at `offset` without a copy where os.preadv exists; the bytes read."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = pread(fd, len(view), offset)
    view[:len(data)] = data
    return len(data)


def pwrite(fd: int, data, offset: int) -> int:
    """os.pwrite where there is one (POSIX); Windows seeks and writes under a lock."""
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)
