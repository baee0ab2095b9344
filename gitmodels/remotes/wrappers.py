"""Behaviour stacked once around any backend: retries with backoff."""

from __future__ import annotations

import random
import time
from typing import Iterable, Iterator

from gitmodels.errors import RemoteUnreachable
from gitmodels.remotes.base import Backend, Progress, TransientError


class Retrying(Backend):
    """Retry TransientError with exponential backoff and jitter; everything else passes through."""

    def __init__(self, inner: Backend, attempts: int = 5, base_delay: float = 0.2, max_delay: float = 5.0):
        self.inner = inner
        self.url = inner.url
        self.settings = inner.settings
        self.scheme = inner.scheme
        self.read_only = inner.read_only
        self.can_list = inner.can_list
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.unreachable = False

    def _call(self, fn, *args, **kwargs):
        attempts = 1 if self.unreachable else self.attempts
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except TransientError as exc:
                if attempt == attempts:
                    if isinstance(exc, RemoteUnreachable):
                        self.unreachable = True  # later calls fail fast instead of backing off again
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))

    def stat(self, key: str) -> int | None:
        return self._call(self.inner.stat, key)

    def exists_many(self, keys: Iterable[str], jobs: int = 16) -> set[str]:
        keys = list(keys)
        return self._call(self.inner.exists_many, keys, jobs)

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        return self._call(self.inner.upload, key, src, size, progress, movable)

    @property
    def can_copy_to(self) -> bool:
        return self.inner.can_copy_to

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        def attempt() -> str | None:
            for path in (dst, copy_to) if copy_to else (dst,):
                open(path, "wb").close()  # a retry starts from an empty file
            return self.inner.download(key, dst, progress, copy_to)

        return self._call(attempt)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        return self._call(self.inner.read_range, key, offset, length)

    def read_range_into(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        return self._call(self.inner.read_range_into, key, offset, length, buf)

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        return iter(self._call(lambda: list(self.inner.list(prefix))))

    def delete(self, key: str) -> None:
        return self._call(self.inner.delete, key)

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()
