"""What `gitmodels status` says of each model: the states, and the record `status --json` prints."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from gitmodels.storage.hashing import prefixed

if TYPE_CHECKING:
    from gitmodels.repo import Repo
    from gitmodels.storage.pointer import Pointer
    from gitmodels.workspace.snapshot import Recorder

# The one table of status states: the name is ModelStatus.state and `status --json`'s "state"; the label is
# what `gitmodels status` prints. Adding a state is one line here (docs/json.md lists them).
STATES = {
    "up-to-date": "up to date",
    "stale": "stale (run `gitmodels checkout`)",
    "modified": "modified (run `gitmodels add` to save, `gitmodels checkout --force` to discard)",
    "missing": "missing from workspace (run `gitmodels checkout`)",
    "not-in-cache": "not in cache (run `gitmodels fetch`)",
    "bad-pointer": "unreadable pointer",
    "orphaned": "orphaned (pointer removed; `gitmodels rm PATH` deletes it)",
}



@dataclasses.dataclass
class ModelStatus:
    path: str
    pointer_path: str
    state: str                # a name in STATES
    oid: str | None = None
    size: int | None = None
    kind: str | None = None
    in_cache: bool = False
    pushed: bool | None = None  # None: the remote was not checked (or the pointer is unreadable)
    error: str | None = None

    def to_json(self, remote_checked: bool = False) -> dict:
        """The `status --json` entry: `pushed` only when the remote was checked (docs/json.md)."""
        out = dataclasses.asdict(self)
        out["oid"] = prefixed(self.oid)
        if not remote_checked:
            del out["pushed"]
        return out


# -- computing it -------------------------------------------------------------------------

# States that depend only on the pointer, the artifact's stat and which objects the cache holds, so the
# snapshot can keep them; the others (a change to act on) are looked at again on every status.
REMEMBERED = frozenset({"up-to-date", "not-in-cache", "missing"})
_NEVER = [["", True]]  # dependencies that never hold: a fact read too close to a change is not kept


TREE_DEPS_LIMIT = 1000  # a directory model with more files is looked at again on every status (see below)
DIR_IN_CACHE_MARGIN_NS = 50_000_000  # cache folders written this recently are not vouched for (clock ticks)


def model_status(repo: "Repo", art: str, ptr: "Pointer", recorded: dict | None,
                 rec: "Recorder | None" = None) -> ModelStatus:
    """The state of one model whose pointer is `ptr`; `rec` collects what the answer depends on.

    A directory of more than TREE_DEPS_LIMIT files is not given to `rec` file by file (the snapshot would
    hold, and the next status re-stat, one entry per file and per cached object): it is answered from its
    recorded signature (StatCache.known_dir), one lstat per file, and an up-to-date answer is remembered
    with that signature and the stat of the cache folders that hold its objects (_remember_big_dir).
    """
    import stat as statmod

    from gitmodels.errors import SizeMismatch
    from gitmodels.storage import pointer as pointer_mod

    st = ModelStatus(art, pointer_mod.pointer_path_for(art), "up-to-date", ptr.oid, ptr.size, ptr.kind)
    absolute = repo.abspath(art)
    big: "Recorder | None" = None
    if rec is not None:
        key = rec.stat(absolute)
        if key is not None and statmod.S_ISDIR(key[4]):
            rec.deps.pop()
            if big_dir(ptr):
                big, rec = rec, None
            else:
                rec.tree(absolute)
    st.in_cache = _in_cache(repo, ptr, rec)
    if not os.path.lexists(absolute):
        st.state = "missing"
        return st
    known = known_artifact(repo, absolute, recorded)
    current, count = known if known is not None else (repo._scan_quietly(absolute), None)
    if current is None or current.oid != ptr.oid:
        # Bytes the cache holds (gitmodels wrote, added or fetched them) are a version the pointer
        # moved away from: `checkout` replaces them. Only bytes stored nowhere else are the user's.
        saved = current is not None and _saved(repo, absolute, current, known is not None)
        st.state = "stale" if saved else "modified"
        return st
    try:
        pointer_mod.check_size(ptr, current.size, current.files if count is None else count, art)
    except SizeMismatch as exc:
        st.state, st.error = "bad-pointer", str(exc)
    else:
        if not st.in_cache:
            st.state = "not-in-cache"
    if big is not None:
        _remember_big_dir(repo, absolute, st, big)
    return st


def _remember_big_dir(repo: "Repo", absolute: str, st: ModelStatus, rec: "Recorder") -> None:
    """What an up-to-date answer for a big directory rests on: its signature, and the cache folders of
    dir_in_cache's memo. Any other answer, or one whose facts are not all known, is not remembered."""
    row = repo.state.recorded_signature(absolute)
    folders = dir_in_cache_folders(repo, st.oid) if st.state == "up-to-date" and row is not None else None
    if row is None or folders is None or row[1] != st.oid:  # re-recorded meanwhile: the row must still agree
        rec.racy = True
        return
    rec.signature(absolute, row[0], row[2])
    for folder in folders:
        rec.stat(folder)  # a removal from the cache changes its folder (dir_in_cache)


