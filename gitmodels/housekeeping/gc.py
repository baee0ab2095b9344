"""Garbage collection of the cache (and, on request, of a remote), with safe defaults.

The rules (docs/history.md, "gc safety rules"):

1. Always kept in the cache, with every file of a directory model:
   - the objects of the pointers in every worktree: the pointer files on disk
     (tracked, untracked or ignored), every stage of the index (so a
     conflicted merge keeps both sides), and each worktree's HEAD;
   - every local branch and tag, every other non-remote ref, the stash (each
     entry and its parents), MERGE_HEAD, ORIG_HEAD, CHERRY_PICK_HEAD,
     REVERT_HEAD, REBASE_HEAD, FETCH_HEAD, BISECT_HEAD and the state of an
     interrupted rebase or sequencer;
   - every commit not yet pushed: reachable from any of the above or from a
     reflog entry, and not reachable from a remote-tracking ref
     (`refs/remotes/*`);
   - with `all_commits`, every commit reachable from anything, remote refs and
     reflogs included;
   - any cached object that something hardlinks or symlinks to.
2. An object that some other commit git still has (history, reflogs,
   remote-tracking refs) refers to is deleted only after the model remote
   answered that it holds it; offline, with no remote, or when the remote
   cannot be reached, it is kept.
3. Everything else in the cache is deleted: objects no commit, index,
   stash or workspace refers to (models added and then replaced before
   being committed, commits git itself has dropped).
4. A directory model whose manifest cannot be read (neither cached nor on the
   remote) makes gc refuse to run, because the files it needs cannot be told
   apart from garbage; `skip_unknown` overrides that.
5. A remote is cleaned only when asked (`remote_gc`), after a confirmation;
   its keep set is rule 1 computed with remote-tracking refs as tips too.
   Whole objects under `objects/` are deleted by their oid; chunk recipes
   and packs through the chunk store's planner; any other key is left alone.
6. gc refuses (deletes nothing) when it cannot see everything: a missing git
   object, an unreadable index, a cache other repositories may share.
   History is walked by the parents commits record, ignoring grafts.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat as statmod
import subprocess
from typing import Callable, Iterable

from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import (BadManifest, BadPointer, CorruptObject, GitModelsError, NoRemote, ReadOnlyRemote, RemoteError)
from gitmodels.storage.hashing import is_hex_oid
from gitmodels.storage.hashing import prefixed
from gitmodels.remotes.base import classify_key, object_key

SUFFIX_B = pointer_mod.SUFFIX.encode()
ZERO = b"0" * 40
_HEX40 = re.compile(rb"^([0-9a-f]{40})", re.MULTILINE)
_OID_IN_TEXT = re.compile(r"sha256:([0-9a-f]{64})")
# Files in a git directory that name commits an operation in progress (or just done) still needs.
_STATE_FILES = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD", "ORIG_HEAD", "BISECT_HEAD",
                "FETCH_HEAD", "AUTO_MERGE", "rebase-merge/orig-head", "rebase-merge/onto",
                "rebase-merge/stopped-sha", "rebase-merge/amend", "rebase-apply/orig-head", "rebase-apply/onto",
                "sequencer/head", "sequencer/abort-safety")
_MANIFEST_MAGIC = b'{"gitmodels_manifest":'


def chunking_api(*names: str):
    """The chunk-dedup package when it provides all of `names`, else None."""
    try:
        from gitmodels import chunking
    except ImportError:
        return None
    return chunking if all(callable(getattr(chunking, n, None)) for n in names) else None


def forget_chunk_sources(repo, oids: Iterable[str]) -> None:
    """Tell the local chunk index that these cached objects are gone (it rebuilds downloads from them)."""
    state_dir = repo.store.chunk_dir
    chunking = chunking_api("forget_local_object")
    if chunking is None or not os.path.isdir(state_dir):
        return
    for oid in oids:
        try:
            chunking.forget_local_object(state_dir, oid)
        except Exception:  # the index is an optimisation: a failure here must not stop gc
            continue


class GcRefused(GitModelsError):
    """gc cannot prove which objects are needed, so it deletes nothing."""

    exit_code = 1


# -- what git refers to ------------------------------------------------------------------------


@dataclasses.dataclass
class _Worktree:
    name: str
    admin: str          # its git directory (the common dir for the main worktree)
    root: str | None    # its working tree, None when bare or gone


@dataclasses.dataclass
class Roots:
    """Everything in git that can refer to a pointer, gathered once."""

    tips: dict[bytes, list[str]] = dataclasses.field(default_factory=dict)   # commit -> why it is kept
    trees: dict[bytes, str] = dataclasses.field(default_factory=dict)        # tree -> why (AUTO_MERGE, sparse index)
    local_roots: set[bytes] = dataclasses.field(default_factory=set)         # tips + local reflog entries
    remote_tips: dict[bytes, list[str]] = dataclasses.field(default_factory=dict)
    history_roots: set[bytes] = dataclasses.field(default_factory=set)       # everything git can still reach
    index_blobs: dict[bytes, str] = dataclasses.field(default_factory=dict)  # staged pointer blob -> where
    workspace: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)  # (pointer file, its bytes)
    linked: set[str] = dataclasses.field(default_factory=set)                # cached oids linked from worktrees
    warnings: list[str] = dataclasses.field(default_factory=list)


def _worktrees(git) -> list[_Worktree]:
    common = git.common_dir
    if os.path.basename(common) == ".git":
        main_root = os.path.dirname(common)
    elif os.path.normpath(git.git_dir) == common:
        main_root = git.worktree
    else:
        main_root = None
    out = [_Worktree("main worktree", common, main_root)]
    folder = os.path.join(common, "worktrees")
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            admin = os.path.join(folder, name)
            if not os.path.isdir(admin):
                continue
            root = None
            try:
                with open(os.path.join(admin, "gitdir"), encoding="utf-8") as f:
                    dotgit = f.read().strip()
                root = os.path.dirname(os.path.normpath(os.path.join(admin, dotgit)))
            except OSError:
                pass
            out.append(_Worktree(f"worktree {name}", admin, root if root and os.path.isdir(root) else None))
    return out


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _reflog_shas(path: str) -> set[bytes]:
    data = _read(path)
    out: set[bytes] = set()
    if not data:
        return out
    for line in data.splitlines():
        parts = line.split(b" ", 2)
        for sha in parts[:2]:
            if len(sha) == 40 and sha != ZERO:
                out.add(sha)
    return out


class _Git:
    """Object access with one rule: a missing object means gc cannot know what is referenced."""

    def __init__(self, repo):
        self.repo = repo
        self.dul = repo.git.repo
        self.store = self.dul.object_store

    def has(self, sha: bytes) -> bool:
        return sha in self.store

    def obj(self, sha: bytes, what: str):
        try:
            return self.store[sha]
        except KeyError:
            raise GcRefused(f"git object {sha.decode()[:12]} ({what}) is missing from this clone, so gc cannot "
                            f"tell which models it refers to; nothing was deleted",
                            "repair the clone (`git fetch`, `git fsck`), or drop the ref that names it") from None

    def peel(self, sha: bytes, what: str):
        """(kind, id) of what a ref names once tags are peeled: ('commit'|'tree'|'other', sha)."""
        obj = self.obj(sha, what)
        while obj.type_name == b"tag":
            obj = self.obj(obj.object[1], what)
        if obj.type_name == b"commit":
            return "commit", obj.id
        if obj.type_name == b"tree":
            return "tree", obj.id
        return "other", obj.id


def gather_roots(repo) -> Roots:
    """Collect every ref, reflog, index, stash and workspace pointer of every worktree."""
    g = _Git(repo)
    roots = Roots()

    def tip(sha: bytes, why: str, local: bool = True) -> None:
        kind, sha = g.peel(sha, why)
        if kind == "commit":
            (roots.tips if local else roots.remote_tips).setdefault(sha, []).append(why)
            roots.history_roots.add(sha)
            if local:
                roots.local_roots.add(sha)
        elif kind == "tree":
            roots.trees[sha] = why

    refs = g.dul.refs
    for name in sorted(refs.allkeys()):
        if name == b"HEAD" or name == b"refs/stash":
            continue
        try:
            sha = refs[name]
        except KeyError:  # a dangling symbolic ref
            continue
        label = name.decode("utf-8", "replace")
        tip(sha, label, local=not name.startswith(b"refs/remotes/"))

    # The stash: every entry, with its index and untracked-files parents and the commit it was made on.
    stash = set(_reflog_shas(os.path.join(repo.git.common_dir, "logs", "refs", "stash")))
    if b"refs/stash" in refs.allkeys():
        stash.add(refs[b"refs/stash"])
    for sha in sorted(stash):
        if not g.has(sha):
            continue
        commit = g.obj(sha, "stash entry")
        tip(sha, "stash")
        for parent in commit.parents:
            if g.has(parent):
                tip(parent, "stash")

    # Reflogs: branch movements and HEAD history. Remote-tracking reflogs only count as history.
    logs = os.path.join(repo.git.common_dir, "logs", "refs")
    for dirpath, _dirs, files in os.walk(logs):
        rel = os.path.relpath(dirpath, logs).replace(os.sep, "/")
        for fname in files:
            ref = f"refs/{fname}" if rel == "." else f"refs/{rel}/{fname}"
            if ref == "refs/stash":
                continue
            for sha in _reflog_shas(os.path.join(dirpath, fname)):
                if g.has(sha) and g.obj(sha, "reflog").type_name == b"commit":
                    roots.history_roots.add(sha)
                    if not ref.startswith("refs/remotes/"):
                        roots.local_roots.add(sha)

    for wt in _worktrees(repo.git):
        _gather_worktree(repo, g, wt, roots, tip)
    return roots


def _gather_worktree(repo, g: _Git, wt: _Worktree, roots: Roots, tip: Callable) -> None:
    head = _read(os.path.join(wt.admin, "HEAD"))
    if head:
        head = head.strip()
        if head.startswith(b"ref: "):
            try:
                sha = g.dul.refs[head[5:].strip()]
            except KeyError:
                sha = None  # an unborn branch
        else:
            sha = head if len(head) == 40 else None
        if sha:
            tip(sha, f"HEAD of {wt.name}")
    for rel in _STATE_FILES:
        data = _read(os.path.join(wt.admin, *rel.split("/")))
        for sha in _HEX40.findall(data or b""):
            if sha != ZERO and g.has(sha):
                tip(sha, f"{rel} of {wt.name}")
    if os.path.normpath(wt.admin) != os.path.normpath(repo.git.common_dir):
        # Per-worktree refs (refs/bisect/*, refs/worktree/*) live in the worktree's own git directory.
        for dirpath, _dirs, files in os.walk(os.path.join(wt.admin, "refs")):
            for fname in files:
                data = _read(os.path.join(dirpath, fname)) or b""
                for sha in _HEX40.findall(data):
                    if g.has(sha):
                        tip(sha, f"refs of {wt.name}")
    for sha in _reflog_shas(os.path.join(wt.admin, "logs", "HEAD")):
        if g.has(sha) and g.obj(sha, "reflog").type_name == b"commit":
            roots.history_roots.add(sha)
            roots.local_roots.add(sha)

    index_path = os.path.join(wt.admin, "index")
    staged: list[str] = []
    if os.path.exists(index_path):
        from dulwich.index import ConflictedIndexEntry, Index

        try:
            index = Index(index_path)
        except Exception as exc:  # an index dulwich cannot read must not be taken as empty
            raise GcRefused(f"cannot read the index of {wt.name} ({index_path}): {exc}; nothing was deleted",
                            "run `git status` there to check it") from None
        for path, entry in index.items():
            entries = [entry.ancestor, entry.this, entry.other] if isinstance(entry, ConflictedIndexEntry) \
                else [entry]
            for e in entries:
                if e is None:
                    continue
                if statmod.S_ISDIR(e.mode):  # a sparse-index directory entry
                    roots.trees[e.sha] = f"index of {wt.name}"
                elif path.endswith(SUFFIX_B):
                    roots.index_blobs[e.sha] = f"index of {wt.name}"
            if path.endswith(SUFFIX_B):
                staged.append(path.decode("utf-8", "surrogateescape"))
    if wt.root is None:
        return
    for ppath in sorted(set(staged) | set(_untracked_pointers(wt.root, roots))):
        full = os.path.join(wt.root, *ppath.split("/"))
        data = _read(full)
        if data is not None and len(data) <= pointer_mod.MAX_SIZE:
            roots.workspace.append((f"{ppath} in {wt.name}", data))
        _linked_objects(repo, os.path.join(wt.root, *pointer_mod.artifact_path_for(ppath).split("/")), roots)


def _untracked_pointers(root: str, roots: Roots) -> list[str]:
    """Pointer files not yet staged (e.g. `gitmodels add --no-stage`)."""
    env = dict(os.environ, GITMODELS_SKIP="1")
    # Ignored ones too: a pointer someone's .gitignore hides still names bytes they may need.
    proc = subprocess.run(["git", "-C", root, "ls-files", "-z", "--others", "--",
                           f"*{pointer_mod.SUFFIX}"], capture_output=True, env=env)
    if proc.returncode != 0:
        raise GcRefused(f"cannot list the untracked pointer files in {root}: "
                        f"{proc.stderr.decode(errors='replace').strip()}; nothing was deleted")
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _linked_objects(repo, artifact: str, roots: Roots) -> None:
    """Cached objects that a workspace artifact symlinks to (link mode `symlink`)."""
    objects_dir = os.path.realpath(repo.store.objects_dir) + os.sep

    def check(path: str) -> None:
        if os.path.islink(path):
            target = os.path.realpath(path)
            if target.startswith(objects_dir):
                name = os.path.basename(target)
                if is_hex_oid(name):
                    roots.linked.add(name)

    if os.path.islink(artifact):
        check(artifact)
    elif os.path.isdir(artifact):
        for dirpath, _dirs, files in os.walk(artifact):
            for name in files:
                check(os.path.join(dirpath, name))


# -- from commits to pointers to objects -------------------------------------------------------------


def _walk(g: _Git, include: Iterable[bytes], exclude: Iterable[bytes] = ()) -> set[bytes]:
    """Commits reachable from `include` and not from `exclude`, by the parents commits record.

    Grafts and replace refs are ignored on purpose: they can hide history that
    still needs its models. A missing parent is fine only past a shallow
    boundary; anywhere else it means gc cannot see all of history.
    """
    shallow = g.dul.get_shallow()
    stop = _ancestors(g, exclude, set(), shallow) if exclude else set()
    return _ancestors(g, include, stop, shallow)


def _ancestors(g: _Git, starts: Iterable[bytes], stop: set[bytes], shallow: set[bytes]) -> set[bytes]:
    seen: set[bytes] = set()
    stack = [s for s in starts if s not in stop and g.has(s)]
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        commit = g.obj(sha, "commit")
        if sha in shallow:
            continue
        for parent in commit.parents:
            if parent in seen or parent in stop:
                continue
            if not g.has(parent):
                raise GcRefused(f"git history is incomplete: commit {parent.decode()[:12]} (a parent of "
                                f"{sha.decode()[:12]}) is missing; nothing was deleted",
                                "repair the clone (`git fetch`, `git fsck`)")
            stack.append(parent)
    return seen


def _pointer_blobs(g: _Git, trees: Iterable[bytes], visited: set[bytes]) -> dict[bytes, str]:
    """pointer blob -> a path it has, in these trees; each distinct tree of history is read once."""
    out: dict[bytes, str] = {}
    stack = [(t, b"") for t in trees if t not in visited]
    while stack:
        tree_id, prefix = stack.pop()
        if tree_id in visited:
            continue
        visited.add(tree_id)
        for entry in g.obj(tree_id, "tree").iteritems():
            if statmod.S_ISDIR(entry.mode):
                if entry.sha not in visited:
                    stack.append((entry.sha, prefix + entry.path + b"/"))
            elif statmod.S_ISREG(entry.mode) and entry.path.endswith(SUFFIX_B):
                out.setdefault(entry.sha, (prefix + entry.path).decode("utf-8", "replace"))
    return out


@dataclasses.dataclass
class _Ref:
    """A reference to an object: a parsed pointer, or oids found in a pointer that does not parse."""

    label: str
    oid: str
    kind: str | None  # "file", "dir", or None when unknown (an unparseable pointer)


class _Needs:
    """Turns pointer text into the set of objects it needs, expanding directory manifests."""

    def __init__(self, repo, fetch_manifest: Callable[[str], bool] | None):
        self.repo = repo
        self.store = repo.store
        self.fetch_manifest = fetch_manifest
        self._entries: dict[str, list[str] | None] = {}
        self.unknown: dict[str, str] = {}  # manifest oid -> a model that needs it

    @staticmethod
    def refs_in(data: bytes, label: str) -> list[_Ref]:
        try:
            ptr = pointer_mod.parse(data, label)
        except BadPointer:
            # Conflict markers or damage: keep every oid written in it (both sides of a conflict).
            text = data.decode("utf-8", "replace")
            return [_Ref(label, oid, None) for oid in dict.fromkeys(_OID_IN_TEXT.findall(text))]
        return [_Ref(label, ptr.oid, ptr.kind)]

    def _is_manifest(self, oid: str) -> bool:
        try:
            with open(self.store.path(oid), "rb") as f:
                return f.read(len(_MANIFEST_MAGIC)) == _MANIFEST_MAGIC
        except OSError:
            return False

    def entries(self, oid: str) -> list[str] | None:
        """The oids a cached manifest lists; None when it is not cached or not readable."""
        if oid in self._entries:
            return self._entries[oid]
        value = None
        if self.store.has(oid):
            try:
                value = [e.oid for e in manifest_mod.parse(self.store.read_bytes(oid), f"manifest {oid[:12]}").entries]
            except (BadManifest, CorruptObject, GitModelsError):
                value = None
        self._entries[oid] = value
        return value

    def objects(self, refs: Iterable[_Ref], strict: bool, fetch: bool = True) -> set[str]:
        """Every object these references need.

        strict: record directory models whose files are unknown; fetch: download
        missing manifests of directory models first.
        """
        out: set[str] = set()
        for ref in refs:
            out.add(ref.oid)
            maybe_dir = ref.kind == "dir" or (ref.kind is None and self._is_manifest(ref.oid)) \
                or (ref.kind == "file" and self._is_manifest(ref.oid))
            if not maybe_dir:
                continue
            listed = self.entries(ref.oid)
            if listed is None and ref.kind == "dir" and fetch and self.fetch_manifest is not None:
                self._entries.pop(ref.oid, None)
                if self.fetch_manifest(ref.oid):
                    listed = self.entries(ref.oid)
            if listed is None:
                if ref.kind == "dir" and strict:
                    self.unknown.setdefault(ref.oid, ref.label)
                continue
            out.update(listed)
        return out


# -- the plan ---------------------------------------------------------------------------------------


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
                "chunk_packs_delete": [prefixed(p) for p in self.chunks.packs] if self.chunks is not None else []}


@dataclasses.dataclass
class GcPlan:
    all_commits: bool
    cache_objects: int = 0
    cache_bytes: int = 0
    keep: int = 0
    keep_bytes: int = 0
    delete: dict[str, int] = dataclasses.field(default_factory=dict)      # oid -> size
    protected: dict[str, int] = dataclasses.field(default_factory=dict)   # kept: history needs it, remote unconfirmed
    checked_remote: str | None = None
    stale_tmp: int = 0
    spares: int = 0                    # spare workspace copies (docs/formats.md), always removed
    spare_bytes: int = 0
    remote: RemotePlan | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def delete_bytes(self) -> int:
        return sum(self.delete.values())

    def to_json(self) -> dict:
        return {"all_commits": self.all_commits, "cache_objects": self.cache_objects,
                "cache_bytes": self.cache_bytes, "keep": self.keep, "keep_bytes": self.keep_bytes,
                "delete": len(self.delete), "delete_bytes": self.delete_bytes,
                "protected": len(self.protected), "protected_bytes": sum(self.protected.values()),
                "checked_remote": self.checked_remote, "stale_tmp": self.stale_tmp,
                "spares": self.spares, "spare_bytes": self.spare_bytes,
                "deleted_oids": [prefixed(o) for o in sorted(self.delete)],
                **({"remote": self.remote.to_json()} if self.remote else {}), "warnings": self.warnings}


def _keep_refs(repo, g: _Git, roots: Roots, commits: set[bytes]) -> list[_Ref]:
    """References from the given commits' trees, the extra trees, the index and the workspace."""
    visited: set[bytes] = set()
    trees = [g.obj(c, "commit").tree for c in sorted(commits)] + sorted(roots.trees)
    blobs = _pointer_blobs(g, trees, visited)
    for blob, where in roots.index_blobs.items():
        blobs.setdefault(blob, where)
    refs: list[_Ref] = []
    for blob, where in sorted(blobs.items()):
        refs.extend(_Needs.refs_in(g.obj(blob, "pointer").as_raw_string(), where))
    for label, data in roots.workspace:
        refs.extend(_Needs.refs_in(data, label))
    return refs


