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


def late_readers(backend: Backend, known: Iterable[str], jobs: int = 8) -> set[str]:
    """Packs read by recipes written since gc listed the remote: a push racing with the gc dedups against
    packs the plan saw unread. Asked right before packs go, so such a pack stays (a later gc decides)."""
    known = set(known)
    new = [oid for oid in list_recipes(backend) if oid not in known]
    return set(referenced_packs(backend, new, jobs)) if new else set()


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
    bytes_freed: int  # recipes and packs deleted
    packs_kept: int
    repack: tuple[str, ...] = ()  # kept packs that hold chunks no kept recipe reads: rewritten without them
    repack_freed: int = 0  # what repacking saves besides (from the kept recipes' chunks)
    bytes_before: int = 0  # packs and recipes stored before this gc
    listed: tuple[str, ...] = ()  # every recipe listed when planning (those not in `recipes` stay)

    @property
    def bytes_after(self) -> int:
        return self.bytes_before - self.bytes_freed - self.repack_freed


def plan_gc(backend: Backend, keep_oids: Iterable[str], jobs: int = 8, *, recipes: Mapping[str, int] | None = None,
            packs: Mapping[str, int] | None = None) -> ChunkGcPlan:
    """What to delete so that only the chunked objects in `keep_oids` remain.

    A pack goes when no kept recipe reads any chunk of it; a pack kept
    recipes read only in part is repacked (`repack`). A damaged kept
    recipe stops the plan (CorruptObject): what it references is unknown.
    `recipes` / `packs`: the caller's listing (gc lists the remote once), else listed here.
    """
    keep = set(keep_oids)
    recipes = list_recipes(backend) if recipes is None else recipes
    packs = list_packs(backend) if packs is None else packs
    drop_recipes = sorted(o for o in recipes if o not in keep)
    kept = read_recipes(backend, [o for o in recipes if o in keep], jobs, resolve=False)
    used: dict[str, set[str]] = {}
    for oid, recipe in kept.items():
        for pack_id in recipe.pack_ids:
            used.setdefault(pack_id, set()).add(oid)
    drop_packs = sorted(p for p in packs if p not in used)
    repack, saved = _repack_candidates(backend, _resolve_each(backend, list(kept.values()), jobs),
                                       {p: packs[p] for p in packs if p in used}, jobs)
    freed = sum(recipes[o] for o in drop_recipes) + sum(packs[p] for p in drop_packs)
    return ChunkGcPlan(tuple(drop_recipes), tuple(drop_packs), freed, len(packs) - len(drop_packs),
                       tuple(repack), saved, sum(recipes.values()) + sum(packs.values()), tuple(sorted(recipes)))


def _chunks_used(recipes: Iterable) -> tuple[dict[str, set[int]], set[str]]:
    """(pack id -> offsets of the chunks resolved recipes read, packs an unresolvable recipe reads)."""
    used: dict[str, set[int]] = {}
    unknown: set[str] = set()
    for recipe in recipes:
        if isinstance(recipe, RecipeRuns):
            unknown.update(recipe.pack_ids)
            continue
        for c in recipe.chunks:
            used.setdefault(c.pack_id, set()).add(c.offset)
    return used, unknown


def _repack_candidates(backend: Backend, kept: list, packs: Mapping[str, int], jobs: int) -> tuple[list[str], int]:
    """Kept packs holding chunks no kept recipe reads, and the bytes rewriting them without those saves."""
    used, unknown = _chunks_used(kept)
    todo = [p for p in packs if p in used and p not in unknown]
    try:
        indexes = pack_indexes(backend, todo, jobs=jobs)
    except (CorruptObject, ObjectMissing):
        return [], 0  # fsck's business; repack only what reads cleanly
    out, saved = [], 0
    for pack_id in sorted(todo):
        unused = [e for e in indexes[pack_id] if e.offset not in used[pack_id]]
        if unused:
            out.append(pack_id)
            saved += sum(e.length for e in unused) + len(unused) * formats.PACK_ENTRY_SIZE
    return out, saved


@dataclasses.dataclass(frozen=True)
class RepackResult:
    packs: dict[str, str]  # old pack id -> its new pack id (absent: nothing kept read it, deleted)
    recipes: tuple[str, ...]  # oids whose recipes were rewritten to read the new packs
    bytes_before: int  # of the old packs
    bytes_after: int  # of the new packs


