"""Artifacts in the working tree: hash them (reusing the stat cache) and restore them from the cache."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import stat as statmod
from typing import Callable

from gitmodels.storage import fileio
from gitmodels.storage import manifest as manifest_mod
from gitmodels.errors import (BadManifest, CorruptObject, GitModelsError, ObjectMissing, PathError,
                              UnsavedChanges)
from gitmodels.storage import pointer as pointer_mod
from gitmodels.storage.hashing import hash_bytes, hash_file
from gitmodels.storage.manifest import Entry
from gitmodels.storage.manifest import Manifest
from gitmodels.storage.pointer import Pointer
from gitmodels.workspace import dirs
from gitmodels.workspace.spares import Spares
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.treewalk import signature_of
from gitmodels.storage.store import SMALL_OBJECT, Store
from gitmodels.sync.queue import TransferResult

Progress = Callable[[int], None]
SizeCheck = Callable[[int, "int | None"], None]  # (size, files) of the bytes about to be used; raises if wrong


@dataclasses.dataclass(frozen=True)
class Scanned:
    """What an artifact on disk is: its oid, total size, kind, and for a directory its manifest."""

    oid: str
    size: int
    kind: str
    manifest: Manifest | None = None

    @property
    def files(self) -> int | None:
        return len(self.manifest.entries) if self.manifest else None


class Outcome(enum.Enum):
    """What a checkout did with one model. The hooks' warnings (workspace/report.py) and any caller
    decide on these, never on the text of an error."""

    RESTORED = "restored"                  # the artifact now matches its pointer
    UNCHANGED = "unchanged"                # it already did
    KEPT_MODIFIED = "kept-modified"        # it holds changes saved nowhere else: not overwritten
    FAILED = "failed"                      # the bytes are cached but could not be placed (corrupt, size, path)
    NOT_FETCHED = "not-fetched"            # not in the cache, and fetching was off
    MISSING_EVERYWHERE = "missing-everywhere"  # in neither the cache nor the model remote
    REMOTE_UNREACHABLE = "remote-unreachable"  # not in the cache; the fetch failed (remote down, none set up)
    NOT_CACHED = "not-cached"              # not in the cache after a fetch that reported nothing
    BAD_POINTER = "bad-pointer"            # the pointer file cannot be read (Repo.checkout records these itself)


DONE = (Outcome.RESTORED, Outcome.UNCHANGED)


@dataclasses.dataclass(frozen=True)
class ModelOutcome:
    """One model's outcome; `error` is what stopped it (None when DONE), `oid` the pointer's object."""

    path: str
    outcome: Outcome
    oid: str | None = None
    error: GitModelsError | None = None


@dataclasses.dataclass
class CheckoutResult:
    """Every model a checkout looked at, with its outcome, and what it fetched on the way."""

    outcomes: list[ModelOutcome] = dataclasses.field(default_factory=list)
    fetched: TransferResult = dataclasses.field(default_factory=TransferResult)
    moved: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (old, new): after `git mv` of a pointer

    def paths(self, *kinds: Outcome) -> list[str]:
        return [o.path for o in self.outcomes if o.outcome in kinds]

    @property
    def restored(self) -> list[str]:
        return self.paths(Outcome.RESTORED)

    @property
    def unchanged(self) -> list[str]:
        return self.paths(Outcome.UNCHANGED)

    @property
    def problems(self) -> list[ModelOutcome]:
        """The models left as they were, in the order they were looked at."""
        return [o for o in self.outcomes if o.outcome not in DONE]


def not_restored(path: str, oid: str | None, exc: GitModelsError, *, cached: bool, fetch: bool,
                 fetched: TransferResult) -> ModelOutcome:
    """Why a model was not restored, from the exception that stopped it and what the fetch before said.

    `cached`: all its objects are in the cache (so the remote is not to blame);
    `fetched.failed` holds (oid, error) per object, and ("", error) when the
    whole fetch failed (no remote, remote unreachable).
    """
    from gitmodels.remotes.base import KeyNotFound

    if cached:
        kind = Outcome.KEPT_MODIFIED if isinstance(exc, UnsavedChanges) else Outcome.FAILED
        return ModelOutcome(path, kind, oid, exc)
    if not fetch:
        return ModelOutcome(path, Outcome.NOT_FETCHED, oid, exc)
    failures = {o: e for o, e in fetched.failed if o}
    whole = next((e for o, e in fetched.failed if not o), None)
    failure = failures.get(oid or "") or whole or next(iter(failures.values()), None)
    if isinstance(failure, (ObjectMissing, KeyNotFound)):
        return ModelOutcome(path, Outcome.MISSING_EVERYWHERE, oid, failure)
    if failure is not None:
        return ModelOutcome(path, Outcome.REMOTE_UNREACHABLE, oid, failure)
    return ModelOutcome(path, Outcome.NOT_CACHED, oid, exc)


def _is_exec(st: os.stat_result) -> bool:
    return bool(st.st_mode & statmod.S_IXUSR)


class Workspace:
    def __init__(self, store: Store, state: StatCache, spare_limit: int = 0, chunk_threshold: int | None = None,
                 dir_recorded: Callable[[str, str], None] | None = None):
        self.store = store
        self.state = state
        self.dir_recorded = dir_recorded  # told (path, manifest oid) after each scan of a directory
        self.spares = Spares(store, state, spare_limit)
        self.chunk_threshold = chunk_threshold  # None: no chunking
        self._manifest: tuple[str, Manifest] | None = None  # the last one parsed (see manifest())
        self._stages: dict[str, dirs.Stage] = {}  # model path -> directory written by the fetch (dirs.Stage)

    # -- directories the fetch wrote (dirs.Stage) ---------------------------------------

    def hand_over(self, stage: dirs.Stage) -> None:
        """Keep a stage for the restore of its path that follows the fetch."""
        old = self._stages.pop(stage.path, None)
        if old is not None:
            old.discard()
        self._stages[stage.path] = stage

    def staged(self, path: str, oid: str) -> bool:
        """A fetch of this process wrote a stage of the directory `oid` for `path` (its objects are
        cached: a restore that finds one missing still says so, ObjectMissing)."""
        stage = self._stages.get(path)
        return stage is not None and stage.oid == oid

    def discard_stages(self) -> None:
        """Delete the stages no restore took (the checkout stopped before them)."""
        while self._stages:
            self._stages.popitem()[1].discard()

    def _adopt_stage(self, path: str, oid: str, kind: str) -> Scanned | None:
        """Rename the stage of `path` onto it; what it holds, as a partial scan (oid ""), or None."""
        stage = self._stages.pop(path, None)
        if stage is None:
            return None
        stage.finish()
        if stage.broken or stage.oid != oid or kind != "dir" or not stage.written or os.path.lexists(path):
            stage.discard()
            return None
        try:
            os.rename(stage.root, path)
        except OSError:
            stage.discard()
            return None
        entries = []
        for entry, key in stage.written:  # a folder's rename leaves its files' stats as they were
            self.state.record_key(dirs.full_path(path, entry.path), key, entry.oid)
            entries.append(entry)
        return Scanned("", sum(e.size for e in entries), "dir", Manifest(tuple(entries)))

    # -- hashing ----------------------------------------------------------------------

    def _file_oid(self, path: str, st: os.stat_result, recorded: dict, into_store: bool,
                  progress: Progress | None) -> str:
        known = self.state.known_oid(path, st, recorded)
        if known and (not into_store or self.store.has(known)):
            if progress:
                progress(st.st_size)
            return known
        if into_store:
            oid = self._add_to_store(path, st.st_size, progress)
            self.trust_object(oid)
        else:
            oid, _ = hash_file(path)
            if progress:
                progress(st.st_size)
        self.state.record(path, st, oid)
        return oid

    def _add_to_store(self, path: str, size: int, progress: Progress | None, expected: tuple | None = None,
                      pack: bool = False) -> str:
        """Copy a file into the cache; a large one is chunked in the same read, so push need not read it again.
        `pack`: a small one goes into a pack (a file of a directory: Store.put_packed)."""
        from gitmodels import chunking
        from gitmodels.sync.adapters import choose

        if not choose(size, self.chunk_threshold).chunked:
            return self.store.add_file(path, progress, expected=expected, pack=pack)[0]
        scans = []

        def scanner(src: str, out, report: Progress | None) -> tuple[str, int]:
            scans.append(chunking.scan_file(src, copy_to=out, progress=report))
            return scans[0].oid, scans[0].size

        oid, _ = self.store.add_file(path, progress, scanner, expected)
        if scans:
            chunking.index_local_object(self.store.chunk_dir, oid, self.store.path(oid), scan=scans[0])
        return oid

    def scan(self, path: str, *, into_store: bool = False, progress: Progress | None = None) -> Scanned:
        """Hash a file or directory artifact; with into_store, also copy its bytes into the cache."""
        st = os.lstat(path)
        if statmod.S_ISLNK(st.st_mode):
            raise PathError(f"{path} is a symlink", "track the file it points to instead")
        if statmod.S_ISREG(st.st_mode):
            recorded = self.state.lookup_many([path])
            oid = self._file_oid(path, st, recorded, into_store, progress)
            return Scanned(oid, st.st_size, "file")
        if not statmod.S_ISDIR(st.st_mode):
            raise PathError(f"{path} is neither a file nor a directory")
        files = dirs.list_files(path)
        self.state.flush()  # rows recorded earlier in this command are seen; the batches' own need not be

        def lookup(batch: list[dirs.Listed]) -> tuple[dict, set[str]]:
            recorded = self.state.lookup_many([dirs.full_path(path, f[0]) for f in batch], flush=False)
            return recorded, self.store.present({row[4] for row in recorded.values()}) if into_store else set()

        def scan_batch(batch: list[dirs.Listed], looked_up: tuple[dict, set[str]]) -> list[Entry]:
            return self._scan_batch(path, batch, *looked_up, into_store, progress)

        # small files on the pool; large ones here, one at a time: each is streamed on threads of its
        # own, and a chunked one writes the chunk index, which is not shared between threads
        large = [f for f in files if f[1][1] >= fileio.DIRECT_MIN]
        entries = dirs.run_batches(scan_batch, [f for f in files if f[1][1] < fileio.DIRECT_MIN] if large else files,
                                   self.state, lookup)
        signature, count = signature_of(files), len(files)  # for status and pre-commit (StatCache.known_dir)
        del files
        if large:
            entries.extend(scan_batch(large, lookup(large)))
        man = manifest_mod.build(entries)
        data = man.dumps()
        oid = self.store.add_bytes(data) if into_store else man.oid
        self.state.record_dir(path, signature, count, oid, man.size)
        if self.dir_recorded is not None:
            self.dir_recorded(path, oid)
        return Scanned(oid, man.size, "dir", man)

    def _scan_batch(self, root: str, batch: list[dirs.Listed], recorded: dict, cached: set[str], into_store: bool,
                    progress: Progress | None) -> list[Entry]:
        """The entries of some files of a directory artifact (on a worker thread: no stat-cache SQLite here;
        the cache's pack index, which an add may ask to dedup a file, is shared between threads).
        `recorded`: their stat-cache rows; `cached`: which of those rows' objects the cache has."""
        out = []
        for rel, key, executable in batch:
            full = dirs.full_path(root, rel)
            row = recorded.get(full)
            if row is not None and tuple(row[:4]) == key and (not into_store or row[4] in cached):
                oid = row[4]
                if progress:
                    progress(key[1])
            else:
                if into_store:
                    oid = self._add_to_store(full, key[1], progress, expected=key, pack=True)
                    if key[1] >= SMALL_OBJECT:  # a smaller one is hashed again on each copy out of the cache
                        self.trust_object(oid)
                else:
                    oid = dirs.hash_listed(full, key)
                    if progress:
                        progress(key[1])
                self.state.record_key(full, key, oid)
            out.append(Entry(rel, oid, key[1], executable))
        return out

    def quick_state(self, path: str, recorded: dict | None = None) -> str | None:
        """The artifact's oid if the stat cache vouches for it, else None (needs hashing).

        `recorded` is a prefetched `lookup_many` answer covering `path`.
        """
        quick = self.quick_scan(path, recorded)
        return quick.oid if quick is not None else None

    def quick_scan(self, path: str, recorded: dict | None = None) -> Scanned | None:
        """quick_state with the file's size (from the same stat), so a pointer's size is checked for free."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if statmod.S_ISREG(st.st_mode):
            oid = self.state.known_oid(path, st, recorded)
            return Scanned(oid, st.st_size, "file") if oid else None
        return None

    def manifest(self, oid: str, where: str | None = None) -> Manifest:
        """The cached manifest `oid`, parsed once per command however often a checkout asks.

        A 100,000-entry manifest takes seconds to parse and a checkout looks at
        it three times (is it all cached, before and after a fetch; restore). Only
        the last one is kept, so memory stays at one manifest; a manifest is
        named by its hash and was verified when read, so the copy cannot go stale.
        """
        if self._manifest is not None and self._manifest[0] == oid:
            return self._manifest[1]
        man = manifest_mod.parse(self.store.read_bytes(oid), where or f"manifest {oid[:12]}")
        self._manifest = (oid, man)
        return man

    # -- restoring --------------------------------------------------------------------

    def trust_object(self, oid: str) -> None:
        """Remember the cached object's stat, so later checkouts can copy it without re-hashing."""
        path = self.store.path(oid)
        self.state.record(path, os.stat(path), oid)

    def check_object(self, oid: str, recorded: dict | None = None) -> int:
        """Refuse a cached object that was written to since it was verified; returns its size.

        Objects are read-only; one whose stat changed was edited (or replaced), so
        it is re-hashed before a single byte of it reaches the workspace.
        Silent bit rot, which changes no stat, is what `gitmodels fsck` is for.
        """
        path = self.store.file(oid)  # a packed one (the bytes of a directory's small file) unpacked
        st = os.stat(path)
        if self.state.known_oid(path, st, recorded) == oid:
            return st.st_size
        digest, _ = hash_file(path)
        if digest != oid:
            raise CorruptObject(f"corrupt object in the cache: {path} (its bytes hash to {digest[:12]})")
        self.state.record(path, st, oid)
        return st.st_size

    def recoverable(self, scanned: Scanned) -> bool:
        """True when every byte of the artifact on disk is also in the cache."""
        if scanned.kind == "file":
            return self.store.has(scanned.oid)
        oids = {e.oid for e in scanned.manifest.entries}
        return len(self.store.present(oids)) == len(oids)

    def restore(self, path: str, oid: str, kind: str, *, link: str = "reflink", force: bool = False,
                current: Scanned | None = None, progress: Progress | None = None,
                check: SizeCheck | None = None) -> bool:
        """Make the artifact at `path` match `oid`; returns False when it already did.

        Refuses (UnsavedChanges) to replace bytes that exist nowhere but the
        workspace, unless force. `check(size, files)` sees the size of the
        verified bytes before any is placed (the pointer's size is only a claim).
        """
        if check and kind == "dir" and path in self._stages:  # the pointer's claim, before the stage is in place
            man = self.manifest(oid, f"manifest of {path}")
            check(man.size, len(man.entries))
        staged = self._adopt_stage(path, oid, kind)  # before the stale stages beside `path` are removed
        _remove_stale_temps(path, kind, inside=staged is None)  # a stage holds final names only
        exists = os.path.lexists(path)
        if staged is not None:
            current = staged  # written by the fetch from verified bytes: nothing to keep, nothing to re-check
        elif exists and current is None:
            current = self.scan(path)
        if current is not None and current.oid == oid and current.kind == kind:
            if check:
                check(current.size, current.files)
            return False
        if current is not None and staged is None and not force and not self.recoverable(current):
            raise UnsavedChanges(f"{path} has changes that are not saved in the model store")
        if kind == "file":
            size = self.check_object(oid)
            if check:
                check(size, None)
            if exists and (os.path.isdir(path) and not os.path.islink(path)):
                fileio.rmtree(path)
            self._place(oid, path, link, replaced=current.oid if current and current.kind == "file" else None)
            if progress:
                progress(os.path.getsize(path))
            return True
        man = self.manifest(oid, f"manifest of {path}")
        if check:
            check(man.size, len(man.entries))
        self.state.flush()
        placed = {e.path for e in staged.manifest.entries} if staged is not None else set()
        # every object, before a single file is placed (but those the fetch wrote just now)
        self._check_entries(path, tuple(e for e in man.entries if e.path not in placed) if placed else man.entries)
        del placed
        if exists and not os.path.isdir(path):
            fileio.remove(path)
        have = {}
        if current is not None and current.manifest is not None:
            have = {e.path: e for e in current.manifest.entries}
        wanted = {e.path for e in man.entries}
        for rel in set(have) - wanted:
            fileio.remove(dirs.full_path(path, rel))
        del wanted
        todo = [e for e in man.entries
                if not ((old := have.get(e.path)) is not None and old.oid == e.oid and old.executable == e.executable)]
        replacing = os.path.isdir(path)  # else nothing can be in the way: no stat per file to look
        placer = dirs.Placer(self.store, path)

        def locate(batch: list[Entry]) -> dict:  # the packed ones' places, a query per batch, not per file
            return self.store.packs.locate(e.oid for e in batch if e.size < SMALL_OBJECT)

        def place(batch: list[Entry], packed: dict) -> list:
            for entry in batch:
                dest = dirs.full_path(path, entry.path)
                placer.folder(os.path.dirname(dest), replacing)
                old = have.get(entry.path)
                self._place(entry.oid, dest, link, entry.executable, replaced=old.oid if old else None,
                            placer=placer, replacing=replacing, size=entry.size, where=packed.get(entry.oid))
                if progress:
                    progress(entry.size)
            return []

        dirs.run_batches(place, todo, self.state, locate)
        if replacing and staged is None:  # a stage only ever made the folders of its files
            _prune_empty_dirs(path)
        os.makedirs(path, exist_ok=True)
        return True

    def _check_entries(self, path: str, entries: tuple[Entry, ...]) -> None:
        """check_object for every entry of a manifest, and that each object has the size the manifest says.

        A small object is only looked for here (its pack entry, or a stat): its copy hashes it (dirs.Placer).
        """
        def lookup(batch: list[Entry]) -> tuple[dict, dict]:
            return (self.state.lookup_many([self.store.path(e.oid) for e in batch if e.size >= SMALL_OBJECT],
                                           flush=False),
                    self.store.packs.locate(e.oid for e in batch if e.size < SMALL_OBJECT))

        def check(batch: list[Entry], looked_up: tuple[dict, dict]) -> list:
            recorded, packed = looked_up
            for entry in batch:
                if entry.oid in packed:
                    size = packed[entry.oid][2]
                elif entry.size < SMALL_OBJECT:
                    try:
                        size = os.stat(self.store.path(entry.oid)).st_size
                    except FileNotFoundError:
                        raise ObjectMissing(f"object {entry.oid[:12]} is not in the cache",
                                            "run `gitmodels fetch`") from None
                else:
                    size = self.check_object(entry.oid, recorded)
                if size != entry.size:
                    raise BadManifest(f"manifest of {path}: {entry.path} is {entry.size} bytes in the manifest, "
                                      f"its object sha256:{entry.oid[:12]} has {size}",
                                      "the manifest was crafted or damaged; "
                                      "restore the pointer from a commit you trust")
            return []

        dirs.run_batches(check, list(entries), self.state, lookup)

    def _place(self, oid: str, dest: str, link: str, executable: bool = False, replaced: str | None = None,
               placer: dirs.Placer | None = None, replacing: bool = True, size: int | None = None,
               where: tuple | None = None) -> None:
        """Put object `oid` at `dest`, from a spare copy when there is one; keep what it replaces as one.

        `placer`: the copier of a directory restore, whose folders are made already; `size`: the
        object's size there (the manifest's, checked by _check_entries); `where`: its pack location.
        """
        if link not in ("reflink", "copy"):  # a link to the cache: nothing to keep or reuse
            self.store.materialize(oid, dest, link, executable)
        else:
            with self.spares.keeping(dest, replaced):
                if not self.spares.take(oid, dest, self.store.workspace_mode(executable)):
                    if placer is not None:
                        placer.copy(oid, dest, executable, replacing, size, where)
                    else:
                        self.store.materialize(oid, dest, link, executable)
        self.state.record(dest, os.lstat(dest), oid)


def _remove_stale_temps(path: str, kind: str, inside: bool = True) -> None:
    """Delete what a killed checkout or pull left (`.gmtmp-*`): beside `path`, a stage folder (dirs.Stage)
    and, for a file model, half copies; inside a directory model (unless not `inside`), half copies. The
    caller holds the repository lock, so no other checkout is writing them."""
    folder, name = os.path.split(path)
    prefix = f"{fileio.TMP_MARK}{name[:40]}-"
    found = []
    for beside in _listdir(folder):
        if beside.startswith(prefix):
            full = os.path.join(folder, beside)
            if os.path.isdir(full) and not os.path.islink(full):
                fileio.rmtree(full)
            elif kind == "file":
                found.append(full)
    if kind == "dir" and inside:
        found = [os.path.join(d, n) for d, _, names in os.walk(path) for n in names if n.startswith(fileio.TMP_MARK)]
    for stale in found:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale)


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder or ".")
    except (FileNotFoundError, NotADirectoryError):
        return []


