"""`whereis`: which places (the local cache, each configured remote) hold every byte of a model.

A place holds an object when it can serve it: the cache has the file, or a
remote has it whole (`objects/`) or chunked, and chunked counts only when the
recipe AND every pack it reads are there. An object whose chunks are partly
on a remote (packs sent, recipe not yet written: an interrupted push; or a
recipe naming a pack that is gone) is "partial". A model (a file, or a
directory's manifest plus its files) is "present" at a place when every
object it needs is, "partial" when some bytes of it are, else "missing". A
directory's small files are held by its bundle (docs/storage.md), not as
objects of their own.

The same question decides local gc's `numcopies` rule: an object leaves the
cache only when at least `core.numcopies` remotes hold it (`remote_copies`).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from gitmodels.errors import GitModelsError, RemoteError
from gitmodels.storage.hashing import prefixed

PRESENT, PARTIAL, MISSING, UNREACHABLE = "present", "partial", "missing", "unreachable"
LOCAL = "local"


@dataclasses.dataclass
class Place:
    name: str       # "local" or the remote's name
    kind: str       # "cache" or "remote"
    url: str        # the cache folder, or the remote's URL with credentials masked
    error: str | None = None  # why the remote could not be asked (then every model is "unreachable" there)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "url": self.url, "error": self.error}


@dataclasses.dataclass
class ModelPlaces:
    path: str
    oid: str
    size: int
    kind: str                           # "file" or "dir"
    places: dict[str, str]              # place name -> present | partial | missing | unreachable
    objects: int = 1                    # objects the model needs (a directory: its manifest and files)

    @property
    def copies(self) -> int:
        """Places that hold all of it."""
        return sum(1 for s in self.places.values() if s == PRESENT)

    def to_json(self) -> dict:
        return {"path": self.path, "oid": prefixed(self.oid), "size": self.size, "kind": self.kind,
                "objects": self.objects, "copies": self.copies, "places": dict(self.places)}


@dataclasses.dataclass
class WhereisResult:
    rev: str | None
    places: list[Place]
    models: list[ModelPlaces]

    def to_json(self) -> dict:
        return {"rev": self.rev, "places": [p.to_json() for p in self.places],
                "models": [m.to_json() for m in self.models]}


class RemoteView:
    """What one remote holds, from one listing: whole objects, recipes (with the packs they read), packs."""

    def __init__(self, backend, state_dir: str | None = None, jobs: int = 8):
        from gitmodels.housekeeping.sweep import RemoteListing

        self.backend = backend
        self.state_dir = state_dir
        self.jobs = jobs
        self.listing = RemoteListing.read(backend)
        self._pack_chunks: set[bytes] | None = None

    def states(self, oids: Iterable[str]) -> dict[str, str]:
        """oid -> present | partial | missing on this remote."""
        from gitmodels.chunking import read_recipes

        oids = list(dict.fromkeys(oids))
        out = {o: PRESENT for o in oids if o in self.listing.objects}
        chunked = [o for o in oids if o not in out and o in self.listing.recipes]
        for oid, recipe in read_recipes(self.backend, chunked, self.jobs, resolve=False).items():
            whole = all(p in self.listing.packs for p in recipe.pack_ids)
            out[oid] = PRESENT if whole else PARTIAL
        for oid in oids:
            if oid not in out:
                out[oid] = PARTIAL if self._some_chunks_here(oid) else MISSING
        return out

    def bundled(self, manifest_oid: str) -> set[str]:
        """The file oids the bundle of a directory holds here (its recipe and every pack it reads
        listed); empty without one. A bundle's files are never objects of their own."""
        from gitmodels.chunking.remote import fetch_recipe
        from gitmodels.storage.objects import bundle_name

        name = bundle_name(manifest_oid)
        if name not in self.listing.recipes:
            return set()
        try:
            found = fetch_recipe(self.backend, name, jobs=self.jobs)
        except GitModelsError:  # damaged, or a pack gone: fsck --remote names it; no claim here
            return set()
        if found is None or not all(p in self.listing.packs for p in found[0].pack_ids):
            return set()
        return {c.chunk_id.hex() for c in found[0].chunks}

    def _some_chunks_here(self, oid: str) -> bool:
        """Packs hold some chunk of `oid` though no recipe names them (known only if the cache indexed it)."""
        if self.state_dir is None or not self.listing.packs:
            return False
        from gitmodels.chunking.index import open_index

        chunk_list = open_index(self.state_dir).local_chunk_list(oid)
        if chunk_list is None:
            return False
        if self._pack_chunks is None:
            from gitmodels.chunking.remote import pack_indexes

            try:
                indexes = pack_indexes(self.backend, list(self.listing.packs), jobs=self.jobs)
            except GitModelsError:  # a pack vanished or is damaged: no claim either way
                indexes = {}
            self._pack_chunks = {e.chunk_id for entries in indexes.values() for e in entries}
        return any(chunk_id in self._pack_chunks for chunk_id, _, _ in chunk_list)


def _model_state(states: list[str]) -> str:
    if states and all(s == PRESENT for s in states):
        return PRESENT
    if any(s in (PRESENT, PARTIAL) for s in states):
        return PARTIAL
    return MISSING


