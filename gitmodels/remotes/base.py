"""The storage primitives every remote implements.

A backend stores immutable blobs under '/'-separated keys relative to its URL.
It knows nothing of hashes or models: the object layout (`object_key` and the
other keys) lives in `gitmodels.storage.objects`, the hash checks in the
transfer queue (`gitmodels.sync.queue`), and retries and parallelism are
wrappers stacked once (`gitmodels.remotes.wrappers`), never per backend.
"""

from __future__ import annotations

import abc
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ClassVar, Iterable, Iterator, Mapping

from gitmodels.errors import RemoteError
# The layout is defined in storage.objects; these names stay importable from here for the backends' callers.
from gitmodels.storage.objects import CHUNK_PREFIXES, OBJECTS_PREFIX, classify_key, object_key, oid_from_key  # noqa: F401

Progress = Callable[[int], None]
"""Called with the number of bytes just moved (an increment, not a total)."""

class KeyNotFound(RemoteError):
    """The key is not on the remote (a normal answer, never retried)."""


class TransientError(RemoteError):
    """A failure worth retrying: throttling, a dropped connection, a 5xx."""

    default_hint = "check the network and run the command again; it resumes where it stopped"


READ_SLACK = 2 * 4096  # room read_range_into may use beyond the bytes asked for (alignment)


class Backend(abc.ABC):
    scheme: ClassVar[str] = ""
    read_only: ClassVar[bool] = False  # upload and delete raise ReadOnlyRemote (an HTTP remote)
    can_list: ClassVar[bool] = True    # list() works; False where the server cannot enumerate keys

    def __init__(self, url: str, settings: Mapping[str, object] | None = None):
        self.url = url
        self.settings = dict(settings or {})

    @abc.abstractmethod
    def stat(self, key: str) -> int | None:
        """The size of `key`, or None when it is absent."""

    def exists_many(self, keys: Iterable[str], jobs: int = 16) -> set[str]:
        """Which of `keys` exist. Backends with a cheaper batch answer override this."""
        keys = list(keys)
        if len(keys) <= 1:
            return {k for k in keys if self.stat(k) is not None}
        with ThreadPoolExecutor(max_workers=min(jobs, len(keys))) as pool:
            sizes = list(pool.map(self.stat, keys))
        return {k for k, s in zip(keys, sizes) if s is not None}

    @abc.abstractmethod
    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        """Store the file `src` at `key`, atomically: readers never see a partial blob.

        `movable`: `src` is a temporary file the caller deletes afterwards, so a
        backend on the same filesystem may link it into place instead of copying.
        """

    can_copy_to = False  # download() can write a second copy (for the workspace) in the same pass

    @abc.abstractmethod
    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        """Write the blob at `key` into the (new, empty) file `dst`.

        Returns the blob's hex SHA-256 when the backend computed it while
        streaming in order, else None (the caller then hashes `dst`).
        Raises KeyNotFound when the key is absent. Backends with
        `can_copy_to` also write the same bytes to `copy_to` when given; the
        others ignore it.
        """

    @abc.abstractmethod
    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """`length` bytes of `key` from `offset` (for packs); KeyNotFound when absent."""

    def read_range_into(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        """`read_range` into the caller's page-aligned `buf`, which has READ_SLACK bytes to spare.

        Returns a view of `buf` (not necessarily at its start). Lets a rebuild
        reuse its buffers rather than take new memory for every range, and a
        local backend read around the page cache. The default copies
        read_range's bytes.
        """
        data = self.read_range(key, offset, length)
        buf[:len(data)] = data
        return buf[:len(data)]

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every blob whose key starts with `prefix`."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; deleting an absent key is not an error."""

    def describe(self) -> str:
        return self.url

    def close(self) -> None:
        pass

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
