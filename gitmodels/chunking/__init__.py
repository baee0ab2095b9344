"""Chunk-level deduplication: store and move only the bytes that changed between versions.

Large objects are split by content-defined chunking (`cdc`), and pushed as
packs of new chunks plus one recipe per object (`formats`, docs/storage.md);
pulls rebuild an object from chunks already in the local cache and ranged
reads of packs, checking every chunk and the whole file. The oid, the cache's
whole-file objects and the pointer never change: chunking is only how a
remote stores bytes, and remotes keep serving whole objects too.

Whether an object is chunked is decided in one place, `gitmodels.sync.adapters.choose`;
the transfer queue's `Chunked` adapter calls, per object:

    upload_object(backend, state_dir, oid, path, size, progress, jobs=share)
    stats = download_object(backend, state_dir, oid, tmp, cache_root, progress, jobs=share)
    if stats is None:                         ...download the whole object as before...
    index_local_object(state_dir, oid, path)  after add / a whole-object pull (cheap when done)
    forget_local_object(state_dir, oid)       when the cache drops an object

`state_dir` is a directory of the caller's choosing (`<cache>/chunks/`). Keys
(`recipe_key`, `pack_key`) come from `gitmodels.storage.objects`.
"""

from __future__ import annotations

import os

from gitmodels.errors import CorruptObject
from gitmodels.chunking.cdc import (CHUNKER, ChunkerUnavailable, ChunkList, DedupUnavailable, FileScan, available, scan_file, unavailable_reason, warn_unavailable)
from gitmodels.chunking.download import DownloadStats, download_object
from gitmodels.storage.objects import pack_key, recipe_key
from gitmodels.chunking.formats import Recipe
from gitmodels.chunking.maintenance import (ChunkGcPlan, PackReport, RemoteReport, RemoteStats, apply_gc, plan_gc, read_recipes, referenced_packs, remote_stats, verify_pack, verify_remote)
from gitmodels.chunking.remote import SyncResult, remote_has_object, remote_has_objects, sync_remote
from gitmodels.chunking.index import open_index
from gitmodels.chunking.upload import UploadStats, upload_object


def index_local_object(state_dir: str | os.PathLike, oid: str, path: str | os.PathLike,
                       scan: FileScan | None = None) -> bool:
    """Record the chunks of the cached object `oid` (at `path`) for later rebuilds.

    Cheap (one indexed lookup) when `oid` is already indexed; otherwise reads
    the file once, unless `scan` (from `scan_file` during add) is given.
    Returns True when it indexed something. A no-op without pyfastcdc.
    Raises CorruptObject when the file does not hash to `oid`.
    """
    state = open_index(state_dir)
    if state.has_local(oid):
        return False
    if scan is None:
        if not available():
            return False
        scan = scan_file(path)
    if scan.oid != oid:
        raise CorruptObject(f"{os.fspath(path)} hashes to {scan.oid}, not {oid}",
                            "run `gitmodels fsck` to quarantine it")
    state.record_local(oid, scan.size, scan.chunks, scan.chunker)
    return True


def forget_local_object(state_dir: str | os.PathLike, oid: str) -> None:
    """Drop `oid` from the local chunk index (call when the cache deletes the object)."""
    open_index(state_dir).forget_local(oid)


def forget_remote(backend, state_dir: str | os.PathLike) -> None:
    """Drop everything known about a remote's chunks; the next push lists its packs again."""
    state = open_index(state_dir)
    state.forget_remote(state.remote_id(backend.url))
    state.synced.pop(backend.url, None)


__all__ = [
    "CHUNKER", "ChunkList", "ChunkerUnavailable", "DedupUnavailable", "DownloadStats",
    "FileScan", "ChunkGcPlan", "PackReport", "Recipe", "RemoteReport", "RemoteStats", "SyncResult", "UploadStats",
    "apply_gc", "available", "download_object", "forget_local_object", "forget_remote", "index_local_object",
    "pack_key", "plan_gc", "read_recipes", "recipe_key", "referenced_packs", "remote_has_object",
    "remote_has_objects", "remote_stats", "scan_file", "sync_remote", "unavailable_reason",
    "upload_object", "verify_pack", "verify_remote", "warn_unavailable",
]
