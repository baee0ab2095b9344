"""A repository-wide lock so two gitmodels commands never interleave workspace and index writes.

The lock is one the operating system drops when its holder dies, so it is
never stale: flock where there is fcntl (Linux, macOS), msvcrt's byte-range
lock on Windows. Only a platform with neither falls back to an
exclusively-created marker file, which a killed holder leaves behind.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

from gitmodels.errors import LockTimeout
from gitmodels.storage import fileio
from gitmodels.storage.features import FEATURES, Features


def _try_lock(fd: int, features: Features) -> bool:
    """One non-blocking attempt; True when this descriptor now holds the lock."""
    if features.lock == "flock":
        try:
            features.fcntl.flock(fd, features.fcntl.LOCK_EX | features.fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    msvcrt = features.msvcrt
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte; it may lie past the end of the file
    except OSError:  # EACCES / EDEADLOCK: another handle holds it
        return False
    return True


@contextlib.contextmanager
def repo_lock(path: str, timeout: float = 600.0, features: Features = FEATURES) -> Iterator[None]:
    """Hold the lock at `path` for the block; LockTimeout after `timeout` seconds of waiting."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if features.lock == "exclusive-create":
        with _marker_lock(path + ".held", timeout):
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while not _try_lock(fd, features):
            if time.monotonic() > deadline:
                raise LockTimeout(f"timed out after {timeout:.0f}s waiting for {path}")
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases flock and msvcrt locks alike


@contextlib.contextmanager
def _marker_lock(marker: str, timeout: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = fileio.create_new(marker, 0o644)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise LockTimeout(f"timed out after {timeout:.0f}s waiting for {marker}",
                                  f"if no gitmodels command is running, delete {marker}") from None
            time.sleep(0.05)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)