def big_dir(ptr: "Pointer") -> bool:
    return ptr.is_dir and (ptr.files is None or ptr.files > TREE_DEPS_LIMIT)


def known_artifact(repo: "Repo", absolute: str, recorded: dict | None = None):
    """(Scanned, file count) of the artifact at `absolute` when the stat cache vouches for it without
    reading a byte: a file whose stat is recorded (count None), or a directory whose files all have the
    stat of its last scan (its Scanned has no manifest: nothing was read). None: it must be scanned."""
    import stat as statmod

    from gitmodels.workspace.restore import Scanned

    try:
        mode = os.lstat(absolute).st_mode
    except OSError:
        return None
    if not statmod.S_ISDIR(mode):
        quick = repo.workspace.quick_scan(absolute, recorded)
        return (quick, None) if quick is not None else None
    found = repo.state.known_dir(absolute)
    if found is None:
        return None
    oid, size, count = found
    return Scanned(oid, size, "dir"), count


def _saved(repo: "Repo", absolute: str, current, quick: bool) -> bool:
    """Are the bytes on disk (`current`, which differs from the pointer) all in the cache?"""
    if current.kind == "dir" and current.manifest is None:  # vouched for by its signature, nothing read
        if dir_in_cache(repo, current.oid):
            return True
        current = repo._scan_quietly(absolute)
        return current is not None and repo.workspace.recoverable(current)
    return repo.store.has(current.oid) if quick else repo.workspace.recoverable(current)


def dir_in_cache(repo: "Repo", oid: str) -> bool:
    """Are the manifest `oid` and every object it lists in the cache?

    Checked once in full (the manifest read, one listing per cache folder); then remembered in the stat
    cache with the stat of the cache folders that hold them. An object can only leave the cache by an
    unlink or rename in its folder, which changes that folder's mtime and ctime, so while those are the
    same every object is still there. Folders written within DIR_IN_CACHE_MARGIN_NS of the check are
    not vouched for (a removal in the same clock tick would not move their mtime).
    """
    import json
    import time

    from gitmodels.errors import GitModelsError

    if dir_in_cache_folders(repo, oid) is not None:
        return True
    memo = f"dir-in-cache:{oid}"
    start = time.time_ns()
    if not repo.store.has(oid):
        return False
    try:
        listed = _listed_oids(repo, oid)
    except (GitModelsError, OSError):
        return False
    # The cache's layout is objects/<first two hex digits>/<oid> (storage/objects.py): one listing per
    # folder answers for all its objects, instead of one stat each.
    groups: dict[str, set[str]] = {}
    for o in listed:
        groups.setdefault(o[:2], set()).add(o)
    wanted = {}
    for names in groups.values():
        first = next(iter(names))
        folder, base = os.path.split(repo.store.path(first))
        if base != first:
            return all(repo.store.has(o) for o in listed)  # another layout: test each, remember nothing
        wanted[folder] = names
    # Small files are mostly packed (storage/packs.py): the packs folder changes whenever a pack
    # comes or goes or an entry is dropped, so its stamp stands for the pack index.
    packs = repo.store.packs
    folders = sorted({f for f in wanted if os.path.isdir(f)} | {os.path.dirname(repo.store.path(oid))}
                     | ({packs.dir} if packs.present() else set()))
    stamp = _folders_stamp(folders, not_after=start - DIR_IN_CACHE_MARGIN_NS)  # before the objects' tests
    absent: set[str] = set()
    for folder, names in wanted.items():
        try:
            absent |= names.difference(os.listdir(folder))
        except OSError:
            absent |= names
    if absent and len(packs.held(absent)) != len(absent):
        return False
    if stamp is not None:
        repo.state.memo_put(memo, stamp, json.dumps(folders))
    return True