def _history_refs(g: _Git, roots: Roots, commits: set[bytes]) -> list[_Ref]:
    visited: set[bytes] = set()
    blobs = _pointer_blobs(g, [g.obj(c, "commit").tree for c in sorted(commits)], visited)
    refs: list[_Ref] = []
    for blob, where in sorted(blobs.items()):
        refs.extend(_Needs.refs_in(g.obj(blob, "pointer").as_raw_string(), where))
    return refs


def _cache_listing(repo) -> dict[str, int]:
    out = {}
    for oid in repo.store.iter_oids():
        try:
            st = os.lstat(repo.store.path(oid))
        except FileNotFoundError:
            continue
        out[oid] = st.st_size
    return out


def _hardlinked(repo, oids: Iterable[str]) -> set[str]:
    out = set()
    for oid in oids:
        try:
            if os.lstat(repo.store.path(oid)).st_nlink > 1:
                out.add(oid)
        except FileNotFoundError:
            continue
    return out


def _stale_tmp(repo, older_than: float = 3600.0) -> int:
    import time

    folder = repo.store.tmp_dir
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


def plan(repo, *, all_commits: bool = False, remote_gc: bool = False, remote: str | None = None,
         offline: bool = False, skip_unknown: bool = False, shared_cache_ok: bool = False) -> GcPlan:
    """Decide what gc would delete, without deleting anything.

    `remote` names the model remote consulted (and cleaned with remote_gc);
    default: the default remote. Manifests of kept directory models that the
    cache lacks are downloaded into the cache (they are small), so the plan
    knows every file those models need.
    """
    private = os.path.realpath(repo.store.objects_dir).startswith(os.path.realpath(repo.git.common_dir) + os.sep)
    if (os.path.normpath(repo.cache_dir) != os.path.normpath(repo.meta_dir) or not private) and not shared_cache_ok:
        why = "is set by core.cache_dir" if os.path.normpath(repo.cache_dir) != os.path.normpath(repo.meta_dir) \
            else "is a link to a folder outside this repository's git directory"
        raise GcRefused(f"the cache {repo.cache_dir} {why} and may be shared with other repositories, "
                        f"whose commits gc cannot see; nothing was deleted",
                        "if only this repository uses that cache, re-run with --shared-cache-ok")
    g = _Git(repo)
    out = GcPlan(all_commits=all_commits)
    shallow = repo.git.is_shallow()
    if shallow and all_commits:
        out.warnings.append("this is a shallow clone: --all-commits keeps only the history this clone has")

    transfer = None
    remote_name = None
    if not offline:
        try:
            remote_name, transfer = repo.open_transfer(remote)
        except NoRemote:
            if remote_gc:
                raise
        except RemoteError as exc:
            if remote_gc:
                raise
            out.warnings.append(f"cannot open the model remote ({exc}); keeping every object old commits use")
    if remote_gc and transfer is None:
        raise GcRefused("gc of a remote cannot run offline")
    if remote_gc and transfer.backend.read_only:
        raise ReadOnlyRemote(f"cannot gc remote {remote_name} ({transfer.backend.describe()}): "
                             "an HTTP(S) remote is read-only")

    def fetch_manifest(oid: str) -> bool:
        if transfer is None:
            return False
        try:
            result = transfer.fetch([oid])
        except GitModelsError:
            return False
        return not result.failed and repo.store.has(oid)

    needs = _Needs(repo, fetch_manifest)
    try:
        roots = gather_roots(repo)
        out.warnings.extend(roots.warnings)
        if all_commits:
            keep_commits = _walk(g, roots.history_roots)
        else:
            unpushed = _walk(g, roots.local_roots, roots.remote_tips)
            keep_commits = set(roots.tips) | unpushed
        keep_refs = _keep_refs(repo, g, roots, keep_commits)
        cached = _cache_listing(repo)
        out.cache_objects, out.cache_bytes = len(cached), sum(cached.values())
        keep = needs.objects(keep_refs, strict=True) | roots.linked
        keep |= _hardlinked(repo, set(cached) - keep)
        _refuse_unknown(needs, skip_unknown, out)
        candidates = {o: s for o, s in cached.items() if o not in keep}

        # Rule 2: what older history still uses goes only when the remote confirms it holds it.
        if candidates and not all_commits:
            history_commits = _walk(g, roots.history_roots) - keep_commits
            history_refs = _history_refs(g, roots, history_commits) if history_commits else []
            history = needs.objects(history_refs, strict=False, fetch=False)
            at_risk = sorted(set(candidates) & history)
            if at_risk:
                missing = set(at_risk)
                if transfer is not None:
                    out.checked_remote = remote_name
                    try:
                        missing = transfer.remote_missing(at_risk, trust_known=False)
                    except RemoteError as exc:
                        out.warnings.append(f"model remote {remote_name} unreachable ({exc}); keeping every "
                                            f"object old commits use")
                        missing = set(at_risk)
                elif offline:
                    out.warnings.append("offline: keeping every object old commits use")
                else:
                    out.warnings.append("no model remote configured: keeping every object old commits use")
                for oid in missing:
                    out.protected[oid] = candidates.pop(oid)
                # A manifest goes only with its files: keep one whose files are kept for lack of a remote copy.
                for ref in history_refs:
                    listed = needs.entries(ref.oid) if ref.oid in candidates else None
                    if listed and any(e in out.protected for e in listed):
                        out.protected[ref.oid] = candidates.pop(ref.oid)
        out.delete = dict(sorted(candidates.items()))
        out.keep = out.cache_objects - len(out.delete)
        out.keep_bytes = out.cache_bytes - out.delete_bytes
        out.stale_tmp = _stale_tmp(repo)
        out.spares, out.spare_bytes = repo.workspace.spares.usage()

        if remote_gc:
            out.remote = _plan_remote(repo, g, roots, transfer, remote_name, all_commits, skip_unknown, out)
    finally:
        if transfer is not None:
            transfer.backend.close()
    return out


