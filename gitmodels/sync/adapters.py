"""How one object crosses the wire: whole, or as chunks (docs/storage.md).

`choose(size)` is the one place that decides whether an object is chunked:
at `add` (the workspace indexes its chunks while copying it in), at push and
at fetch. Its threshold comes from `config.DEFAULTS` unless the repository's
config gives one. The adapters do not decide what to send: the transfer queue
(`gitmodels.sync.queue`) asked the remote once what it holds and hands each
adapter an object the remote lacks, plus the workers it may use.
"""

from __future__ import annotations

import os
from typing import Protocol

from gitmodels.config import DEFAULTS
from gitmodels.remotes.base import Backend, KeyNotFound, Progress
from gitmodels.storage.objects import object_key, recipe_key
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import Store

DEFAULT_THRESHOLD: int = DEFAULTS["core"]["chunk_threshold"]


class Side(Protocol):
    """What an adapter needs from the queue: the cache, the remote, and what is known of both."""
    store: Store
    backend: Backend
    state: StatCache
    chunking: bool  # False: `core.chunking` is off; recipes are neither written nor looked for


class WholeObject:
    """The object is one blob at objects/<2hex>/<oid>."""

    chunked = False
    key = staticmethod(object_key)  # where the remote holds it (the queue's existence pass asks here)

    def push(self, side: Side, oid: str, size: int, progress: Progress | None, jobs: int) -> int:
        """Upload the cached object; returns the bytes sent."""
        side.backend.upload(object_key(oid), side.store.file(oid), size, progress)
        return size

    def fill(self, side: Side, oid: str, tmp: str, progress: Progress | None, copy_to: str | None,
             jobs: int) -> tuple[str | None, int]:
        """Download the object into `tmp`: (hex digest when the backend computed it, bytes received).

        Small objects are looked for whole first, so many small models cost one
        request each; one pushed as chunks by a clone with a lower threshold is
        rebuilt from its recipe.
        """
        try:
            return _download_whole(side, oid, tmp, progress, copy_to)
        except KeyNotFound:
            if side.chunking:
                received = _rebuild(side, oid, tmp, progress, copy_to, jobs)
                if received is not None:
                    return oid, received
            raise


class Chunked:
    """The object is a recipe at recipes/<2hex>/<oid> naming chunks in shared packs."""

    chunked = True
    key = staticmethod(recipe_key)

    def push(self, side: Side, oid: str, size: int, progress: Progress | None, jobs: int) -> int:
        """Upload only the chunks the remote lacks, then the recipe; returns the bytes sent.

        The queue found neither objects/ nor recipes/ holding `oid`, so the
        recipe is not looked up again.
        """
        from gitmodels.chunking.upload import upload_object

        path = side.store.file(oid)
        trusted = side.state.known_oid(path, os.stat(path)) == oid  # unchanged since it was verified
        stats = upload_object(side.backend, side.store.chunk_dir, oid, path, size, progress,
                              jobs=jobs, trusted=trusted, recipe_checked=True)
        return stats.bytes_sent

    def fill(self, side: Side, oid: str, tmp: str, progress: Progress | None, copy_to: str | None,
             jobs: int) -> tuple[str | None, int]:
        """Rebuild the object from its recipe (verified against `oid` while streaming), else
        download it whole (a clone with chunking off pushed it)."""
        received = _rebuild(side, oid, tmp, progress, copy_to, jobs)
        if received is not None:
            return oid, received
        return _download_whole(side, oid, tmp, progress, copy_to)


WHOLE = WholeObject()
CHUNKED = Chunked()
Adapter = WholeObject | Chunked


def choose(size: int, threshold: int | None = DEFAULT_THRESHOLD, *, pushing: bool = True) -> Adapter:
    """How an object of `size` bytes is stored and moved: chunked from `threshold` bytes up.

    `threshold` None turns chunking off. Writing chunks needs pyfastcdc's
    extension: without it a push (and an add, `pushing`) stores the object
    whole and the first such object of the process warns. Reading chunks
    never needs it, so a fetch chooses by size alone.
    """
    if threshold is None or size < threshold:
        return WHOLE
    if pushing:
        from gitmodels.chunking.cdc import available, warn_unavailable

        if not available():
            warn_unavailable()
            return WHOLE
    return CHUNKED


def _download_whole(side: Side, oid: str, tmp: str, progress: Progress | None,
                    copy_to: str | None) -> tuple[str | None, int]:
    """(hex digest when the backend computed it while streaming, bytes received); KeyNotFound when absent."""
    digest = side.backend.download(object_key(oid), tmp, progress, copy_to if side.backend.can_copy_to else None)
    return digest, os.path.getsize(tmp)


def _rebuild(side: Side, oid: str, tmp: str, progress: Progress | None, copy_to: str | None,
             jobs: int) -> int | None:
    """Bytes received rebuilding `oid` from its recipe into `tmp`; None when the remote has no recipe."""
    from gitmodels.chunking.download import download_object

    stats = download_object(side.backend, side.store.chunk_dir, oid, tmp, side.store.root, progress,
                            jobs=jobs, fsync=False,  # the store syncs once per command
                            copy_to=copy_to)
    return None if stats is None else stats.bytes_downloaded


__all__ = ["CHUNKED", "DEFAULT_THRESHOLD", "WHOLE", "Adapter", "Chunked", "WholeObject", "choose"]
