"""The library API behind every command: a git repository with its model store."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable, Mapping

from gitmodels.storage import pointer as pointer_mod
from gitmodels.config import Config
from gitmodels.errors import (BadPointer, CorruptObject, GitModelsError, ModelNotFound, NoRemote, ObjectMissing, PathError, RemoteError, SizeMismatch, UnsavedChanges)
from gitmodels.git.repo import GitRepo
from gitmodels.storage.locking import repo_lock
from gitmodels.storage.pointer import Pointer, extra_objects
from gitmodels.progress import Bar, wanted
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import Store
from gitmodels.sync.queue import TransferQueue, TransferResult
from gitmodels.storage.manifest import manifest_entries
from gitmodels.workspace import restore as restore_mod
from gitmodels.workspace.dirs import Stage
from gitmodels.workspace.restore import CheckoutResult, ModelOutcome, Outcome, Scanned, Workspace
from gitmodels.workspace.status import ModelStatus

@dataclasses.dataclass
class AddResult:
    path: str
    pointer_path: str
    oid: str
    size: int
    kind: str
    changed: bool


def _model_of_key(key: str) -> str:
    """The model path in a `pointers_for_transfer(all_refs=True)` key: `ART@SHA8:OID` or `ART:OID`."""
    art = key.rpartition(":")[0]
    head, at, sha = art.rpartition("@")
    return head if at and len(sha) == 8 and all(c in "0123456789abcdef" for c in sha) else art


class Repo:
    """A git repository with its model store: the one object every command and the Python API work through.

    It wires config, git (GitRepo), the cache (Store), the stat cache, the
    workspace and the remotes together, so each verb (add, status, push,
    fetch, checkout, pull) is a short composition of them. It never installs
    or runs git hooks: hooks/ calls it, not the other way round.
    """

    def __init__(self, path: str = "."):
        self.git = GitRepo(path)
        self.root = self.git.worktree
        self.meta_dir = os.path.join(self.git.common_dir, "gitmodels")
        self.config = Config(self.root, self.meta_dir)
        cache_dir = self.config.get("core", "cache_dir")
        self.cache_dir = os.path.abspath(os.path.join(self.root, os.path.expanduser(cache_dir))) if cache_dir \
            else self.meta_dir
        self.store = Store(self.cache_dir, fsync=bool(self.config.get("core", "fsync")))
        self._state: StatCache | None = None
        self._workspace: Workspace | None = None
        self.sparse_skipped = 0  # pointers the sparse checkout leaves out, counted by pointer_paths()

    # -- plumbing ---------------------------------------------------------------------

    @property
    def state(self) -> StatCache:
        if self._state is None:
            self._state = StatCache(os.path.join(self.meta_dir, "state.db"))
        return self._state

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            from gitmodels.workspace.added import rescanned

            self._workspace = Workspace(self.store, self.state, self.config.get_int("core", "spare_limit"),
                                        self.chunk_threshold, lambda path, oid: rescanned(self, path, oid))
        return self._workspace

    @property
    def chunk_threshold(self) -> int | None:
        """Objects this large are chunked (docs/storage.md); None when `core.chunking` is off."""
        if not self.config.get("core", "chunking"):
            return None
        return self.config.get_int("core", "chunk_threshold")

    def lock(self):
        return repo_lock(os.path.join(self.meta_dir, "lock"))

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
        self.store.packs.close()

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def abspath(self, relpath: str) -> str:
        return os.path.join(self.root, *relpath.split("/"))

    def artifact_relpath(self, path: str) -> str:
        """Repo-relative artifact path for a user-given path (artifact or its pointer)."""
        rel = self.git.relpath(path).rstrip("/")
        if rel.endswith(pointer_mod.SUFFIX):
            rel = rel[: -len(pointer_mod.SUFFIX)]
        return rel

    # -- pointers ---------------------------------------------------------------------

    def pointer_paths(self) -> list[str]:
        """Pointer files of the checkout: those in the index, but for those a sparse checkout leaves out
        (counted in `sparse_skipped`: no command can restore a model whose pointer git did not check out).

        Remembered per index stat, so an unchanged index is not parsed again.
        """
        import json

        from gitmodels.storage.statcache import stat_key

        index = self.git.index_path()
        try:
            stamp = json.dumps(stat_key(os.stat(index)))
        except FileNotFoundError:
            return []
        cached = self.state.memo_get("index-pointers2:" + index, stamp)
        if cached is not None:
            paths, self.sparse_skipped = json.loads(cached)
            return paths
        inside, outside = self.git.sparse_split_pointers()
        paths, self.sparse_skipped = sorted(inside), len(outside)
        self.state.memo_put("index-pointers2:" + index, stamp, json.dumps([paths, self.sparse_skipped]))
        return paths

    def read_pointer(self, pointer_path: str) -> Pointer:
        try:
            return pointer_mod.read(self.abspath(pointer_path), pointer_path)
        except FileNotFoundError:
            raise ModelNotFound(f"{pointer_path} does not exist in the working tree",
                                f"restore it with `git checkout -- {pointer_path}`") from None

    def pointers(self, rev: str | None = None, paths: Iterable[str] | None = None,
                 errors: list | None = None) -> dict[str, Pointer]:
        """artifact path -> Pointer, in the workspace (rev None) or at a git revision.

        Unreadable pointers raise, or are appended to `errors` as (path, BadPointer).
        """
        wanted_paths = {self.artifact_relpath(p) for p in paths} if paths is not None else None
        out: dict[str, Pointer] = {}
        if rev is None:
            sources = {p: None for p in self.pointer_paths()}
        else:
            sources = self.git.pointers_at(self.git.resolve(rev))
        for ppath, blob in sources.items():
            art = pointer_mod.artifact_path_for(ppath)
            if wanted_paths is not None and art not in wanted_paths:
                continue
            try:
                out[art] = self.read_pointer(ppath) if blob is None \
                    else pointer_mod.parse_fast(self.git.blob(blob), ppath)
            except (BadPointer, ModelNotFound) as exc:
                if errors is None:
                    raise
                errors.append((ppath, exc))
        if wanted_paths is not None:
            for art in sorted(wanted_paths - set(out) - {pointer_mod.artifact_path_for(p) for p, _ in errors or []}):
                where = f" at {rev}" if rev else ""
                raise ModelNotFound(f"{art} is not a tracked model{where}")
        return out

    # -- init / add -----------------------------------------------------------------------

    def init(self, remote: str | None = None, remote_name: str = "origin",
             warn: Callable[[str], None] | None = None) -> list[str]:
        """Prepare the repo: shared config, default remote; idempotent. Returns what was done, for the CLI
        to report; what could not be checked about the remote goes to `warn`. The git hooks are the
        caller's to install (cli/init.py): the core never reaches up into hooks/."""
        done = []
        if remote:  # checked before anything is written, as `remote add` does
            for line in self.prepare_remote(remote_name, remote, {}, local=False):
                if warn:
                    warn(line)
        os.makedirs(self.meta_dir, exist_ok=True)
        if not os.path.exists(self.config.shared_path) and not self.config.shared:
            self.config.update(False, lambda doc: doc.setdefault("version", 1))
            done.append(f"wrote {os.path.basename(self.config.shared_path)}")
        if remote:
            existing = self.config.remotes().get(remote_name, {})
            if existing.get("url") != remote:
                self.config.set_remote(remote_name, remote, {}, local=False,
                                       default=self.config.default_remote_name() in (None, remote_name))
                done.append(f"remote {remote_name} -> {remote}")
        if os.path.exists(self.config.shared_path):
            self.git.stage([os.path.basename(self.config.shared_path)])
        return done

    def add(self, paths: Iterable[str], progress: bool | None = None,
            meta: dict | None = None, stage: bool = True) -> list[AddResult]:
        from gitmodels.workspace import ignore, names

        targets = []
        for path in paths:
            rel = self.artifact_relpath(path)
            ignore.check_name(rel)
            absolute = self.abspath(rel)
            if not os.path.lexists(absolute):
                raise PathError(f"{path} does not exist")
            if os.path.islink(absolute):
                raise PathError(f"{path} is a symlink", "track the file it points to instead")
            if rel.split("/")[0] == ".git":
                raise PathError(f"{path} is inside .git")
            if self.git.is_tracked(rel):
                raise PathError(f"git already tracks {rel}",
                                f"untrack it first: git rm -r --cached {rel}, then gitmodels add {rel}")
            targets.append(rel)
        portable = self.config.get("core", "portable_names") is not False
        if portable:  # names a teammate on Windows or macOS could not check out (docs/platforms.md)
            names.check_names(targets)
            names.check_case(targets, [pointer_mod.artifact_path_for(p) for p in self.pointer_paths()])
        results = []
        bar = Bar("hashing", wanted(progress))
        try:
            with self.lock():
                to_stage = []
                scanned = [self.workspace.scan(self.abspath(rel), into_store=True, progress=bar) for rel in targets]
                for rel, scan in zip(targets, scanned):
                    if portable and scan.manifest is not None:
                        names.check_model_files(rel, [e.path for e in scan.manifest.entries])
                self.store.sync()  # objects durable before any pointer names them
                for rel, scan in zip(targets, scanned):
                    result, staged = self._write_pointer(rel, scan, meta)
                    results.append(result)
                    to_stage.extend(staged)
                to_stage.extend(ignore.ensure_ignored_many(self.root, targets))
                self.state.flush()
                if stage and to_stage:
                    self.git.stage(sorted(set(to_stage)))
        finally:
            bar.close()
        return results

    def _write_pointer(self, rel: str, scanned: Scanned, meta: dict | None) -> tuple[AddResult, list[str]]:
        from gitmodels.storage import fileio

        ppath = pointer_mod.pointer_path_for(rel)
        old = None
        try:
            old = self.read_pointer(ppath)
        except (ModelNotFound, BadPointer):
            pass
        new = Pointer(oid=scanned.oid, size=scanned.size, kind=scanned.kind, files=scanned.files,
                      meta=dict(meta or {}))
        changed = old is None or old.oid != new.oid or old.kind != new.kind or (meta is not None and old.meta != new.meta)
        if changed:
            fileio.write_bytes_atomic(self.abspath(ppath), new.dumps().encode("utf-8"), fsync=False)
            from gitmodels.workspace import synced

            synced.forget(self)  # the hooks' record of what the working tree matches is out of date
        from gitmodels.workspace import added, status as status_mod

        if status_mod.big_dir(new):
            added.note(self, ppath, new.oid)  # its commit needs no Python
        if old is None or old.oid != new.oid:
            # bytes this clone put under a pointer: loading them later needs no trust decision.
            # Re-adding what a checkout wrote keeps the pointer's oid, so it is never recorded here.
            self.state.saved_add([new.oid])
        return AddResult(rel, ppath, new.oid, new.size, new.kind, changed), [ppath]

    # -- status -------------------------------------------------------------------------

    def status(self, paths: Iterable[str] | None = None, remote: str | bool | None = None) -> list[ModelStatus]:
        from gitmodels.workspace import status as status_mod

        if paths is None and not remote:  # the everyday case: answered from what changed since the last one
            return status_mod.remembered_status(self)
        errors: list = []
        pointers = self.pointers(None, paths, errors)
        out = [ModelStatus(pointer_mod.artifact_path_for(p), p, "bad-pointer", error=str(e)) for p, e in errors]
        recorded = self.state.lookup_many([self.abspath(a) for a, p in pointers.items() if not p.is_dir])
        for art, ptr in sorted(pointers.items()):
            out.append(status_mod.model_status(self, art, ptr, recorded))
        if paths is None:
            from gitmodels.workspace import moves

            out += [status_mod.orphan_status(self, art) for art in moves.orphans(self)]
        self.state.flush()
        if remote:
            name = None if remote is True else remote
            _, transfer = self.open_transfer(name)
            with transfer.backend:
                objs = {}
                for s in out:
                    if s.oid:  # not in cache: the remote must have it (a directory: its manifest, pushed last)
                        ptr = pointers[s.path]
                        # A directory is on the remote when its manifest is: manifests go last, after
                        # every file (its small ones are in its bundle, never asked about one by one).
                        objs[s.path] = {ptr.oid} | extra_objects(ptr) if ptr.is_dir else \
                            self._objects_of(ptr, check=False)
                missing = transfer.remote_missing(set().union(*objs.values()) if objs else set())
                for s in out:
                    if s.path in objs:
                        s.pushed = not (objs[s.path] & missing)
        return sorted(out, key=lambda s: s.path)

    def _scan_quietly(self, absolute: str) -> Scanned | None:
        try:
            return self.workspace.scan(absolute)
        except GitModelsError:
            return None

    def in_cache(self, ptr: Pointer) -> bool:
        if ptr.is_dir:  # one listing per cache folder, not a stat per file (status.dir_in_cache)
            from gitmodels.workspace.status import dir_in_cache

            return dir_in_cache(self, ptr.oid)
        return self.store.has(ptr.oid)

    def _objects_of(self, ptr: Pointer, where: str | None = None, check: bool = True) -> set[str]:
        """Every object a pointer needs, expanding a cached directory manifest.

        `check`: refuse (SizeMismatch) a pointer whose size is not its cached object's.
        """
        oids = {ptr.oid} | extra_objects(ptr)
        if ptr.is_dir and self.store.has(ptr.oid):
            entries = manifest_entries(self.store, ptr.oid)
            if check:
                pointer_mod.check_size(ptr, sum(e.size for e in entries), len(entries), where)
            oids.update(e.oid for e in entries)
        elif check and not ptr.is_dir:
            size = self.store.size(ptr.oid)
            if size is not None and size != ptr.size and not self.store.verify(ptr.oid):  # damaged, not lying
                raise CorruptObject(f"{where or 'a model'}: corrupt object in the cache: {self.store.path(ptr.oid)}")
            if size is not None:
                pointer_mod.check_size(ptr, size, None, where)
        return oids

    # -- remotes and transfers ----------------------------------------------------------------

    def remote_url(self, settings: dict) -> str:
        url = settings["url"]
        from gitmodels.remotes import scheme_of

        if scheme_of(url) == "file" and not url.startswith("file://") and not os.path.isabs(os.path.expanduser(url)):
            url = os.path.normpath(os.path.join(self.root, url))
        return url

    def prepare_remote(self, name: str, url: str, settings: dict, *, local: bool) -> list[str]:
        """What can be checked of a new remote without the network, before anything is written;
        then a directory remote is created.

        Raises for a remote that cannot work or a credential bound for the committed config;
        returns warnings for what could not be checked.
        """
        from gitmodels.credentials import mask_url
        from gitmodels.remotes import check_new_remote, scheme_of
        from gitmodels.remotes.local import create_root, path_from_url

        warnings = check_new_remote(url)
        self.config.check_remote(name, url, settings, local=local)
        if scheme_of(url) == "file":
            path = self.remote_url({"url": path_from_url(url) if url.startswith("file://") else url})
            warnings += create_root(path, mask_url(url) if url.startswith("file://") else path)
        return warnings

    def open_transfer(self, name: str | None = None, jobs: int | None = None) -> tuple[str, TransferQueue]:
        from gitmodels.remotes import open_backend

        name, settings = self.config.remote(name)
        url = self.remote_url(settings)
        extra = {k: v for k, v in settings.items() if k != "url"}
        extra.setdefault("fsync", self.config.get("core", "fsync"))
        backend = open_backend(url, extra)
        transfer = TransferQueue(self.store, backend, self.state, backend.url,
                                 jobs=jobs or int(settings.get("jobs_across", 0) or self.config.get_int("transfer", "jobs")),
                                 chunk_threshold=self.chunk_threshold, name=name,
                                 pack_threshold=self.config.get_int("core", "pack_threshold"))
        return name, transfer

    def pointers_for_transfer(self, rev: str | None = None, all_refs: bool = False,
                              paths: Iterable[str] | None = None) -> dict[str, Pointer]:
        if all_refs:
            out: dict[str, Pointer] = {}
            for sha in sorted(set(self.git.refs().values())):
                for art, ptr in self.pointers(sha).items():
                    out[f"{art}@{sha[:8]}:{ptr.oid}"] = ptr
            for art, ptr in self.pointers(None).items():
                out[f"{art}:{ptr.oid}"] = ptr
            return out
        return self.pointers(rev, paths)

    def push(self, rev: str | None = None, all_refs: bool = False, remote: str | None = None,
             paths: Iterable[str] | None = None, jobs: int | None = None, progress: bool | None = None,
             pointers: Iterable[Pointer] | None = None) -> TransferResult:
        named = [(None, p) for p in pointers] if pointers is not None \
            else [(_model_of_key(key) if all_refs else key, p)
                  for key, p in self.pointers_for_transfer(rev, all_refs, paths).items()]
        name, transfer = self.open_transfer(remote, jobs)
        oids: set[str] = set()
        dirs: dict[str, list] = {}  # manifest -> entries: its small files travel in its bundle
        refused: dict[str, tuple[str, GitModelsError]] = {}
        threshold = transfer.pack_threshold
        for art, ptr in named:
            try:
                if ptr.is_dir and threshold and self.store.has(ptr.oid):
                    if ptr.oid not in dirs:
                        entries = manifest_entries(self.store, ptr.oid)
                        pointer_mod.check_size(ptr, sum(e.size for e in entries), len(entries), art)
                        dirs[ptr.oid] = entries
                        oids.update(e.oid for e in entries if not 0 < e.size < threshold)
                    oids |= {ptr.oid} | extra_objects(ptr)
                else:
                    oids |= self._objects_of(ptr, art)
            except (SizeMismatch, CorruptObject) as exc:  # neither is pushed as if fine
                refused.setdefault(exc.message, (ptr.oid, exc))
        bar = Bar(f"pushing to {name}", wanted(progress))
        try:
            with transfer.backend:
                result = transfer.push(oids, bar, bar.set_total, dirs=dirs)  # one existence pass, then the uploads
                result.failed.extend(refused.values())
        finally:
            bar.close()
        return result

    def fetch(self, rev: str | None = None, all_refs: bool = False, remote: str | None = None,
              paths: Iterable[str] | None = None, jobs: int | None = None, progress: bool | None = None,
              pointers: Iterable[Pointer] | None = None, for_workspace: bool = False,
              new_dirs: Mapping[str, str] | None = None) -> TransferResult:
        """Download the objects of the pointers; `for_workspace`: they are checked out next, so
        large ones are also written as workspace-ready spares in the same pass (docs/formats.md),
        and the small files of directories `new_dirs` (manifest oid -> a path where nothing exists)
        are written to a stage the checkout renames into place (workspace/dirs.Stage)."""
        ptrs = list(pointers) if pointers is not None else list(self.pointers_for_transfer(rev, all_refs, paths).values())
        result = TransferResult()
        if all(self.in_cache(p) for p in ptrs):
            result.objects = sum(len(self._objects_of(p, check=False)) for p in ptrs)
            return result
        name, transfer = self.open_transfer(remote, jobs)
        spares = self.workspace.spares if for_workspace and self.config.get("core", "link") in ("reflink", "copy") \
            else None
        bar = Bar(f"fetching from {name}", wanted(progress))
        try:
            with transfer.backend:
                # Manifests first: a directory's file list is only known once its manifest is here.
                first = transfer.fetch({p.oid for p in ptrs}, bar, sizes={p.oid: p.size for p in ptrs if not p.is_dir},
                                       spares=spares)
                result.merge(first)
                # Parsed through the workspace's memo: the checkout that follows reads the same manifest.
                dirs = {p.oid: self.workspace.manifest(p.oid).entries for p in ptrs
                        if p.is_dir and self.store.has(p.oid)}
                entries: dict[str, int] = {e.oid: e.size for listed in dirs.values() for e in listed}
                if entries:
                    bar.set_total(0, sum(entries.values()))
                    stages = {oid: Stage(self.store, path, oid, dirs[oid]) for oid, path in (new_dirs or {}).items()
                              if spares is not None and oid in dirs and not os.path.lexists(path)}
                    for stage in stages.values():  # the caller's checkout takes them, or discards them
                        self.workspace.hand_over(stage)
                    # Small files from the directories' bundles (a few large reads of packs), the rest one by one.
                    packed = transfer.fetch_dirs(dirs, bar, stages)
                    del dirs, stages
                    result.merge(packed)
                    refused = {oid for oid, _ in packed.failed}
                    result.merge(transfer.fetch({o: n for o, n in entries.items() if o not in refused}, bar,
                                                sizes=entries, spares=spares))
        finally:
            bar.close()
        return result

    # -- checkout -----------------------------------------------------------------------

    def checkout(self, paths: Iterable[str] | None = None, *, rev_pointers: dict[str, Pointer] | None = None,
                 force: bool = False, fetch: bool = True, remote: str | None = None,
                 progress: bool | None = None, strict: bool = True) -> CheckoutResult:
        """Make workspace artifacts match their pointers; fetch what the cache lacks.

        strict: raise on the first model that cannot be restored; otherwise
        every model gets its typed outcome in the result (hooks must never fail git).
        """
        errors: list = []
        pointers = rev_pointers if rev_pointers is not None else self.pointers(None, paths, errors)
        result = CheckoutResult()
        for ppath, exc in errors:
            if strict:
                raise exc
            result.outcomes.append(ModelOutcome(pointer_mod.artifact_path_for(ppath), Outcome.BAD_POINTER, None, exc))
        if rev_pointers is None:
            from gitmodels.workspace import moves

            with self.lock():
                result.moved = moves.adopt_orphans(self, {a: p for a, p in pointers.items()
                                                          if not os.path.lexists(self.abspath(a))})
        need = [p for p in pointers.values() if not self.in_cache(p)] if fetch else []  # pull fetched them
        try:
            if need and fetch:
                try:
                    result.fetched = self.fetch(remote=remote, pointers=need, progress=progress, for_workspace=True,
                                                new_dirs=self._new_dirs(pointers))
                except RemoteError as exc:
                    if strict and not isinstance(exc, NoRemote):
                        raise
                    result.fetched.failed.append(("", exc))
                if strict and result.fetched.failed:
                    raise result.fetched.failed[0][1]
            self._restore_all(pointers, force, fetch, progress, strict, result)
        finally:
            self.workspace.discard_stages()
        if rev_pointers is None and result.restored:
            moves.ensure_rules(self, result.restored)
        return result

    def _new_dirs(self, pointers: dict[str, Pointer]) -> dict[str, str]:
        """manifest oid -> path of the directory models whose path holds nothing yet (see fetch)."""
        return {p.oid: self.abspath(art) for art, p in pointers.items()
                if p.is_dir and not os.path.lexists(self.abspath(art))}

    def _restore_all(self, pointers: dict[str, Pointer], force: bool, fetch: bool, progress: bool | None,
                     strict: bool, result: CheckoutResult) -> None:
        bar = Bar("checking out", wanted(progress))
        try:
            with self.lock():
                for art, ptr in sorted(pointers.items()):
                    try:
                        outcome = ModelOutcome(art, self._checkout_one(art, ptr, force, bar), ptr.oid)
                    except GitModelsError as exc:
                        if strict:
                            raise
                        outcome = restore_mod.not_restored(art, ptr.oid, exc, cached=self.in_cache(ptr),
                                                           fetch=fetch, fetched=result.fetched)
                    result.outcomes.append(outcome)
                self.state.flush()
            if result.restored:
                from gitmodels.workspace import synced

                synced.forget(self)  # the hooks' record of what the working tree matches is out of date
        finally:
            bar.close()

    def _checkout_one(self, art: str, ptr: Pointer, force: bool, bar: Callable[[int], None]) -> Outcome:
        absolute = self.abspath(art)

        def check(size: int, files: int | None) -> None:
            pointer_mod.check_size(ptr, size, files, art)

        if os.path.lexists(absolute):
            quick = self.workspace.quick_scan(absolute)
            if quick is not None and quick.oid == ptr.oid and ptr.kind == "file":
                check(quick.size, None)
                return Outcome.UNCHANGED
        if not self.workspace.staged(absolute, ptr.oid) and not self.in_cache(ptr):  # a fetch just stored it
            remotes = ", ".join(sorted(self.config.remotes())) or "none configured"
            raise ObjectMissing(f"{art}: model {ptr.oid[:12]} is not in the cache nor on the remotes tried "
                                f"({remotes})",
                                "push it from a clone that has it (`gitmodels push`), then `gitmodels pull`")
        try:
            changed = self.workspace.restore(absolute, ptr.oid, ptr.kind, link=self.config.get("core", "link"),
                                             force=force, progress=bar, check=check)
        except UnsavedChanges:
            raise UnsavedChanges(f"{art} was modified and not saved with `gitmodels add`; not overwriting it",
                                 f"keep it: `gitmodels add {art}`; discard it: `gitmodels checkout --force {art}`") \
                from None
        return Outcome.RESTORED if changed else Outcome.UNCHANGED

    def export(self, ptr: Pointer, dest: str, *, fetch: bool = True, remote: str | None = None,
               where: str | None = None) -> None:
        """Write the artifact of `ptr` at `dest` (which must not exist), re-hashing every byte.

        Used by `get` and `load`: what comes out is verified against the oid git
        recorded, whatever happened to the cache since, and against the pointer's
        size (the count of the bytes that hashed right). `where`: the model's
        path, for messages.
        """
        if os.path.lexists(dest):
            raise PathError(f"{dest} already exists", "choose another output path or remove it")
        if not self.in_cache(ptr) and fetch:
            result = self.fetch(remote=remote, pointers=[ptr])
            if result.failed:
                raise result.failed[0][1]
        if not self.in_cache(ptr):
            raise ObjectMissing(f"model {ptr.oid[:12]} is not in the cache", "run `gitmodels fetch`")

        restore_mod.export(self.store, ptr, dest, where)

    def pull(self, remote: str | None = None, paths: Iterable[str] | None = None, jobs: int | None = None,
             progress: bool | None = None, force: bool = False) -> CheckoutResult:
        pointers = self.pointers(None, paths)
        try:
            fetched = self.fetch(remote=remote, pointers=list(pointers.values()), jobs=jobs, progress=progress,
                                 for_workspace=True, new_dirs=self._new_dirs(pointers))
            if fetched.failed:
                raise fetched.failed[0][1]
        except BaseException:
            self.workspace.discard_stages()
            raise
        result = self.checkout(rev_pointers=pointers, force=force, fetch=False, progress=progress)
        result.fetched = fetched
        return result
