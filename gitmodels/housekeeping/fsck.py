"""Integrity checks: re-hash every cached object (and, on request, every remote object).

The cache check also compares each pointer (workspace, HEAD, branches, tags)
with the size of the sound object it names: a pointer that lies about its
size was edited or crafted, and is reported like a corrupt object.

A cached object whose bytes do not hash to its name is moved to
`<cache>/quarantine/` (never deleted), so nothing ever reads it again and a
later fetch can put a good copy in its place. A damaged remote object is only
reported (and forgotten by the local record of what the remote holds); it is
overwritten only with `repair`, and only with a local copy that verified.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Iterable

from gitmodels.storage import fileio
from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import GitModelsError, ReadOnlyRemote, RemoteError, SizeMismatch
from gitmodels.housekeeping.reachability import objects_of
from gitmodels.housekeeping.sweep import forget_chunk_sources
from gitmodels.storage.hashing import hash_file
from gitmodels.storage.hashing import prefixed
from gitmodels.progress import Bar, wanted
from gitmodels.remotes.base import KeyNotFound, classify_key, object_key
from gitmodels.storage.objects import bundle_name


@dataclasses.dataclass
class Problem:
    oid: str                   # the object (or, for a damaged chunk pack, the pack id)
    where: str                 # the cache file or the remote key
    error: str                 # what is wrong ("hashes to 1a2b...", "unreadable: ...")
    models: list[str] = dataclasses.field(default_factory=list)  # "models/churn (HEAD, main)"
    refs: list[str] = dataclasses.field(default_factory=list)    # where those models are: workspace, HEAD, main...
    quarantined_to: str | None = None
    repaired: bool = False
    affects: list[str] = dataclasses.field(default_factory=list)  # the objects it damages (a pack: several)
    kind: str = "object"       # "object": bytes that do not hash to their name; "pointer": a pointer's size is wrong

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "oid": prefixed(self.oid), "affects": [prefixed(o) for o in self.affects]}


@dataclasses.dataclass
class FsckResult:
    scope: str                 # "cache" or "remote NAME"
    checked: int = 0
    bytes: int = 0
    corrupt: list[Problem] = dataclasses.field(default_factory=list)
    stray: list[str] = dataclasses.field(default_factory=list)     # names under objects/ that are not oids
    other_keys: int = 0        # remote keys neither objects nor chunk packs/recipes: not checked
    chunk_packs: int | None = None   # chunk packs verified (None: no chunk store, or no chunk support)

    @property
    def ok(self) -> bool:
        return all(p.repaired for p in self.corrupt)

    def to_json(self) -> dict:
        return {"scope": self.scope, "checked": self.checked, "bytes": self.bytes, "ok": self.ok,
                "corrupt": [p.to_json() for p in self.corrupt], "stray": self.stray, "other_keys": self.other_keys,
                "chunk_packs": self.chunk_packs}


def _jobs(jobs: int | None) -> int:
    return max(1, jobs or min(8, os.cpu_count() or 1))


# -- which models use an object ---------------------------------------------------------------


def affected_models(repo, oids: Iterable[str], include_remote_refs: bool = False
                    ) -> dict[str, dict[str, list[str]]]:
    """oid -> {model path: [workspace, HEAD, main, v1.0, ...]} over the workspace, HEAD, branches and tags."""
    oids = set(oids)
    if not oids:
        return {}
    hits: dict[str, dict[str, list[str]]] = {}  # oid -> model -> where
    for pointers, where in _pointer_sets(repo, include_remote_refs):
        for art, ptr in pointers.items():
            needed = {ptr.oid}
            if ptr.is_dir and repo.store.has(ptr.oid):
                with contextlib.suppress(GitModelsError):
                    needed |= {e.oid for e in manifest_mod.parse(repo.store.read_bytes(ptr.oid)).entries}
            for oid in needed & oids:
                hits.setdefault(oid, {}).setdefault(art, []).extend(where)
    return {oid: {art: list(dict.fromkeys(where)) for art, where in sorted(models.items())}
            for oid, models in hits.items()}


def _pointer_sets(repo, include_remote_refs: bool = False) -> Iterable[tuple[dict, list[str]]]:
    """(artifact path -> Pointer, [workspace | HEAD | branch and tag names]) for each place models are named."""
    sources: dict[str, list[str]] = {}  # commit sha -> names
    head = repo.git.head()
    if head:
        sources.setdefault(head, []).append("HEAD")
    prefixes = (b"refs/heads/", b"refs/tags/") + ((b"refs/remotes/",) if include_remote_refs else ())
    for name, sha in sorted(repo.git.refs(prefixes).items()):
        short = name.split("/", 2)[2] if name.startswith(("refs/heads/", "refs/tags/")) else name[len("refs/"):]
        sources.setdefault(sha, []).append(short)
    for rev, names in [(None, ["workspace"])] + list(sources.items()):
        try:
            pointers = repo.pointers(rev, errors=[])
        except GitModelsError:
            continue
        yield pointers, names


def pointer_size_problems(repo, sizes: dict[str, int], skip: Iterable[str] = ()) -> list[Problem]:
    """Pointers whose size (or file count) is not that of the cached object they name.

    `sizes`: oid -> size of the cached objects that hashed right (others are skipped).
    """
    skip = set(skip)
    manifests: dict[str, tuple[int, int] | None] = {}
    found: dict[tuple[str, str, int, int | None], Problem] = {}
    for pointers, where in _pointer_sets(repo):
        for art, ptr in pointers.items():
            if ptr.oid in skip or ptr.oid not in sizes:
                continue
            files = None
            if ptr.is_dir:
                if ptr.oid not in manifests:
                    try:
                        man = manifest_mod.parse(repo.store.read_bytes(ptr.oid, verify=False))
                        manifests[ptr.oid] = (man.size, len(man.entries))
                    except GitModelsError:
                        manifests[ptr.oid] = None
                if manifests[ptr.oid] is None:
                    continue
                size, files = manifests[ptr.oid]
            else:
                size = sizes[ptr.oid]
            try:
                pointer_mod.check_size(ptr, size, files, art)
            except SizeMismatch as exc:
                key = (art, ptr.oid, ptr.size, ptr.files)
                p = found.setdefault(key, Problem(ptr.oid, pointer_mod.pointer_path_for(art),
                                                  exc.message[len(art) + 2:], affects=[ptr.oid], kind="pointer"))
                p.refs.extend(where)
    for (art, *_), p in found.items():
        p.refs = list(dict.fromkeys(p.refs))
        p.models = [f"{art} ({', '.join(p.refs)})"]
    return sorted(found.values(), key=lambda p: (p.where, p.oid))


def _describe(p: Problem, models: dict[str, dict[str, list[str]]]) -> None:
    found: dict[str, list[str]] = {}
    for oid in p.affects:
        for art, where in models.get(oid, {}).items():
            found.setdefault(art, []).extend(where)
    p.models = [f"{art} ({', '.join(dict.fromkeys(where))})" for art, where in sorted(found.items())]
    p.refs = list(dict.fromkeys(w for where in found.values() for w in where))


# -- the cache --------------------------------------------------------------------------------


def check_cache(repo, *, quarantine: bool = True, jobs: int | None = None,
                progress: bool | None = None) -> FsckResult:
    """Re-hash every cached object (streaming, in parallel); quarantine the ones that do not match."""
    store = repo.store
    result = FsckResult("cache")
    oids = list(store.iter_oids())
    sizes = {o: store.size(o) or 0 for o in oids}
    bar = Bar("checking cache", wanted(progress))
    bar.set_total(len(oids), sum(sizes.values()))

    def check(oid: str) -> tuple[str, str | None]:
        try:
            if not os.path.exists(store.path(oid)):  # a packed one (storage/packs.py), or removed meanwhile
                return oid, None if store.verify(oid) or not store.has(oid) else "its bytes do not match its name"
            digest, _ = hash_file(store.path(oid))
        except FileNotFoundError:
            return oid, None  # removed meanwhile (gc): nothing to check
        except OSError as exc:
            return oid, f"unreadable: {exc.strerror or exc}"
        finally:
            bar(sizes[oid])
        return oid, None if digest == oid else f"its bytes hash to {digest[:12]}"

    problems: list[Problem] = []
    try:
        with ThreadPoolExecutor(max_workers=_jobs(jobs)) as pool:
            for fut in as_completed([pool.submit(check, o) for o in oids]):
                oid, error = fut.result()
                result.checked += 1
                result.bytes += sizes[oid]
                if error:
                    problems.append(Problem(oid, store.path(oid), error, affects=[oid]))
    finally:
        bar.close()
    lying = pointer_size_problems(repo, sizes, skip=[p.oid for p in problems])
    if not problems:
        result.corrupt.extend(lying)
        return result
    with repo.lock():
        for p in problems:
            # Hash again under the lock: a concurrent fetch may have replaced a damaged copy by now.
            with contextlib.suppress(FileNotFoundError):
                if quarantine and not store.verify(p.oid):
                    p.quarantined_to = store.quarantine(p.oid)
        forget_chunk_sources(repo, [p.oid for p in problems if p.quarantined_to])
    models = affected_models(repo, [p.oid for p in problems])
    for p in sorted(problems, key=lambda p: p.oid):
        _describe(p, models)
        result.corrupt.append(p)
    result.corrupt.extend(lying)
    return result


# -- a remote ---------------------------------------------------------------------------------


def check_remote(repo, remote: str | None = None, *, repair: bool = False, jobs: int | None = None,
                 progress: bool | None = None) -> FsckResult:
    """Download and hash every object on a remote (one at a time per worker, through a temp file).

    Damaged objects are reported, forgotten in the local record of what the
    remote holds, and, with `repair`, overwritten by a local copy that hashes
    right. Nothing is ever deleted from the remote.
    """
    name, transfer = repo.open_transfer(remote, jobs)
    backend = transfer.backend
    store = repo.store
    if repair and backend.read_only:
        raise ReadOnlyRemote(f"cannot repair remote {name} ({backend.describe()}): an HTTP(S) remote is read-only",
                             "run `gitmodels fsck --remote --repair` against the writable remote it publishes")
    result = FsckResult(f"remote {name}")
    keys: list[tuple[str, str, int]] = []
    bar = Bar(f"checking remote {name}", wanted(progress))
    chunk_keys = 0
    from gitmodels import chunking

    rebuild = chunking if transfer.chunking else None
    with backend:
        # A remote that cannot be listed (HTTP) is checked for the objects this repository's history refers to.
        listing = backend.list("") if backend.can_list else ((object_key(oid), 0) for oid in _referenced(repo))
        for key, size in listing:
            kind, oid = classify_key(key)
            if kind == "chunk":
                chunk_keys += 1
            elif kind == "other":
                result.other_keys += 1
            elif kind == "stray":
                result.stray.append(key)
            else:
                keys.append((oid, key, size))
        bar.set_total(len(keys), sum(s for _, _, s in keys))
        os.makedirs(store.tmp_dir, exist_ok=True)

        def check(item: tuple[str, str, int]) -> tuple[str, str, int, str | None]:
            oid, key, size = item
            tmp = fileio.tmp_name_for(os.path.join(store.tmp_dir, "fsck"))
            try:
                digest = backend.download(key, tmp, bar)
                if digest is None:
                    digest, _ = hash_file(tmp)
            except KeyNotFound:
                if backend.can_list or rebuild is None:
                    return oid, key, size, None  # deleted meanwhile
                return oid, key, size, _check_rebuilt(rebuild, transfer, oid, tmp, bar)  # stored as chunks?
            except RemoteError as exc:
                return oid, key, size, f"unreadable: {exc}"
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return oid, key, size, None if digest == oid else f"its bytes hash to {digest[:12]}"

        problems: list[Problem] = []
        try:
            with ThreadPoolExecutor(max_workers=min(transfer.jobs, max(1, len(keys)))) as pool:
                for fut in as_completed([pool.submit(check, k) for k in keys]):
                    oid, key, size, error = fut.result()
                    result.checked += 1
                    result.bytes += size
                    if error:
                        problems.append(Problem(oid, f"{backend.describe().rstrip('/')}/{key}", error, affects=[oid]))
        finally:
            bar.close()
        chunk_problems: list[Problem] = []
        if chunk_keys:
            state_dir = store.chunk_dir
            report = chunking.verify_remote(backend, jobs=transfer.jobs,
                                            state_dir=state_dir if os.path.isdir(state_dir) else None)
            result.chunk_packs = report.packs_checked
            for pack in report.bad_packs:
                chunk_problems.append(Problem(pack.pack_id, f"{backend.describe().rstrip('/')}/{pack.key}",
                                              "; ".join(pack.problems), affects=list(pack.affected_oids)))
            for oid, why in report.bad_recipes:
                chunk_problems.append(Problem(oid, f"{backend.describe().rstrip('/')}/{chunking.recipe_key(oid)}",
                                              f"damaged chunk recipe: {why}", affects=[oid]))
        damaged = {o for p in problems + chunk_problems for o in p.affects}
        if damaged:
            repo.state.remote_forget(transfer.remote_id, sorted(damaged))
        if repair:
            for p in problems:
                _repair(repo, transfer, p)
            fixed: dict[str, bool] = {}
            for p in chunk_problems:
                for oid in p.affects:
                    if oid not in fixed:
                        fixed[oid] = _repair_chunked(repo, transfer, chunking, oid)
                p.repaired = bool(p.affects) and all(fixed[o] for o in p.affects)
                if p.affects and not p.repaired:
                    p.error += f"; no sound cached copy of {sum(not fixed[o] for o in p.affects)} affected object(s)"
        problems.extend(chunk_problems)
    models = affected_models(repo, {o for p in problems for o in p.affects}, include_remote_refs=True)
    for p in sorted(problems, key=lambda p: p.where):
        _describe(p, models)
        result.corrupt.append(p)
    return result


def _referenced(repo) -> list[str]:
    """Every object the commits of every ref (and the work tree) refer to."""
    oids: set[str] = set()
    for ptr in repo.pointers_for_transfer(all_refs=True).values():
        oids |= objects_of(repo.store, ptr) - {bundle_name(ptr.oid)}  # a bundle is a recipe, not an object
    return sorted(oids)


def _check_rebuilt(chunking, transfer, oid: str, tmp: str, bar) -> str | None:
    """Rebuild `oid` from its chunk recipe and packs on the remote alone (not from the cache): an error or None."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        chunking.download_object(transfer.backend, transfer.store.chunk_dir, oid, tmp, None, bar, fsync=False)
    except KeyNotFound:
        return None
    except GitModelsError as exc:
        return f"its chunks do not rebuild it: {exc}"
    return None  # absent (None) or rebuilt and verified against oid while written


