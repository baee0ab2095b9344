"""A repository-wide lock so two gitmodels commands never interleave workspace and index writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

from gitmodels.errors import LockTimeout


@contextlib.contextmanager
def repo_lock(path: str, timeout: float = 600.0) -> Iterator[None]:
    """flock-based: released by the kernel if the holder dies, so never stale."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"timed out after {timeout:.0f}s waiting for {path}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