def _refuse_unknown(needs: _Needs, skip_unknown: bool, out: GcPlan) -> None:
    if not needs.unknown:
        return
    names = ", ".join(f"{label} (manifest {oid[:12]})" for oid, label in list(needs.unknown.items())[:5])
    if not skip_unknown:
        raise GcRefused(f"cannot tell which files {len(needs.unknown)} directory model(s) need: their manifest is "
                        f"in neither the cache nor the remote: {names}; nothing was deleted",
                        "fetch or push them (`gitmodels fetch`, or `gitmodels push` from a clone that has them), "
                        "or re-run with --skip-unknown to collect anyway")
    out.warnings.append(f"--skip-unknown: the files of {len(needs.unknown)} directory model(s) could not be "
                        f"identified: {names}")
    needs.unknown.clear()


def _plan_remote(repo, g: _Git, roots: Roots, transfer, name: str, all_commits: bool, skip_unknown: bool,
                 out: GcPlan) -> RemotePlan:
    rp = RemotePlan(name=name, url=transfer.remote_id)
    tips = set(roots.tips) | set(roots.remote_tips)
    if all_commits:
        commits = _walk(g, roots.history_roots)
    else:
        commits = tips | _walk(g, roots.local_roots, roots.remote_tips)
    if not roots.remote_tips:
        out.warnings.append("no remote-tracking refs (refs/remotes/*): other people's branches are invisible to "
                            "this remote gc; run `git fetch --all` first")
    fetch_head = os.path.join(repo.git.common_dir, "FETCH_HEAD")
    if roots.remote_tips and os.path.exists(fetch_head):
        import time

        age = time.time() - os.path.getmtime(fetch_head)
        if age > 3600:
            out.warnings.append(f"remote-tracking refs were last fetched {int(age // 3600)} h ago; "
                                f"run `git fetch --all` first so recent pushes by others are kept")

    def fetch_manifest(oid: str) -> bool:
        try:
            result = transfer.fetch([oid])
        except GitModelsError:
            return False
        return not result.failed and repo.store.has(oid)

    needs = _Needs(repo, fetch_manifest)
    keep = needs.objects(_keep_refs(repo, g, roots, commits), strict=True)
    if needs.unknown:
        names = ", ".join(f"{label} (manifest {oid[:12]})" for oid, label in list(needs.unknown.items())[:5])
        if not skip_unknown:
            raise GcRefused(f"cannot tell which files {len(needs.unknown)} directory model(s) need on remote "
                            f"{name}: their manifest is missing there: {names}; nothing was deleted",
                            "push them from a clone that has them, or re-run with --skip-unknown")
        out.warnings.append(f"--skip-unknown: remote files of {len(needs.unknown)} directory model(s) "
                            f"could not be identified: {names}")
    chunking = chunking_api("plan_gc", "apply_gc")
    for key, size in transfer.backend.list(""):
        kind, oid = classify_key(key)
        if kind == "chunk":
            rp.chunk_keys += 1
            continue
        if kind == "other":
            rp.other_keys += 1
            continue
        if kind == "stray":
            rp.stray_keys += 1
            continue
        rp.objects += 1
        rp.bytes += size
        if oid in keep:
            rp.keep += 1
        else:
            rp.delete[oid] = size
    rp.delete = dict(sorted(rp.delete.items()))
    if rp.chunk_keys:
        if chunking is None:
            out.warnings.append(f"{rp.chunk_keys} chunk key(s) (packs/, recipes/) on remote {name} are left alone: "
                                f"this installation has no chunk-store gc")
        else:
            try:
                rp.chunks = chunking.plan_gc(transfer.backend, keep, transfer.jobs)
            except CorruptObject as exc:
                raise GcRefused(f"remote {name}: a chunk recipe of a kept model is damaged ({exc}); "
                                f"nothing was deleted", "run `gitmodels fsck --remote`") from None
    return rp