def dir_in_cache_folders(repo: "Repo", oid: str) -> list[str] | None:
    """The cache folders whose unchanged stat vouches that every object of the manifest `oid` is
    cached (dir_in_cache's memo), or None when no such memo holds."""
    import json

    row = repo.state.memo_row(f"dir-in-cache:{oid}")
    if row is None:
        return None
    try:
        folders = json.loads(row[1])
    except ValueError:
        return None
    return folders if folders and _folders_stamp(folders) == row[0] else None


_OID_FIELD = None


def _listed_oids(repo: "Repo", oid: str) -> list[str]:
    """The object ids the cached manifest `oid` lists. A manifest as gitmodels writes it (storage/manifest.py
    dumps: one compact JSON object per line, a path's quotes escaped) has exactly one `"oid":"<hex>"` per
    entry line, found without decoding 100,000 entries; any other layout is parsed in full."""
    import re

    from gitmodels.storage.manifest import manifest_entries
    from gitmodels.storage.objects import MANIFEST_MAGIC

    global _OID_FIELD
    if _OID_FIELD is None:
        _OID_FIELD = re.compile(rb'"oid":"([0-9a-f]{64})"')
    data = repo.store.read_bytes(oid)
    found = _OID_FIELD.findall(data)
    if data.startswith(MANIFEST_MAGIC) and data.endswith(b"\n") and len(found) == data.count(b"\n") - 1:
        return [o.decode() for o in found]
    return [e.oid for e in manifest_entries(repo.store, oid)]


def _folders_stamp(folders: list[str], not_after: int | None = None) -> str | None:
    """A digest of the folders' (inode, mtime, ctime); None when one is gone or changed after `not_after`."""
    import hashlib

    h = hashlib.sha256()
    for folder in folders:
        try:
            s = os.lstat(folder)
        except OSError:
            return None
        if not_after is not None and max(s.st_mtime_ns, s.st_ctime_ns) >= not_after:
            return None
        h.update(f"{folder}\0{s.st_ino}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\n".encode())
    return h.hexdigest()


def _in_cache(repo: "Repo", ptr: "Pointer", rec: "Recorder | None") -> bool:
    """Repo.in_cache, remembering which objects' presence the answer rests on."""
    if rec is None:
        return repo.in_cache(ptr)
    from gitmodels.errors import GitModelsError
    from gitmodels.storage.manifest import manifest_entries

    if not rec.exists(repo.store.path(ptr.oid)):
        return False
    if ptr.is_dir:
        try:
            absent = {e.oid for e in manifest_entries(repo.store, ptr.oid) if not rec.exists(repo.store.path(e.oid))}
        except GitModelsError:
            return False
        if absent:
            rec.stat(repo.store.packs.dir)  # entries are dropped from packs only with a change to this folder
            return len(repo.store.packs.held(absent)) == len(absent)
    return True


def orphan_status(repo: "Repo", art: str) -> ModelStatus:
    from gitmodels.storage import pointer as pointer_mod

    quick = repo.workspace.quick_scan(repo.abspath(art))
    return ModelStatus(art, pointer_mod.pointer_path_for(art), "orphaned", quick.oid if quick else None,
                       quick.size if quick else None, quick.kind if quick else None,
                       repo.store.has(quick.oid) if quick else False)


def settings_files(repo: "Repo") -> list[str]:
    """Files whose content may change what status says of every model: settings and git's config."""
    from gitmodels.git.repo import _config_files

    git = repo.git
    return [repo.config.shared_path, repo.config.pyproject_path, repo.config.local_path,
            *_config_files(git.git_dir, git.common_dir),
            os.path.join(git.git_dir, "info", "sparse-checkout"), os.path.join(git.common_dir, "info", "sparse-checkout")]


