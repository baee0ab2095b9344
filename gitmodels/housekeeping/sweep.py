"""Delete the rest: given a keep set (from reachability) and a minimum age, what goes from the cache or a remote.

Nothing here reads git. `sweep(listing, keep, min_age)` is the one rule both
targets share, so a wider keep set (a team's), a grace period or a two-phase
delete plugs in here without touching reachability. A remote is listed ONCE
per gc (`RemoteListing.read`): whole objects, chunk recipes and packs come
from that single listing.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Iterable, Mapping

from gitmodels.errors import RemoteError
from gitmodels.remotes.base import classify_key, object_key
from gitmodels.storage.hashing import prefixed
from gitmodels.sync import pushlog


@dataclasses.dataclass(frozen=True)
class Item:
    size: int
    mtime: float | None = None  # None: the target cannot tell its age (a remote listing)


def sweep(listing: Mapping[str, Item], keep: Iterable[str], min_age: float = 0.0,
          now: float | None = None) -> dict[str, int]:
    """oid -> size of what goes: not kept, and (with min_age) known to be older than min_age seconds.

    An item whose age is unknown is deleted only when no minimum age is asked.
    """
    keep = keep if isinstance(keep, (set, frozenset)) else set(keep)
    cutoff = (time.time() if now is None else now) - min_age
    out = {}
    for oid, item in listing.items():
        if oid in keep:
            continue
        if min_age > 0 and (item.mtime is None or item.mtime > cutoff):
            continue
        out[oid] = item.size
    return dict(sorted(out.items()))


def forget_chunk_sources(repo, oids: Iterable[str]) -> None:
    """Tell the local chunk index that these cached objects are gone (it rebuilds downloads from them)."""
    state_dir = repo.store.chunk_dir
    from gitmodels import chunking

    if not os.path.isdir(state_dir):
        return
    for oid in oids:
        try:
            chunking.forget_local_object(state_dir, oid)
        except Exception:  # the index is an optimisation: a failure here must not stop gc
            continue


# -- the cache ------------------------------------------------------------------------------------


def cache_listing(store) -> dict[str, Item]:
    """Every cached object, loose or packed (a packed one is as old as its pack)."""
    out = {}
    for oid in store.iter_oids():
        try:
            st = os.lstat(store.path(oid))
        except FileNotFoundError:
            continue
        out[oid] = Item(st.st_size, st.st_mtime)
    for oid, size, mtime in store.packs.listing():
        out.setdefault(oid, Item(size, mtime))
    return out


def hardlinked(store, oids: Iterable[str]) -> set[str]:
    """Cached objects something else links to (a workspace in link mode `hardlink`): always kept."""
    out = set()
    for oid in oids:
        try:
            if os.lstat(store.path(oid)).st_nlink > 1:
                out.add(oid)
        except FileNotFoundError:
            continue
    return out


def stale_tmp(store, older_than: float = 3600.0) -> int:
    folder = store.tmp_dir
    if not os.path.isdir(folder):
        return 0
    cutoff = time.time() - older_than
    count = 0
    for name in os.listdir(folder):
        try:
            if os.stat(os.path.join(folder, name)).st_mtime < cutoff:
                count += 1
        except OSError:
            continue
    return count


def delete_from_cache(repo, delete: Mapping[str, int]) -> tuple[int, int]:
    """Delete these cached objects, prune empty fan-out folders; (count, bytes)."""
    repo.store.delete_many(delete)
    count, size = len(delete), sum(delete.values())
    repo.store.packs.compact()  # packs left with few live entries are rewritten, empty ones removed
    folder = repo.store.objects_dir
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            try:
                os.rmdir(os.path.join(folder, name))  # only succeeds when empty
            except OSError:
                continue
    forget_chunk_sources(repo, delete)
    return count, size


# -- a remote -------------------------------------------------------------------------------------


@dataclasses.dataclass
class RemoteListing:
    """Every key of a remote, read with one listing and sorted by kind."""

    objects: dict[str, int] = dataclasses.field(default_factory=dict)   # oid -> size, whole objects
    recipes: dict[str, int] = dataclasses.field(default_factory=dict)   # oid -> recipe size
    packs: dict[str, int] = dataclasses.field(default_factory=dict)     # pack id -> size
    other_keys: int = 0
    stray_keys: int = 0
    chunk_keys: int = 0                                                 # keys under packs/ and recipes/
    logs: dict[str, int] = dataclasses.field(default_factory=dict)      # push log key -> size
    marks: dict[str, int] = dataclasses.field(default_factory=dict)     # gc mark key -> size

    @classmethod
    def read(cls, backend) -> "RemoteListing":
        from gitmodels.storage.objects import oid_from_recipe_key, pack_id_from_key

        out = cls()
        for key, size in backend.list(""):
            kind, oid = classify_key(key)
            if kind == "object":
                out.objects[oid] = size
            elif kind == "chunk":
                out.chunk_keys += 1
                recipe = oid_from_recipe_key(key)
                pack = None if recipe else pack_id_from_key(key)
                if recipe:
                    out.recipes[recipe] = size
                elif pack:
                    out.packs[pack] = size
            elif kind == "stray":
                out.stray_keys += 1
            elif key.startswith(pushlog.LOG_PREFIX) and pushlog.key_time(key) is not None:
                out.logs[key] = size
            elif key.startswith(pushlog.MARK_PREFIX) and pushlog.key_time(key) is not None:
                out.marks[key] = size
            else:
                out.other_keys += 1
        return out

    def oids(self) -> set[str]:
        return set(self.objects) | set(self.recipes)

    def has(self, oids: Iterable[str]) -> set[str]:
        """The oids the remote can serve, whole or chunked, as listed."""
        return {o for o in oids if o in self.objects or o in self.recipes}


@dataclasses.dataclass
class Aging:
    """The two-phase rule (docs/formats.md, "Remote gc protocol") over one listing: of the unreferenced
    objects, what goes now, what waits for its mark to age, what is marked now, what a recent push keeps."""

    now: float
    grace: float
    delete: dict[str, float] = dataclasses.field(default_factory=dict)   # oid -> when it was marked
    waiting: dict[str, float] = dataclasses.field(default_factory=dict)  # oid -> when it was marked
    mark: set[str] = dataclasses.field(default_factory=set)              # unreferenced, marked by this gc
    young: dict[str, float] = dataclasses.field(default_factory=dict)    # oid -> its last push, within grace
    pushed: dict[str, float] = dataclasses.field(default_factory=dict)   # oid -> last push the log shows
    stale_marks: list[str] = dataclasses.field(default_factory=list)     # mark keys nothing relies on anymore
    stale_logs: list[str] = dataclasses.field(default_factory=list)      # log keys no rule needs anymore

    def to_json(self) -> dict:
        return {"grace_days": self.grace / 86400}


def age(listing: RemoteListing, unreferenced: set[str], backend, grace: float, now: float | None = None) -> Aging:
    """Apply the grace period and the marks to the unreferenced objects, reading only the records that matter.

    An object goes when an earlier gc marked it at least `grace` seconds ago and no push logged it since
    that mark; one a push logged within `grace` is kept whoever pushed it; an unmarked one is marked now.
    """
    out = Aging(now=time.time() if now is None else now, grace=grace)
    cutoff = out.now - grace
    marks = [r for r in (pushlog.read(backend, k, n) for k, n in sorted(listing.marks.items())) if r is not None]
    oldest = min([cutoff] + [m.time for m in marks])
    for key, size in sorted(listing.logs.items()):
        t = pushlog.key_time(key)
        if t is not None and t < oldest:
            continue  # older than every mark and the grace period: it changes nothing
        record = pushlog.read(backend, key, size)
        if record is not None:
            for oid in record.oids:
                out.pushed[oid] = max(out.pushed.get(oid, record.time), record.time)
    first_mark: dict[str, tuple[float, str]] = {}
    for m in marks:
        for oid in m.oids & unreferenced:
            if m.time > out.pushed.get(oid, float("-inf")) and (oid not in first_mark or m.time < first_mark[oid][0]):
                first_mark[oid] = (m.time, m.key)
    for oid in sorted(unreferenced):
        if out.pushed.get(oid, float("-inf")) > cutoff:
            out.young[oid] = out.pushed[oid]
        elif oid not in first_mark:
            out.mark.add(oid)
        elif first_mark[oid][0] <= cutoff:
            out.delete[oid] = first_mark[oid][0]
        else:
            out.waiting[oid] = first_mark[oid][0]
    needed = {first_mark[o][1] for o in out.waiting}
    out.stale_marks = [m.key for m in marks if m.key not in needed]
    still = [m.time for m in marks if m.key in needed] + ([out.now] if out.mark else [])
    floor = min([cutoff] + still)
    out.stale_logs = [k for k in sorted(listing.logs) if (pushlog.key_time(k) or out.now) < floor]
    return out


def late_pushes(backend, listing: RemoteListing) -> set[str]:
    """The oids pushes logged after the listing: read again just before deleting, they are spared."""
    out: set[str] = set()
    for key, size in backend.list(pushlog.LOG_PREFIX):
        if key not in listing.logs and pushlog.key_time(key) is not None:
            record = pushlog.read(backend, key, size)
            if record is not None:
                out |= record.oids
    return out


@dataclasses.dataclass
class RemotePlan:
    name: str
    url: str
    objects: int = 0                   # whole objects under objects/ on the remote
    bytes: int = 0
    keep: int = 0
    delete: dict[str, int] = dataclasses.field(default_factory=dict)  # oid -> size
    other_keys: int = 0                # keys gc does not understand (never deleted)
    stray_keys: int = 0                # keys under objects/ that are not object names, never deleted
    chunks: object | None = None       # the chunk store's own plan (recipes and packs to delete), if any
    chunk_keys: int = 0                # keys under packs/ and recipes/
    aging: Aging | None = None         # the grace period and marks (docs/formats.md)
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)  # oid -> why it goes
    team: list[str] = dataclasses.field(default_factory=list)          # the git remotes whose refs were read
    team_refs: int = 0

    @property
    def delete_bytes(self) -> int:
        return sum(self.delete.values()) + (self.chunks.bytes_freed if self.chunks is not None else 0)

    @property
    def delete_count(self) -> int:
        extra = len(self.chunks.recipes) + len(self.chunks.packs) if self.chunks is not None else 0
        return len(self.delete) + extra

    def to_json(self) -> dict:
        return {"name": self.name, "url": self.url, "objects": self.objects, "bytes": self.bytes, "keep": self.keep,
                "delete": len(self.delete), "delete_bytes": self.delete_bytes, "other_keys": self.other_keys,
                "stray_keys": self.stray_keys, "deleted_oids": [prefixed(o) for o in sorted(self.delete)],
                "chunk_recipes_delete": [prefixed(o) for o in self.chunks.recipes] if self.chunks is not None else [],
                "chunk_packs_delete": [prefixed(p) for p in self.chunks.packs] if self.chunks is not None else [],
                "reasons": {prefixed(o): why for o, why in sorted(self.reasons.items())},
                "git_remotes": self.team, "git_refs": self.team_refs,
                **({"marked": [prefixed(o) for o in sorted(self.aging.mark)],
                    "waiting": {prefixed(o): pushlog.stamp(t) for o, t in sorted(self.aging.waiting.items())},
                    "young": {prefixed(o): pushlog.stamp(t) for o, t in sorted(self.aging.young.items())},
                    **self.aging.to_json()} if self.aging is not None else {})}


def plan_remote(name: str, url: str, listing: RemoteListing, keep: set[str], backend, jobs: int,
                warnings: list[str], min_age: float = 0.0) -> RemotePlan:
    """What goes from a remote, from its one listing; reads only the recipes of kept chunked objects."""
    from gitmodels.errors import CorruptObject
    from gitmodels.housekeeping.reachability import GcRefused

    rp = RemotePlan(name=name, url=url, objects=len(listing.objects), bytes=sum(listing.objects.values()),
                    other_keys=listing.other_keys, stray_keys=listing.stray_keys, chunk_keys=listing.chunk_keys)
    rp.delete = sweep({o: Item(s) for o, s in listing.objects.items()}, keep, min_age)
    rp.keep = rp.objects - len(rp.delete)
    if rp.chunk_keys:
        from gitmodels import chunking

        try:
            rp.chunks = chunking.plan_gc(backend, keep, jobs, recipes=listing.recipes, packs=listing.packs)
        except CorruptObject as exc:
            raise GcRefused(f"remote {name}: a chunk recipe of a kept model is damaged ({exc}); "
                            f"nothing was deleted", "run `gitmodels fsck --remote`") from None
    return rp


def narrow(rp: RemotePlan, keep: set[str], listing: RemoteListing, backend, jobs: int) -> RemotePlan:
    """The previewed plan minus what has become needed since: no second listing of the remote.

    Objects pushed after the preview were not listed, so they are never deleted;
    a recipe kept now keeps every pack it reads.
    """
    rp = dataclasses.replace(rp, delete={o: s for o, s in rp.delete.items() if o not in keep})
    rp.keep = rp.objects - len(rp.delete)
    chunks = rp.chunks
    if chunks is not None:
        revived = [o for o in chunks.recipes if o in keep]
        recipes = tuple(o for o in chunks.recipes if o not in keep)
        packs = chunks.packs
        if revived:
            from gitmodels import chunking

            used = chunking.referenced_packs(backend, revived, jobs)
            packs = tuple(p for p in packs if p not in used)
        freed = sum(listing.recipes.get(o, 0) for o in recipes) + sum(listing.packs.get(p, 0) for p in packs)
        rp.chunks = dataclasses.replace(chunks, recipes=recipes, packs=packs, bytes_freed=freed,
                                        packs_kept=len(listing.packs) - len(packs))
    return rp


def delete_from_remote(repo, backend, remote_id: str, rp: RemotePlan, result) -> None:
    """Delete what the plan lists: whole objects by oid, then recipes before packs (chunk store's order)."""
    deleted = []
    for oid, size in rp.delete.items():
        try:
            backend.delete(object_key(oid))
        except RemoteError as exc:
            result.remote_failed.append((oid, str(exc)))
            continue
        deleted.append(oid)
        result.remote_deleted += 1
        result.remote_deleted_bytes += size
    chunks = rp.chunks
    if chunks is not None and (chunks.recipes or chunks.packs or getattr(chunks, "repack", ())):
        from gitmodels import chunking

        state_dir = repo.store.chunk_dir
        try:
            repacked = chunking.apply_gc(backend, chunks, state_dir if os.path.isdir(state_dir) else None)
        except RemoteError as exc:
            result.remote_failed.append(("chunks", str(exc)))
        else:
            deleted.extend(chunks.recipes)
            result.remote_deleted += len(chunks.recipes) + len(chunks.packs)
            result.remote_deleted_bytes += chunks.bytes_freed + repacked
    repo.state.remote_forget(remote_id, deleted)


__all__ = ["Item", "sweep", "RemoteListing", "RemotePlan", "plan_remote", "narrow", "delete_from_cache",
           "delete_from_remote", "cache_listing", "hardlinked", "stale_tmp", "forget_chunk_sources"]