# -- doing it -------------------------------------------------------------------------------------


@dataclasses.dataclass
class GcResult:
    plan: GcPlan
    deleted: int = 0
    deleted_bytes: int = 0
    tmp_removed: int = 0
    remote_deleted: int = 0
    remote_deleted_bytes: int = 0
    remote_failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        return {"plan": self.plan.to_json(), "deleted": self.deleted, "deleted_bytes": self.deleted_bytes,
                "tmp_removed": self.tmp_removed, "remote_deleted": self.remote_deleted,
                "remote_deleted_bytes": self.remote_deleted_bytes,
                "remote_failed": [{"oid": prefixed(o), "error": e} for o, e in self.remote_failed]}


def gc(repo, *, dry_run: bool = False, all_commits: bool = False, remote_gc: bool = False,
       remote: str | None = None, offline: bool = False, skip_unknown: bool = False, shared_cache_ok: bool = False,
       confirm: Callable[[GcPlan], bool] | None = None) -> GcResult:
    """Plan, then (unless dry_run) delete, holding the repository lock while deciding and deleting.

    With remote_gc, `confirm(plan)` must return True before anything is
    deleted from the remote; the remote deletions are then limited to what
    the confirmed plan listed.
    """
    options = dict(all_commits=all_commits, remote_gc=remote_gc, remote=remote, offline=offline,
                   skip_unknown=skip_unknown, shared_cache_ok=shared_cache_ok)
    if dry_run:
        return GcResult(plan(repo, **options))
    approved: set | None = None
    if remote_gc:
        preview = plan(repo, **options)
        if preview.remote and preview.remote.delete_count:
            if confirm is None or not confirm(preview):
                from gitmodels.errors import UsageError

                raise UsageError(f"not deleting {preview.remote.delete_count} object(s) from remote "
                                 f"{preview.remote.name} without confirmation; nothing was deleted",
                                 "re-run on a terminal to confirm, or pass --yes")
        approved = set()
        if preview.remote is not None:
            approved = set(preview.remote.delete)
            if preview.remote.chunks is not None:
                approved |= {("recipe", o) for o in preview.remote.chunks.recipes}
                approved |= {("pack", p) for p in preview.remote.chunks.packs}
    with repo.lock():
        final = plan(repo, **options)
        result = GcResult(final)
        for oid, size in final.delete.items():
            repo.store.delete(oid)
            result.deleted += 1
            result.deleted_bytes += size
        _prune_empty_fanout(repo)
        result.tmp_removed = repo.store.clean_tmp()
        repo.workspace.spares.clear()
        forget_chunk_sources(repo, final.delete)
        if final.remote is not None and approved:
            final.remote.delete = {o: s for o, s in final.remote.delete.items() if o in approved}
            if final.remote.chunks is not None:
                final.remote.chunks = dataclasses.replace(
                    final.remote.chunks,
                    recipes=tuple(o for o in final.remote.chunks.recipes if ("recipe", o) in approved),
                    packs=tuple(p for p in final.remote.chunks.packs if ("pack", p) in approved))
            _delete_remote(repo, final.remote, remote, result)
    return result


