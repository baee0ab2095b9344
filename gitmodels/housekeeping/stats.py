"""`gitmodels stats`: what the cache and a model remote hold, computed here so the CLI only prints."""

from __future__ import annotations

import dataclasses
import os

from gitmodels.housekeeping.reachability import objects_of
from gitmodels.housekeeping.sweep import cache_listing, stale_tmp


@dataclasses.dataclass
class CacheStats:
    cache_dir: str
    objects: int
    bytes: int
    quarantined: int
    stale_tmp: int
    spares: int
    spare_bytes: int

    def to_json(self) -> dict:
        return {"objects": self.objects, "bytes": self.bytes, "quarantined": self.quarantined,
                "stale_tmp": self.stale_tmp, "spares": self.spares, "spare_bytes": self.spare_bytes,
                "cache_dir": self.cache_dir}


@dataclasses.dataclass
class ChunkStats:
    objects: int
    bytes_referenced: int
    bytes_stored: int
    packs: int
    pack_bytes: int
    recipe_bytes: int
    dedup_ratio: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ModelStats:
    """One model of the checkout: its size, how the remote stores it, the bytes only this version uses there."""

    path: str
    size: int
    storage: str       # whole | chunked | mixed
    unique_bytes: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RemoteStats:
    name: str
    url: str
    objects: int = 0
    bytes: int = 0
    other_keys: int = 0
    other_bytes: int = 0
    chunking: ChunkStats | None = None
    models: list[ModelStats] | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "url": self.url, "objects": self.objects, "bytes": self.bytes,
                "other_keys": self.other_keys, "other_bytes": self.other_bytes,
                "chunking": self.chunking.to_json() if self.chunking is not None else None,
                "models": [m.to_json() for m in self.models] if self.models is not None else None}


def cache_stats(repo) -> CacheStats:
    cached = cache_listing(repo.store)
    quarantine = os.path.join(repo.store.root, "quarantine")
    spares, spare_bytes = repo.workspace.spares.usage()
    return CacheStats(cache_dir=repo.store.root, objects=len(cached), bytes=sum(i.size for i in cached.values()),
                      quarantined=len(os.listdir(quarantine)) if os.path.isdir(quarantine) else 0,
                      stale_tmp=stale_tmp(repo.store), spares=spares, spare_bytes=spare_bytes)


def remote_stats(repo, remote: str | None = None) -> RemoteStats:
    """Counts of the model remote's keys; with chunked storage, its dedup and what each model costs there."""
    from gitmodels.remotes.base import OBJECTS_PREFIX

    name, transfer = repo.open_transfer(remote)
    out = RemoteStats(name=name, url=transfer.remote_id)
    with transfer.backend as backend:
        for key, size in backend.list(""):
            if key.startswith(OBJECTS_PREFIX):
                out.objects += 1
                out.bytes += size
            else:
                out.other_keys += 1
                out.other_bytes += size
        if out.other_keys:
            from gitmodels import chunking

            s = chunking.remote_stats(backend)
            out.chunking = ChunkStats(s.objects, s.bytes_referenced, s.bytes_stored, s.packs, s.pack_bytes,
                                      s.recipe_bytes, round(s.dedup_ratio, 3))
            out.models = _per_model(repo, s.per_object)
    return out


def _per_model(repo, usage) -> list[ModelStats]:
    by_oid = {u.oid: u for u in usage}
    rows = []
    for art, ptr in sorted(repo.pointers().items()):
        oids = objects_of(repo.store, ptr) - ({ptr.oid} if ptr.is_dir else set())
        found = [by_oid[o] for o in oids if o in by_oid]
        if not found:
            continue
        kinds = {u.form for u in found}
        rows.append(ModelStats(art, ptr.size, kinds.pop() if len(kinds) == 1 else "mixed",
                               sum(u.unique_bytes for u in found)))
    return rows


__all__ = ["CacheStats", "RemoteStats", "ChunkStats", "ModelStats", "cache_stats", "remote_stats"]