def _manifest_files(repo, ptr, views: dict[str, RemoteView]) -> list[str] | None:
    """The file oids of a directory model, reading its manifest from the cache or (if only there) a remote."""
    from gitmodels.storage.manifest import manifest_entries, parse

    if repo.store.has(ptr.oid):
        try:
            return [e.oid for e in manifest_entries(repo.store, ptr.oid)]
        except GitModelsError:
            pass
    for view in views.values():
        if ptr.oid not in view.listing.objects:
            continue
        import os
        import tempfile

        from gitmodels.storage.objects import object_key

        fd, tmp = tempfile.mkstemp(prefix="gm-whereis-")
        os.close(fd)
        try:
            os.unlink(tmp)
            view.backend.download(object_key(ptr.oid), tmp)
            with open(tmp, "rb") as f:
                return [e.oid for e in parse(f.read(), f"manifest {ptr.oid[:12]}").entries]
        except (GitModelsError, OSError):
            continue
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return None


def open_views(repo, remotes: Iterable[str] | None = None) -> tuple[list[Place], dict[str, RemoteView]]:
    """A Place per configured remote (or those named) and a RemoteView of each that answered."""
    from gitmodels.credentials import mask_url

    places: list[Place] = []
    views: dict[str, RemoteView] = {}
    names = sorted(repo.config.remotes()) if remotes is None else list(remotes)
    for name in names:
        try:
            name, transfer = repo.open_transfer(name)
        except GitModelsError as exc:
            places.append(Place(name, "remote", "?", exc.message))
            continue
        place = Place(name, "remote", mask_url(transfer.backend.url))
        try:
            views[name] = RemoteView(transfer.backend, repo.store.chunk_dir, transfer.jobs)
        except (RemoteError, OSError) as exc:
            place.error = str(exc)
            transfer.backend.close()
        places.append(place)
    return places, views


def close_views(views: dict[str, RemoteView]) -> None:
    for view in views.values():
        view.backend.close()


def whereis(repo, paths: Iterable[str] | None = None, rev: str | None = None,
            remotes: Iterable[str] | None = None) -> WhereisResult:
    """For each model (those at `paths`, else all) of `rev` (else the workspace), the places holding it."""
    pointers = repo.pointers(rev, list(paths) if paths is not None else None)
    places, views = open_views(repo, remotes)
    try:
        local = Place(LOCAL, "cache", repo.cache_dir)
        models = []
        for art, ptr in sorted(pointers.items()):
            oids = [ptr.oid]
            local_manifest = repo.store.has(ptr.oid)
            if ptr.is_dir:
                files = _manifest_files(repo, ptr, views)
                oids += files if files is not None else []
            row = ModelPlaces(art, ptr.oid, ptr.size, ptr.kind, {}, len(oids))
            have = repo.store.present(oids)  # loose or packed, a query per few hundred
            cached = [PRESENT if o in have and (o != ptr.oid or local_manifest) else MISSING for o in oids]
            row.places[LOCAL] = _model_state(cached) if not ptr.is_dir or files is not None else \
                (PARTIAL if local_manifest else MISSING)
            for place in places:
                view = views.get(place.name)
                if view is None:
                    row.places[place.name] = UNREACHABLE
                    continue
                held = view.bundled(ptr.oid) if ptr.is_dir else set()
                states = view.states([o for o in oids if o not in held])
                row.places[place.name] = _model_state([PRESENT if o in held else states[o] for o in oids])
                if ptr.is_dir and files is None and row.places[place.name] == PRESENT:
                    row.places[place.name] = PARTIAL  # the manifest is there, but its files cannot be listed
            models.append(row)
        return WhereisResult(rev, [local, *places], models)
    finally:
        close_views(views)


def remote_copies(repo, oids: Iterable[str], numcopies: int, first: str | None = None,
                  listing_of: dict | None = None, warnings: list[str] | None = None) -> dict[str, int]:
    """oid -> how many configured remotes hold it, counting up to `numcopies` (remotes are asked only while
    some oid still has fewer). `first`: the remote to ask first; `listing_of[name]`: that remote's
    RemoteListing, or its open TransferQueue, when the caller has one."""
    oids = list(dict.fromkeys(oids))
    count = {o: 0 for o in oids}
    if numcopies <= 0 or not oids:
        return count
    names = sorted(repo.config.remotes())
    if first in names:
        names.remove(first)
        names.insert(0, first)
    for name in names:
        short = [o for o in oids if count[o] < numcopies]
        if not short:
            break
        listing = (listing_of or {}).get(name)
        if listing is not None and hasattr(listing, "has"):
            held = listing.has(short)
        elif listing is not None:  # the caller's open transfer queue of that remote
            try:
                held = set(short) - listing.remote_missing(short, trust_known=False)
            except RemoteError as exc:
                if warnings is not None:
                    warnings.append(f"model remote {name} unreachable ({exc}); not counting its copies")
                continue
        else:
            try:
                _, transfer = repo.open_transfer(name)
            except GitModelsError as exc:
                if warnings is not None:
                    warnings.append(f"cannot open model remote {name} ({exc.message}); not counting its copies")
                continue
            try:
                held = set(short) - transfer.remote_missing(short, trust_known=False)
            except RemoteError as exc:
                if warnings is not None:
                    warnings.append(f"model remote {name} unreachable ({exc}); not counting its copies")
                continue
            finally:
                transfer.backend.close()
        for oid in held:
            count[oid] += 1
    return count


__all__ = ["Place", "ModelPlaces", "WhereisResult", "RemoteView", "whereis", "remote_copies", "open_views",
           "PRESENT", "PARTIAL", "MISSING", "UNREACHABLE", "LOCAL"]