def _prune_empty_dirs(root: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        if dirpath != root and not os.listdir(dirpath):
            os.rmdir(dirpath)


def export(store: Store, ptr: Pointer, dest: str, where: str | None = None) -> None:
    """Copy the cached artifact of `ptr` to `dest`, re-hashing every byte on the way (Repo.export: `get`, `load`).

    The oid and the size checked are the pointer's, whatever happened to the
    cache since: a copy that does not hash right is deleted before anyone sees it.
    """
    def copy_verified(oid: str, target: str, size_check: Callable[[int], None], executable: bool = False) -> None:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        packed = None if os.path.exists(store.path(oid)) else store.packs.read(oid)  # hashed on the way
        if packed is not None:
            with open(target, "wb") as fout:
                fout.write(packed)
            digest, size = oid, len(packed)
        else:
            with open(store.path(oid), "rb", buffering=0) as fin, open(target, "wb", buffering=0) as fout:
                digest, size = fileio.copy_and_hash(fin, fout)
        if digest != oid:
            os.unlink(target)
            raise CorruptObject(f"corrupt object in the cache: {store.path(oid)}")
        try:
            size_check(size)  # the size of bytes that hashed right: a mismatch is the pointer's
        except GitModelsError:
            os.unlink(target)
            raise
        if executable:
            os.chmod(target, 0o755)

    if not ptr.is_dir:
        copy_verified(ptr.oid, dest, lambda size: pointer_mod.check_size(ptr, size, None, where))
        return
    data = store.read_bytes(ptr.oid, verify=False)
    if hash_bytes(data) != ptr.oid:
        raise CorruptObject(f"corrupt manifest in the cache: {store.path(ptr.oid)}")
    man = manifest_mod.parse(data, f"manifest {ptr.oid[:12]}")
    pointer_mod.check_size(ptr, man.size, len(man.entries), where)

    def entry_check(entry) -> Callable[[int], None]:
        def check(size: int) -> None:
            if size != entry.size:
                raise BadManifest(f"manifest {ptr.oid[:12]}: {entry.path} is {entry.size} bytes in the manifest, "
                                  f"its object sha256:{entry.oid[:12]} has {size}",
                                  "the manifest was crafted or damaged; use a commit you trust")
        return check

    os.makedirs(dest)
    for entry in man.entries:
        copy_verified(entry.oid, os.path.join(dest, *entry.path.split("/")), entry_check(entry), entry.executable)
