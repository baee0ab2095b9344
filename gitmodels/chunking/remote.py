"""Reading chunked storage on a remote: recipes, pack indexes, and what the remote holds."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from gitmodels.errors import CorruptObject, ObjectMissing
from gitmodels.remotes.base import Backend, KeyNotFound
from gitmodels.storage.objects import (PACKS_PREFIX, RECIPES_PREFIX, object_key, oid_from_recipe_key, pack_id_from_key,
                                       pack_key, recipe_key)
from gitmodels.chunking import formats
from gitmodels.chunking.formats import FormatError, PackEntry, Recipe, RecipeRuns, decode_recipe
from gitmodels.chunking.index import ChunkIndex, open_index

SYNC_TTL = 300.0  # seconds a process trusts its view of a remote's packs before listing them again
_TAIL_READ = 64 * 1024  # one ranged read of a pack's end usually covers its whole index


def remote_has_objects(backend: Backend, oids: Iterable[str], jobs: int = 16) -> set[str]:
    """The oids the remote can serve, whole (objects/...) or chunked (recipes/...)."""
    oids = list(dict.fromkeys(oids))
    keys = {object_key(o): o for o in oids}
    keys.update({recipe_key(o): o for o in oids})
    present = backend.exists_many(list(keys), jobs)
    return {keys[k] for k in present}


def remote_has_object(backend: Backend, oid: str) -> bool:
    return bool(remote_has_objects(backend, [oid]))


def _tmp_path(state: ChunkIndex | None, what: str) -> str:
    folder = state.tmp_dir if state else None
    if folder is None:
        import tempfile

        folder = tempfile.gettempdir()
    return os.path.join(folder, f"{what}-{uuid.uuid4().hex[:16]}")


def fetch_recipe_bytes(backend: Backend, oid: str, state: ChunkIndex | None = None) -> bytes | None:
    """The raw recipe for `oid`, or None when the remote has no recipe for it."""
    tmp = _tmp_path(state, "recipe")
    try:
        try:
            backend.download(recipe_key(oid), tmp)
        except KeyNotFound:
            return None
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def fetch_recipe(backend: Backend, oid: str, state: ChunkIndex | None = None, *,
                 resolve: bool = True, jobs: int = 8) -> tuple[Recipe | RecipeRuns, int] | None:
    """(recipe, bytes read) for `oid`, or None when the remote has none.

    A version 2 recipe is resolved into its chunk list from its packs' indexes
    (counted in the bytes read) unless `resolve` is False (its pack list is all
    gc needs). CorruptObject when the recipe or a pack index it reads is
    damaged, ObjectMissing when a pack it reads is gone.
    """
    blob = fetch_recipe_bytes(backend, oid, state)
    if blob is None:
        return None
    try:
        recipe = decode_recipe(blob, expect_oid=oid)
    except FormatError as exc:
        raise _damaged_recipe(backend, oid, exc) from None
    if not resolve or isinstance(recipe, Recipe):
        return recipe, len(blob)
    read: list[int] = []
    indexes = pack_indexes(backend, recipe.pack_ids, oid, jobs, read=read)
    try:
        resolved = recipe.resolve(indexes.__getitem__)
    except FormatError as exc:
        raise _damaged_recipe(backend, oid, exc) from None
    return resolved, len(blob) + sum(read)


def _damaged_recipe(backend: Backend, oid: str, exc: Exception) -> CorruptObject:
    return CorruptObject(f"recipe {recipe_key(oid)} on {backend.describe()} is damaged: {exc}",
                         "push the model again from a clone that has it; the recipe is rewritten")


_INDEXES: dict[tuple[str, str], list[PackEntry]] = {}  # (remote url, pack id) -> index; a pack never changes


def pack_indexes(backend: Backend, pack_ids: Iterable[str], needed_by: str = "", jobs: int = 8,
                 read: list[int] | None = None) -> dict[str, list[PackEntry]]:
    """The indexes of these packs (read in parallel, remembered for this process); the bytes
    read from the remote for them are appended to `read`."""
    wanted = list(dict.fromkeys(pack_ids))
    todo = [p for p in wanted if (backend.url, p) not in _INDEXES]

    def fetch(pack_id: str) -> tuple[str, tuple[list[PackEntry], int]]:
        try:
            return pack_id, _read_pack_index(backend, pack_id)
        except KeyNotFound:
            raise ObjectMissing(f"pack {pack_key(pack_id)} is missing from {backend.describe()}"
                                + (f"; {needed_by} cannot be rebuilt from it" if needed_by else ""),
                                "push the model again from a clone that has it") from None
        except FormatError as exc:
            raise CorruptObject(f"pack {pack_key(pack_id)} on {backend.describe()} has a damaged index ({exc})"
                                + (f"; {needed_by} cannot be rebuilt from it" if needed_by else ""),
                                "run `gitmodels fsck --remote` to list the models affected; push them again "
                                "from a clone that has them") from None

    if todo:
        with ThreadPoolExecutor(max(1, min(jobs, len(todo))), thread_name_prefix="gm-packidx") as pool:
            for pack_id, (entries, nbytes) in pool.map(fetch, todo):
                _INDEXES[(backend.url, pack_id)] = entries
                if read is not None:
                    read.append(nbytes)
    return {p: _INDEXES[(backend.url, p)] for p in wanted}


def read_pack_index(backend: Backend, pack_id: str, size: int | None = None) -> list[PackEntry]:
    """A pack's index, from its tail (one ranged read for packs of the usual size).

    Raises FormatError when the pack's end is not a valid index, KeyNotFound when it is gone.
    """
    return _read_pack_index(backend, pack_id, size)[0]


def _read_pack_index(backend: Backend, pack_id: str, size: int | None = None) -> tuple[list[PackEntry], int]:
    """(index, bytes read for it)."""
    key = pack_key(pack_id)
    if size is None:
        size = backend.stat(key)
        if size is None:
            raise KeyNotFound(f"{key} is not on remote {backend.describe()}")
    if size < formats.PACK_HEADER_SIZE + formats.PACK_FOOTER_SIZE:
        raise FormatError("pack too small")
    take = min(size, _TAIL_READ)
    tail = backend.read_range(key, size - take, take)
    if len(tail) != take:
        raise FormatError("short read of the pack index")
    _, count = formats.parse_pack_footer(tail[-formats.PACK_FOOTER_SIZE:], size)
    need = formats.pack_trailer_size(count)
    read = take
    if need > take:
        tail = backend.read_range(key, size - need, need)
        read += need
        if len(tail) != need:
            raise FormatError("short read of the pack index")
    trailer = tail[len(tail) - need:]
    if formats.pack_id_of(trailer) != pack_id:
        raise FormatError("the pack's index does not match its name")
    return formats.parse_pack_tail(trailer, size), read


@dataclasses.dataclass(frozen=True)
class SyncResult:
    packs_listed: int = 0
    packs_read: int = 0
    packs_dropped: int = 0
    unreadable: tuple[tuple[str, str], ...] = ()  # (pack id, why) for packs whose index could not be read
    skipped: bool = False  # the view was fresh enough; nothing was asked of the remote


def list_packs(backend: Backend) -> dict[str, int]:
    """pack id -> size of every pack on the remote."""
    out = {}
    for key, size in backend.list(PACKS_PREFIX):
        pack_id = pack_id_from_key(key)
        if pack_id:
            out[pack_id] = size
    return out


def list_recipes(backend: Backend) -> dict[str, int]:
    """oid -> recipe size of every recipe on the remote."""
    out = {}
    for key, size in backend.list(RECIPES_PREFIX):
        oid = oid_from_recipe_key(key)
        if oid:
            out[oid] = size
    return out


def sync_remote(backend: Backend, state: ChunkIndex | str | os.PathLike, *, force: bool = False,
                jobs: int = 8) -> SyncResult:
    """Bring the local view of which chunks `backend` holds up to date.

    Lists the remote's packs once (one LIST call per thousand packs on S3/GCS),
    forgets packs that are gone and reads the index of each pack not seen
    before (one ranged read each). Skipped when this process synced the remote
    less than SYNC_TTL seconds ago, unless `force`.
    """
    if not isinstance(state, ChunkIndex):
        state = open_index(state)
    url = backend.url
    remote = state.remote_id(url)
    with state.sync_lock:
        last = state.synced.get(url)
        if not force and last is not None and time.monotonic() - last < SYNC_TTL:
            return SyncResult(skipped=True)
        # What we knew before listing: a pack another thread records meanwhile is not "gone".
        known = state.known_packs(remote)
        listed = list_packs(backend)
        gone = [p for p in known if p not in listed]
        if gone:
            state.forget_packs(remote, gone)
        todo = [p for p in listed if p not in known]
        unreadable = []

        def read(pack_id: str):
            try:
                return pack_id, read_pack_index(backend, pack_id, listed[pack_id]), None
            except (FormatError, KeyNotFound) as exc:
                return pack_id, None, str(exc)

        read_count = 0
        if todo:
            with ThreadPoolExecutor(max(1, min(jobs, len(todo))), thread_name_prefix="gm-sync") as pool:
                for pack_id, entries, why in pool.map(read, todo):
                    if entries is None:
                        unreadable.append((pack_id, why))
                        continue
                    state.add_pack(remote, pack_id, listed[pack_id], [(e.chunk_id, e.offset, e.length) for e in entries])
                    read_count += 1
        state.mark_synced(remote)
        state.synced[url] = time.monotonic()
        return SyncResult(len(listed), read_count, len(gone), tuple(unreadable))