def _repair(repo, transfer, p: Problem) -> None:
    """Overwrite a damaged remote object with the cached copy, if that copy hashes right."""
    store = repo.store
    if not store.has(p.oid) or not store.verify(p.oid):
        return
    try:
        transfer.backend.upload(object_key(p.oid), store.file(p.oid), store.size(p.oid) or 0)
    except RemoteError as exc:
        p.error += f"; repair failed: {exc}"
        return
    p.repaired = True
    repo.state.remote_add(transfer.remote_id, [p.oid])


def _repair_chunked(repo, transfer, chunking, oid: str) -> bool:
    """Serve `oid` whole from a sound cached copy, then drop its damaged chunk recipe."""
    store = repo.store
    if not store.has(oid) or not store.verify(oid):
        return False
    try:
        transfer.backend.upload(object_key(oid), store.file(oid), store.size(oid) or 0)
        transfer.backend.delete(chunking.recipe_key(oid))
    except RemoteError:
        return False
    repo.state.remote_add(transfer.remote_id, [oid])
    return True


def quarantined(repo) -> list[str]:
    folder = os.path.join(repo.store.root, "quarantine")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


__all__ = ["Problem", "FsckResult", "check_cache", "check_remote", "affected_models", "pointer_size_problems",
           "quarantined"]