def _prune_empty_fanout(repo) -> None:
    folder = repo.store.objects_dir
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            os.rmdir(path)  # only succeeds when empty
        except OSError:
            continue


def _delete_remote(repo, rp: RemotePlan, remote: str | None, result: GcResult) -> None:
    _name, transfer = repo.open_transfer(remote)
    deleted = []
    with transfer.backend:
        for oid, size in rp.delete.items():
            try:
                transfer.backend.delete(object_key(oid))
            except RemoteError as exc:
                result.remote_failed.append((oid, str(exc)))
                continue
            deleted.append(oid)
            result.remote_deleted += 1
            result.remote_deleted_bytes += size
        chunks = rp.chunks
        if chunks is not None and (chunks.recipes or chunks.packs):
            chunking = chunking_api("apply_gc")
            state_dir = repo.store.chunk_dir
            try:
                chunking.apply_gc(transfer.backend, chunks, state_dir if os.path.isdir(state_dir) else None)
            except RemoteError as exc:
                result.remote_failed.append(("chunks", str(exc)))
            else:
                deleted.extend(chunks.recipes)
                result.remote_deleted += len(chunks.recipes) + len(chunks.packs)
                result.remote_deleted_bytes += chunks.bytes_freed
    repo.state.remote_forget(transfer.remote_id, deleted)


def cache_stats(repo) -> dict:
    cached = _cache_listing(repo)
    quarantine = os.path.join(repo.store.root, "quarantine")
    q = os.listdir(quarantine) if os.path.isdir(quarantine) else []
    spares, spare_bytes = repo.workspace.spares.usage()
    return {"objects": len(cached), "bytes": sum(cached.values()), "quarantined": len(q),
            "stale_tmp": _stale_tmp(repo), "spares": spares, "spare_bytes": spare_bytes, "cache_dir": repo.store.root}


__all__ = ["GcPlan", "RemotePlan", "GcResult", "GcRefused", "Roots", "gather_roots", "plan", "gc", "cache_stats",
           "chunking_api", "forget_chunk_sources"]