def repack(backend: Backend, pack_ids: Iterable[str], readers: Mapping[str, Recipe | RecipeRuns],
           state_dir: str | os.PathLike | None = None, jobs: int = 8, known: Iterable[str] | None = None) -> RepackResult:
    """Rewrite each pack without the chunks no recipe in `readers` reads, then delete the old pack.

    Order, so that no reader ever names a missing chunk: the new pack is
    written and its index read back, every reader's recipe is rewritten to
    the new pack and read back, and only then is the old pack deleted. A pack
    read by a recipe that cannot be resolved, or whose chunks do not verify,
    is left as it is. The same chunks always make the same pack (same name),
    so two gcs repacking at once agree. With `known` (the recipes gc listed),
    a pack a recipe written since then reads is not deleted (`late_readers`).
    """
    readers = dict(zip(readers, _resolve_each(backend, list(readers.values()), jobs)))
    used, unknown = _chunks_used(readers.values())
    state = open_index(state_dir) if state_dir is not None else None
    moved: dict[str, str] = {}
    places: dict[tuple[str, int], tuple[str, int]] = {}  # (old pack, offset) -> (new pack, offset)
    new_indexes: dict[str, list[formats.PackEntry]] = {}
    before = after = 0
    for pack_id in dict.fromkeys(pack_ids):
        if pack_id in unknown:
            continue
        try:
            entries = pack_indexes(backend, [pack_id], jobs=1)[pack_id]
        except (CorruptObject, ObjectMissing):
            continue
        keep = [e for e in entries if e.offset in used.get(pack_id, ())]
        if len(keep) == len(entries):
            continue
        old_size = backend.stat(pack_key(pack_id)) or 0
        if not keep:  # no reader left: goes whole, as plan_gc's packs
            moved[pack_id] = ""
            before += old_size
            continue
        new_id, new_entries, new_size = _write_pack(backend, state, pack_id, keep)
        for old, new in zip(keep, new_entries):
            places[(pack_id, old.offset)] = (new_id, new.offset)
        new_indexes[new_id] = new_entries
        moved[pack_id] = new_id
        before += old_size
        after += new_size
    rewritten = []
    if places:
        for oid, recipe in readers.items():
            if isinstance(recipe, RecipeRuns) or not any((c.pack_id, c.offset) in places for c in recipe.chunks):
                continue
            chunks = tuple(formats.RecipeChunk(c.chunk_id, c.length, *places.get((c.pack_id, c.offset),
                                                                                 (c.pack_id, c.offset)))
                           for c in recipe.chunks)
            _write_recipe(backend, state, Recipe(oid, recipe.size, chunks), new_indexes, jobs)
            rewritten.append(oid)
    spared = late_readers(backend, set(known) | set(readers), jobs) if known is not None and moved else set()
    for old in moved:
        if old not in spared:
            backend.delete(pack_key(old))
    gone = [old for old in moved if old not in spared]
    if state is not None and gone:
        state.forget_packs(state.remote_id(backend.url), gone)
    return RepackResult({o: n for o, n in moved.items() if n}, tuple(rewritten), before, after)


def _write_pack(backend: Backend, state, pack_id: str, keep: list) -> tuple[str, list, int]:
    """A new pack of the `keep` entries of `pack_id`, each chunk checked against its id; read back."""
    src, dst = _tmp_path(state, "repack-src"), _tmp_path(state, "repack")
    try:
        backend.download(pack_key(pack_id), src)
        entries, pos = [], formats.PACK_HEADER_SIZE
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(formats.pack_header())
            for e in keep:
                data = os.pread(f.fileno(), e.length, e.offset)
                if hashlib.sha256(data).digest() != e.chunk_id:
                    raise CorruptObject(f"chunk {e.chunk_id.hex()} of {pack_key(pack_id)} on {backend.describe()} "
                                        "is damaged; not repacking it", "run `gitmodels fsck --remote`")
                out.write(data)
                entries.append(formats.PackEntry(e.chunk_id, pos, e.length))
                pos += e.length
            trailer = formats.encode_pack_trailer(entries, pos)
            out.write(trailer)
        new_id = formats.pack_id_of(trailer)
        size = pos + len(trailer)
        backend.upload(pack_key(new_id), dst, size, movable=True)
        from gitmodels.chunking.remote import read_pack_index

        if read_pack_index(backend, new_id) != entries:
            raise CorruptObject(f"the repacked {pack_key(new_id)} does not read back as written; the old pack stays")
        if state is not None:
            state.add_pack(state.remote_id(backend.url), new_id, size, [(e.chunk_id, e.offset, e.length)
                                                                        for e in entries])
        return new_id, entries, size
    finally:
        for path in (src, dst):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _write_recipe(backend: Backend, state, recipe: Recipe, new_indexes: dict, jobs: int) -> None:
    """Overwrite `recipe.oid`'s recipe with `recipe` (version 2), then check it resolves to the same chunks."""
    others = [p for p in recipe.pack_ids if p not in new_indexes]
    indexes = {**pack_indexes(backend, others, recipe.oid, jobs), **new_indexes}
    where = {p: {e.offset: i for i, e in enumerate(entries)} for p, entries in indexes.items()}
    blob = recipe.encode_runs(lambda p, offset: where[p][offset])
    tmp = _tmp_path(state, "recipe")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
        backend.upload(recipe_key(recipe.oid), tmp, len(blob))
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    found = fetch_recipe(backend, recipe.oid, resolve=True)
    if found is None or found[0].chunks != recipe.chunks:
        raise CorruptObject(f"the rewritten recipe of {recipe.oid} does not read back as written; "
                            "the old packs stay")


def apply_gc(backend: Backend, plan: ChunkGcPlan, state_dir: str | os.PathLike | None = None,
             jobs: int = 8) -> int:
    """Delete what `plan_gc` chose: recipes first (so none ever names a deleted pack), then repack what kept
    recipes read in part, then delete the packs no kept recipe reads. Returns the bytes repacking freed
    (the deletions free `plan.bytes_freed`).

    The recipes that stay are read again here (not taken from the plan), so a
    recipe kept since planning keeps every chunk it reads, and recipes written
    since the listing (a push racing with the gc) are read right before packs
    go: a pack one of them reads stays. A push re-checks its packs after
    writing its recipe and sends any that vanished again.
    """
    for oid in plan.recipes:
        backend.delete(recipe_key(oid))
    dropped = set(plan.recipes)
    stays = [o for o in plan.listed if o not in dropped]
    result = None
    if plan.repack:
        readers = {o: r for o, r in read_recipes(backend, stays, jobs, resolve=False).items()
                   if set(r.pack_ids) & set(plan.repack)}
        result = repack(backend, plan.repack, readers, state_dir, jobs, known=plan.listed)
    spared = late_readers(backend, plan.listed, jobs) if plan.packs else set()
    gone = [p for p in plan.packs if p not in spared]
    for pack_id in gone:
        backend.delete(pack_key(pack_id))
    if state_dir is not None and gone:
        state = open_index(state_dir)
        state.forget_packs(state.remote_id(backend.url), gone)
    return result.bytes_before - result.bytes_after if result is not None else 0


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
