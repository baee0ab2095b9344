"""gc, fsck and stats over chunked storage on a remote."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping

from gitmodels.errors import CorruptObject, ObjectMissing
from gitmodels.remotes.base import Backend, KeyNotFound
from gitmodels.storage import fileio
from gitmodels.storage.objects import OBJECTS_PREFIX, oid_from_key, pack_key, recipe_key
from gitmodels.chunking import formats
from gitmodels.chunking.formats import FormatError, Recipe, RecipeRuns
from gitmodels.chunking.remote import _tmp_path, fetch_recipe, list_packs, list_recipes, pack_indexes
from gitmodels.chunking.index import open_index


def read_recipes(backend: Backend, oids: Iterable[str], jobs: int = 8, *,
                 resolve: bool = True) -> dict[str, Recipe | RecipeRuns]:
    """The recipes of those `oids` that have one. CorruptObject if one is damaged.

    Unresolved (`resolve=False`), version 2 recipes give their pack list only.
    """
    oids = list(dict.fromkeys(oids))
    if not oids:
        return {}
    with ThreadPoolExecutor(max(1, min(jobs, len(oids))), thread_name_prefix="gm-recipes") as pool:
        found = list(pool.map(lambda o: fetch_recipe(backend, o, resolve=resolve), oids))
    return {oid: f[0] for oid, f in zip(oids, found) if f is not None}


def referenced_packs(backend: Backend, oids: Iterable[str], jobs: int = 8) -> dict[str, set[str]]:
    """pack id -> the oids (among `oids`) whose recipes read from it."""
    out: dict[str, set[str]] = {}
    for oid, recipe in read_recipes(backend, oids, jobs, resolve=False).items():
        for pack_id in recipe.pack_ids:
            out.setdefault(pack_id, set()).add(oid)
    return out


def _resolve_each(backend: Backend, recipes: list, jobs: int) -> list:
    """Version 2 recipes resolved where their packs can be read; the others as they are."""
    def one(recipe):
        if not isinstance(recipe, RecipeRuns):
            return recipe
        try:
            return recipe.resolve(pack_indexes(backend, recipe.pack_ids, recipe.oid, jobs).__getitem__)
        except (CorruptObject, ObjectMissing, FormatError):
            return recipe
    return [one(r) for r in recipes]


@dataclasses.dataclass(frozen=True)
class ChunkGcPlan:
    recipes: tuple[str, ...]  # oids whose recipes go
    packs: tuple[str, ...]  # packs no kept recipe reads
    bytes_freed: int
    packs_kept: int


def plan_gc(backend: Backend, keep_oids: Iterable[str], jobs: int = 8, *, recipes: Mapping[str, int] | None = None,
            packs: Mapping[str, int] | None = None) -> ChunkGcPlan:
    """What to delete so that only the chunked objects in `keep_oids` remain.

    A pack goes when no kept recipe reads any chunk of it. A damaged kept
    recipe stops the plan (CorruptObject): what it references is unknown.
    `recipes` / `packs`: the caller's listing (gc lists the remote once), else listed here.
    """
    keep = set(keep_oids)
    recipes = list_recipes(backend) if recipes is None else recipes
    packs = list_packs(backend) if packs is None else packs
    drop_recipes = sorted(o for o in recipes if o not in keep)
    used = referenced_packs(backend, [o for o in recipes if o in keep], jobs)
    drop_packs = sorted(p for p in packs if p not in used)
    freed = sum(recipes[o] for o in drop_recipes) + sum(packs[p] for p in drop_packs)
    return ChunkGcPlan(tuple(drop_recipes), tuple(drop_packs), freed, len(packs) - len(drop_packs))


def apply_gc(backend: Backend, plan: ChunkGcPlan, state_dir: str | os.PathLike | None = None) -> None:
    """Delete what `plan_gc` chose: recipes first (so none ever names a deleted pack), then packs.

    A push that races with this re-checks its packs after writing its recipe
    and sends any that vanished again.
    """
    for oid in plan.recipes:
        backend.delete(recipe_key(oid))
    for pack_id in plan.packs:
        backend.delete(pack_key(pack_id))
    if state_dir is not None and plan.packs:
        state = open_index(state_dir)
        state.forget_packs(state.remote_id(backend.url), plan.packs)


@dataclasses.dataclass(frozen=True)
class PackReport:
    pack_id: str
    key: str
    size: int | None  # None when the pack is missing
    ok: bool
    problems: tuple[str, ...]  # one line each
    corrupt_chunks: tuple[str, ...]  # hex ids of chunks whose bytes do not match
    affected_oids: tuple[str, ...]  # recipes that read a corrupt chunk (or any chunk of a missing pack)


def verify_pack(backend: Backend, pack_id: str, recipes: Mapping[str, Recipe] | None = None,
                state_dir: str | os.PathLike | None = None) -> PackReport:
    """Download a pack and check it: its name, its index, every chunk in it.

    Chunks are checked against the index and against every recipe in
    `recipes` that reads from the pack (so a damaged index does not hide
    damaged chunks); `affected_oids` lists the recipes that read a bad chunk.
    """
    key = pack_key(pack_id)
    readers = {oid: r for oid, r in (recipes or {}).items() if pack_id in r.pack_ids}
    tmp = _tmp_path(open_index(state_dir) if state_dir else None, "verify")
    try:
        try:
            backend.download(key, tmp)
        except KeyNotFound:
            return PackReport(pack_id, key, None, False, (f"{key} is missing",), (), tuple(sorted(readers)))
        problems: list[str] = []
        bad: set[bytes] = set()
        size = os.path.getsize(tmp)
        with open(tmp, "rb") as f:
            checked: dict[tuple[int, int, bytes], bool] = {}

            def check(chunk_id: bytes, offset: int, length: int) -> bool:
                place = (offset, length, chunk_id)
                if place not in checked:
                    data = fileio.pread(f.fileno(), length, offset) if offset + length <= size else b""
                    checked[place] = len(data) == length and hashlib.sha256(data).digest() == chunk_id
                    if not checked[place]:
                        bad.add(chunk_id)
                return checked[place]

            if fileio.pread(f.fileno(), formats.PACK_HEADER_SIZE, 0) != formats.pack_header():
                problems.append(f"{key} has a damaged header")
            try:
                tail_len = min(size, formats.PACK_FOOTER_SIZE)
                footer = fileio.pread(f.fileno(), tail_len, size - tail_len)
                _, count = formats.parse_pack_footer(footer, size)
                need = formats.pack_trailer_size(count)
                trailer = fileio.pread(f.fileno(), need, size - need)
                if formats.pack_id_of(trailer) != pack_id:
                    raise FormatError(f"its index does not match its name (hashes to {formats.pack_id_of(trailer)})")
                entries = formats.parse_pack_tail(trailer, size)
            except FormatError as exc:
                problems.append(f"{key} has a damaged index: {exc}")
                entries = []
            for e in entries:
                check(e.chunk_id, e.offset, e.length)
            affected = set()
            for oid, recipe in readers.items():
                if isinstance(recipe, RecipeRuns):  # could not be resolved: any damage here affects it
                    if problems or bad:
                        affected.add(oid)
                    continue
                for c in recipe.chunks:
                    if c.pack_id == pack_id and not check(c.chunk_id, c.offset, c.length):
                        affected.add(oid)
        if bad:
            problems.append(f"{key}: {len(bad)} corrupt chunk(s)")
        return PackReport(pack_id, key, size, not problems, tuple(problems), tuple(sorted(c.hex() for c in bad)),
                          tuple(sorted(affected)))
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


@dataclasses.dataclass(frozen=True)
class RemoteReport:
    packs_checked: int
    bad_packs: tuple[PackReport, ...]
    bad_recipes: tuple[tuple[str, str], ...]  # (oid, why)
    affected_oids: tuple[str, ...]  # every oid that cannot be rebuilt as stored

    @property
    def ok(self) -> bool:
        return not self.bad_packs and not self.bad_recipes


def verify_remote(backend: Backend, oids: Iterable[str] | None = None, *, jobs: int = 4,
                  state_dir: str | os.PathLike | None = None) -> RemoteReport:
    """fsck of chunked storage: every recipe (or those of `oids`) and every pack they read.

    Without `oids`, every pack on the remote is checked, referenced or not.
    """
    all_recipes = list_recipes(backend)
    wanted = list(all_recipes) if oids is None else [o for o in oids if o in all_recipes]
    recipes: dict[str, Recipe] = {}
    bad_recipes: list[tuple[str, str]] = []

    def load(oid: str):
        try:
            found = fetch_recipe(backend, oid, resolve=False)
        except CorruptObject as exc:
            return oid, None, str(exc)
        if found is None:
            return oid, None, "recipe vanished"
        # A version 2 recipe whose pack is missing or has a damaged index stays unresolved:
        # verify_pack reports that pack and names this recipe among the affected.
        return oid, _resolve_each(backend, [found[0]], 1)[0], None

    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="gm-fsck") as pool:
        for oid, recipe, why in pool.map(load, wanted):
            if recipe is not None:
                recipes[oid] = recipe
            else:
                bad_recipes.append((oid, why))
        packs = set(list_packs(backend)) if oids is None else set()
        for recipe in recipes.values():
            packs.update(recipe.pack_ids)
        reports = list(pool.map(lambda p: verify_pack(backend, p, recipes, state_dir), sorted(packs)))
    bad = tuple(r for r in reports if not r.ok)
    affected = {o for r in bad for o in r.affected_oids} | {o for o, _ in bad_recipes}
    return RemoteReport(len(reports), bad, tuple(bad_recipes), tuple(sorted(affected)))


@dataclasses.dataclass(frozen=True)
class ObjectUsage:
    oid: str
    size: int
    form: str  # "chunked" or "whole"
    unique_bytes: int  # chunk bytes no other counted object uses (for "whole": its size)


@dataclasses.dataclass(frozen=True)
class RemoteStats:
    objects: int
    bytes_referenced: int  # sum of the counted objects' sizes
    bytes_stored: int  # everything under objects/, packs/ and recipes/ on the remote
    chunk_bytes: int  # distinct chunk bytes the counted recipes read
    pack_bytes: int
    recipe_bytes: int
    whole_bytes: int
    packs: int
    per_object: tuple[ObjectUsage, ...]

    @property
    def dedup_ratio(self) -> float:
        """Bytes referenced per byte stored (higher is better; 1.0 without any sharing)."""
        return self.bytes_referenced / self.bytes_stored if self.bytes_stored else 1.0


def remote_stats(backend: Backend, oids: Iterable[str] | None = None, jobs: int = 8) -> RemoteStats:
    """Bytes referenced vs bytes stored, and per object what only it uses (for `gitmodels stats`)."""
    whole = {}
    for key, size in backend.list(OBJECTS_PREFIX):
        oid = oid_from_key(key)
        if oid:
            whole[oid] = size
    recipe_sizes = list_recipes(backend)
    packs = list_packs(backend)
    counted = set(whole) | set(recipe_sizes) if oids is None else set(oids)
    recipes = read_recipes(backend, [o for o in counted if o in recipe_sizes], jobs, resolve=False)
    for oid, found in zip(list(recipes), _resolve_each(backend, list(recipes.values()), jobs)):
        recipes[oid] = found
    users: dict[bytes, int] = {}
    lengths: dict[bytes, int] = {}
    for recipe in recipes.values():
        if isinstance(recipe, RecipeRuns):  # its packs cannot be read: nothing known to share
            continue
        for chunk_id in {c.chunk_id: None for c in recipe.chunks}:
            users[chunk_id] = users.get(chunk_id, 0) + 1
        for c in recipe.chunks:
            lengths[c.chunk_id] = c.length
    per = []
    for oid in sorted(counted):
        if oid in recipes:
            r = recipes[oid]
            own = {} if isinstance(r, RecipeRuns) else {c.chunk_id: c.length for c in r.chunks
                                                        if users[c.chunk_id] == 1}
            per.append(ObjectUsage(oid, r.size, "chunked", sum(own.values())))
        elif oid in whole:
            per.append(ObjectUsage(oid, whole[oid], "whole", whole[oid]))
    stored = sum(whole.values()) + sum(recipe_sizes.values()) + sum(packs.values())
    return RemoteStats(len(per), sum(u.size for u in per), stored, sum(lengths.values()), sum(packs.values()),
                       sum(recipe_sizes.values()), sum(whole.values()), len(packs), tuple(per))