def remembered_status(repo: "Repo") -> list[ModelStatus]:
    """Status of every model of the checkout, looking again only at what changed since the last one.

    The snapshot (workspace/snapshot.py) keeps, per model, its answer and the stat data of its pointer,
    its artifact and the cache objects it needs; the list of pointers is kept with the index's stat. A
    model whose facts all hold is not read again: the cost follows the models that changed.
    """
    from gitmodels.errors import BadPointer, ModelNotFound
    from gitmodels.storage import pointer as pointer_mod
    from gitmodels.workspace import moves, snapshot

    path = os.path.join(repo.git.git_dir, snapshot.NAME)
    old = snapshot.load(path)
    env = snapshot.environment()
    if old and (old.get("root") != repo.root or old.get("env") != env or not snapshot.holds(old["settings"])):
        old = None
    settings = snapshot.Recorder()
    if old:
        settings_deps = old["settings"]
    else:
        for f in settings_files(repo):
            settings.stat(f)
        settings_deps = _NEVER if settings.racy else settings.deps
    if old and snapshot.holds(old["index"]):
        pointer_paths, repo.sparse_skipped = old["pointers"], old["sparse_skipped"]
        index_deps, orphan_arts = old["index"], old["orphans"]
    else:
        rec = snapshot.Recorder(settings.now_ns)
        rec.stat(repo.git.index_path())
        pointer_paths = repo.pointer_paths()
        gitignores, candidates = moves.orphan_candidates(repo, set(pointer_paths))
        for name in gitignores + candidates:
            rec.stat(repo.abspath(name))
        orphan_arts = [a for a in candidates if os.path.lexists(repo.abspath(a))]
        index_deps = _NEVER if rec.racy else rec.deps
    known = old["models"] if old else {}
    out: list[ModelStatus] = []
    models: dict[str, dict] = {}
    todo: list[tuple[str, str]] = []
    for ppath in pointer_paths:
        art = pointer_mod.artifact_path_for(ppath)
        entry = known.get(art)
        if entry is not None and entry["status"]["pointer_path"] == ppath and snapshot.holds(entry["deps"]):
            out.append(ModelStatus(**entry["status"]))
            models[art] = entry
        else:
            todo.append((ppath, art))
    recorded = repo.state.lookup_many([repo.abspath(a) for _, a in todo]) if todo else {}
    for ppath, art in todo:
        rec = snapshot.Recorder(settings.now_ns)
        rec.stat(repo.abspath(ppath))  # before reading it: a write after the read changes the stat
        try:
            ptr = repo.read_pointer(ppath)
        except (BadPointer, ModelNotFound) as exc:
            out.append(ModelStatus(art, ppath, "bad-pointer", error=str(exc)))
            continue
        st = model_status(repo, art, ptr, recorded, rec)
        out.append(st)
        if st.state in REMEMBERED and not rec.racy:  # a big directory model sets racy (model_status)
            models[art] = {"status": dataclasses.asdict(st), "deps": rec.deps}
    out += [orphan_status(repo, art) for art in orphan_arts]
    repo.state.flush()
    unchanged = old is not None and not todo and index_deps is old["index"]
    doc = {"version": snapshot.VERSION, "root": repo.root, "env": env, "settings": settings_deps, "index": index_deps,
           "pointers": pointer_paths, "sparse_skipped": repo.sparse_skipped, "orphans": orphan_arts,
           "models": models, "outputs": old.get("outputs", {}) if unchanged else {},
           "complete": not orphan_arts and len(models) == len(pointer_paths) and index_deps is not _NEVER
           and settings_deps is not _NEVER}
    if not unchanged:
        snapshot.save(path, doc)
    repo.status_snapshot = (path, doc)
    return sorted(out, key=lambda s: s.path)


def remember_output(repo: "Repo", command: str, stdout: str, stderr: str, code: int, extra: list[str]) -> None:
    """Keep what `command` printed, for the command line to repeat while nothing changed. `extra`: more
    files the output depends on (the hooks the warning looks at)."""
    from gitmodels.workspace import snapshot

    found = getattr(repo, "status_snapshot", None)
    if found is None or not found[1]["complete"]:
        return
    path, doc = found
    rec = snapshot.Recorder()
    for f in extra:
        rec.stat(f)
    if rec.racy:
        return
    settings = doc["settings"] + [d for d in rec.deps if d not in doc["settings"]]
    if doc["outputs"].get(command) == [stdout, stderr, code] and settings == doc["settings"]:
        return
    doc["settings"] = settings
    doc["outputs"][command] = [stdout, stderr, code]
    snapshot.save(path, doc)
