"""A model registry read from git history: log, diff, show and get.

Everything here reads pointers from git objects (through `git/`: one memoised
tree and ancestry walk, git/trees.py), never from the working tree, except where a function
says it compares against the workspace. Nothing here writes to the working
tree: `get` writes only under the directory it is given, and only bytes whose
SHA-256 matched the pointer.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import os
import shutil
from typing import Any, Iterable

from gitmodels.storage import fileio
from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import (BadPointer, CorruptObject, ModelNotFound, NoRemote, ObjectMissing, PathError, RemoteError, RevisionNotFound)
from gitmodels.storage.hashing import prefixed
from gitmodels.storage.pointer import Pointer

WORKSPACE = "workspace"
CHANGES = ("added", "removed", "modified", "renamed", "metadata")


# -- shared helpers ------------------------------------------------------------------------


def flatten(table: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; non-dict values are kept as they are."""
    out: dict[str, Any] = {}
    if not isinstance(table, dict):
        return out
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def delta(old: Any, new: Any) -> int | float | None:
    """new - old for two numbers (rounded to 12 significant digits to hide float noise), else None."""
    if not (is_number(old) and is_number(new)):
        return None
    d = new - old
    if isinstance(d, float):
        d = float(f"{d:.12g}")
    return d


def parse_spec(spec: str, rev: str | None = None) -> tuple[str, str | None]:
    """'models/churn@v1.0' -> ('models/churn', 'v1.0'), split at the last '@'.

    With an explicit `rev`, `spec` is taken whole as the path (the way to name
    a model whose path contains '@').
    """
    if rev is not None:
        return spec, rev
    path, at, spec_rev = spec.rpartition("@")
    if at and path and spec_rev:
        return path, spec_rev
    return spec, None


def _git_blob_sha(data: bytes) -> str:
    """The id git gives a blob with these bytes (to skip parsing pointers that did not change)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _resolve(repo, rev: str) -> str:
    try:
        return repo.git.resolve(rev)
    except RevisionNotFound:
        if rev == "HEAD" and repo.git.head() is None:
            raise RevisionNotFound("HEAD has no commits yet", "commit the pointer first: git commit") from None
        raise


def resolve_for(repo, art: str, rev: str) -> str:
    """The commit of `rev` for the model `art`: an alias of that model first (docs/registry.md), then any git
    revision."""
    from gitmodels.history import aliases

    sha = aliases.resolve(repo, art, rev)
    if sha is not None:
        return sha
    try:
        return _resolve(repo, rev)
    except RevisionNotFound as exc:
        if aliases.NAME_RE.match(rev) and repo.git.head() is not None:
            from gitmodels.errors import AliasNotFound

            raise AliasNotFound(f"unknown revision {rev!r}: neither an alias of {art} nor a git revision",
                                f"list its aliases with `gitmodels alias list {art}`; "
                                "check revisions with `git log --oneline` or `git tag`") from None
        raise exc


def _shallow(obj) -> dict:
    """dataclasses.asdict without the deep copy (the fields hold plain data already): 10x faster."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# -- log -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Version:
    """One version of a model: a commit whose pointer (content or path) differs from its parents'."""

    commit: str
    date: str                 # author date, ISO 8601 with the author's UTC offset
    author: str
    email: str
    summary: str              # first line of the commit message
    path: str                 # artifact path at this version
    change: str               # added | modified | metadata | renamed | shallow (history cut by a shallow clone)
    oid: str | None = None
    size: int | None = None
    kind: str | None = None
    files: int | None = None
    metrics: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)
    renamed_from: str | None = None
    error: str | None = None  # the pointer at this commit cannot be read

    def to_json(self) -> dict:
        return {**_shallow(self), "oid": prefixed(self.oid)}


def _commit_date(commit) -> str:
    tz = _dt.timezone(_dt.timedelta(seconds=commit.author_timezone))
    return _dt.datetime.fromtimestamp(commit.author_time, tz).isoformat()


def _decode(raw: bytes, encoding: bytes | None) -> str:
    try:
        return raw.decode((encoding or b"utf-8").decode("ascii", "replace"), "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _author(commit) -> tuple[str, str]:
    text = _decode(commit.author, commit.encoding)
    name, _, email = text.partition(" <")
    return name.strip(), email.rstrip(">").strip()


def log(repo, path: str, limit: int | None = None, rev: str | None = None) -> list[Version]:
    """Every version of the model at `path` in the history of `rev` (default HEAD), newest first.

    Follows the pointer across renames (the same pointer blob, or a pointer
    with the same oid, under another path in the parent commit) and through
    every parent of merges. Works on a shallow clone as far as history goes:
    the oldest visible version is marked `shallow` when git cannot tell
    whether it added or changed the model.
    """
    if limit is not None and limit <= 0:
        return []
    art = repo.artifact_relpath(path)
    git = repo.git
    start = resolve_for(repo, art, rev or "HEAD")
    trees = git.trees()
    shallow = trees.shallow()
    tracked: dict[bytes, bytes] = {start.encode(): pointer_mod.pointer_path_for(art).encode()}
    rows: list[Version] = []
    seen_path = False
    for commit, parents in trees.ancestry([start.encode()], by_date=True, grafts=True):
        cid = commit.id
        ppath = tracked[cid]
        blob = trees.blob_at(commit.tree, ppath)
        seen_path = seen_path or blob is not None
        parent_states: list[tuple[bytes, bytes | None]] = []  # (pointer path in parent, blob)
        for parent in parents:
            p_path = ppath
            p_blob = trees.blob_at(parent.tree, ppath)
            if blob is not None and p_blob is None:
                source = _rename_source(git, trees, parent.id, cid, blob, ppath)
                if source is not None:
                    p_path, p_blob = source, trees.blob_at(parent.tree, source)
            parent_states.append((p_path, p_blob))
            tracked.setdefault(parent.id, p_path)
        if blob is None or any(s == (ppath, blob) for s in parent_states):
            continue
        rows.append(_version(commit, ppath, blob, parent_states, trees, cid in shallow))
        if limit is not None and len(rows) >= limit:
            break
    if not rows and not seen_path:
        raise ModelNotFound(f"{art} is not a tracked model in the history of {rev or 'HEAD'}")
    return rows


def _rename_source(git, trees, parent: bytes, child: bytes, blob: bytes,
                   ppath: bytes) -> bytes | None:
    """The pointer path in `parent` this pointer was renamed from: same blob first, then same oid."""
    removed = []
    for path, (before, after) in git.changed_pointers(parent.decode(), child.decode()).items():
        if before is not None and after is None:
            removed.append((path, before))
    if not removed:
        return None
    for path, before in sorted(removed):
        if before.encode() == blob:
            return path.encode()
    here = trees.pointer(blob, ppath.decode())
    if isinstance(here, Pointer):
        for path, before in sorted(removed):
            there = trees.pointer(before.encode(), path)
            if isinstance(there, Pointer) and there.oid == here.oid:
                return path.encode()
    return None


def _version(commit, ppath: bytes, blob: bytes, parent_states, trees, is_shallow: bool) -> Version:
    name, email = _author(commit)
    message = _decode(commit.message, commit.encoding).strip().splitlines()
    path = ppath.decode("utf-8", "surrogateescape")
    v = Version(commit=commit.id.decode(), date=_commit_date(commit), author=name, email=email,
                summary=message[0] if message else "", path=pointer_mod.artifact_path_for(path), change="added")
    ptr = trees.pointer(blob, path)
    if isinstance(ptr, BadPointer):
        v.error = str(ptr)
    else:
        v.oid, v.size, v.kind, v.files = ptr.oid, ptr.size, ptr.kind, ptr.files
        v.metrics = flatten(ptr.meta.get("metrics"))
        v.params = flatten(ptr.meta.get("params"))
    before = next(((p, b) for p, b in parent_states if b is not None), None)
    if before is None:
        v.change = "shallow" if is_shallow else "added"
        return v
    p_path, p_blob = before
    if p_path != ppath:
        v.renamed_from = pointer_mod.artifact_path_for(p_path.decode("utf-8", "surrogateescape"))
    old = trees.pointer(p_blob, p_path.decode("utf-8", "surrogateescape"))
    if p_blob == blob:
        v.change = "renamed"
    elif isinstance(ptr, Pointer) and isinstance(old, Pointer) and old.oid == ptr.oid and old.kind == ptr.kind:
        v.change = "renamed" if v.renamed_from and old.meta == ptr.meta else "metadata"
    else:
        v.change = "modified"
    return v


# -- diff ------------------------------------------------------------------------------------


@dataclasses.dataclass
class ModelChange:
    path: str                 # the model's path (the new path of a rename, the old path of a removal)
    change: str               # added | removed | modified (new bytes) | renamed | metadata (same bytes)
    old_path: str | None = None
    old_oid: str | None = None
    new_oid: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    size_delta: int | None = None
    kind: str | None = None
    metrics: list[dict] = dataclasses.field(default_factory=list)  # {name, old, new, delta}
    params: list[dict] = dataclasses.field(default_factory=list)   # {name, old, new}
    meta: list[str] = dataclasses.field(default_factory=list)      # other metadata tables that changed

    def to_json(self) -> dict:
        return {**_shallow(self), "old_oid": prefixed(self.old_oid), "new_oid": prefixed(self.new_oid)}


@dataclasses.dataclass
class DiffResult:
    old: str                  # the revision as given (or "workspace")
    new: str
    old_commit: str | None    # None for the workspace
    new_commit: str | None
    changes: list[ModelChange] = dataclasses.field(default_factory=list)
    errors: list[dict] = dataclasses.field(default_factory=list)  # {path, side, error}: unreadable pointers

    def to_json(self) -> dict:
        return {"old": self.old, "new": self.new, "old_commit": self.old_commit, "new_commit": self.new_commit,
                "changes": [c.to_json() for c in self.changes], "errors": self.errors}

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in CHANGES}
        for ch in self.changes:
            out[ch.change] += 1
        return out


def diff(repo, rev_a: str | None = None, rev_b: str | None = None,
         paths: Iterable[str] | None = None) -> DiffResult:
    """Models added, removed and changed from `rev_a` (default HEAD) to `rev_b` (default: the workspace pointers).

    Only pointers whose git blob differs are parsed, so the cost follows the
    number of changed models, not the number of models.
    """
    git = repo.git
    label_a = rev_a or "HEAD"
    arts = [repo.artifact_relpath(p) for p in paths] if paths is not None else None
    # With one model named, its aliases are revisions too: `diff prod main -p models/churn`.
    resolve = (lambda rev: resolve_for(repo, arts[0], rev)) if arts and len(arts) == 1 \
        else (lambda rev: _resolve(repo, rev))
    sha_a = resolve(label_a)
    wanted = {pointer_mod.pointer_path_for(a) for a in arts} if arts is not None else None
    result = DiffResult(label_a, rev_b or WORKSPACE, sha_a, None)
    old_side: dict[str, Pointer] = {}
    new_side: dict[str, Pointer] = {}

    def load(side: dict, path: str, data: bytes | None, which: str) -> None:
        if data is None:
            return
        try:
            side[path] = pointer_mod.parse_fast(data, path)
        except BadPointer as exc:
            result.errors.append({"path": pointer_mod.artifact_path_for(path), "side": which, "error": str(exc)})

    if rev_b is not None:
        sha_b = resolve(rev_b)
        result.new_commit = sha_b
        for path, (before, after) in git.changed_pointers(sha_a, sha_b).items():
            if wanted is not None and path not in wanted:
                continue
            load(old_side, path, git.blob(before) if before else None, label_a)
            load(new_side, path, git.blob(after) if after else None, rev_b)
    else:
        at_a = git.pointers_at(sha_a)
        in_index = set(git.index_pointers())
        for path in sorted(in_index | set(at_a)):
            if wanted is not None and path not in wanted:
                continue
            data = None
            if path in in_index:
                try:
                    with open(repo.abspath(path), "rb") as f:
                        data = f.read(pointer_mod.MAX_SIZE + 1)
                except FileNotFoundError:
                    data = None  # deleted in the working tree: a removal
            old_blob = at_a.get(path)
            if data is not None and old_blob is not None and _git_blob_sha(data) == old_blob:
                continue
            load(old_side, path, git.blob(old_blob) if old_blob else None, label_a)
            load(new_side, path, data, WORKSPACE)
    result.changes = _compare(old_side, new_side)
    return result


def _compare(old_side: dict[str, Pointer], new_side: dict[str, Pointer]) -> list[ModelChange]:
    changes: list[ModelChange] = []
    removed = {p: old_side[p] for p in old_side if p not in new_side}
    added = {p: new_side[p] for p in new_side if p not in old_side}
    # A removed and an added pointer with the same bytes is a rename.
    by_oid: dict[tuple[str, str], list[str]] = {}
    for p, ptr in sorted(removed.items()):
        by_oid.setdefault((ptr.oid, ptr.kind), []).append(p)
    for p in sorted(added):
        ptr = added[p]
        sources = by_oid.get((ptr.oid, ptr.kind))
        if sources:
            src = sources.pop(0)
            old = removed.pop(src)
            del added[p]
            ch = _changed(p, old, ptr)
            ch.old_path = pointer_mod.artifact_path_for(src)
            ch.change = "renamed"
            changes.append(ch)
    for p in sorted(set(old_side) & set(new_side)):
        old, new = old_side[p], new_side[p]
        if old == new:
            continue
        changes.append(_changed(p, old, new))
    for p, ptr in added.items():
        changes.append(_one_sided(p, ptr, "added"))
    for p, ptr in removed.items():
        changes.append(_one_sided(p, ptr, "removed"))
    return sorted(changes, key=lambda c: (c.path, c.change))


def _one_sided(ppath: str, ptr: Pointer, change: str) -> ModelChange:
    art = pointer_mod.artifact_path_for(ppath)
    ch = ModelChange(art, change, kind=ptr.kind)
    if change == "added":
        ch.new_oid, ch.new_size = ptr.oid, ptr.size
        ch.metrics = [{"name": k, "old": None, "new": v, "delta": None}
                      for k, v in flatten(ptr.meta.get("metrics")).items()]
    else:
        ch.old_oid, ch.old_size = ptr.oid, ptr.size
    return ch


def _changed(ppath: str, old: Pointer, new: Pointer) -> ModelChange:
    ch = ModelChange(pointer_mod.artifact_path_for(ppath),
                     "modified" if (old.oid, old.kind) != (new.oid, new.kind) else "metadata",
                     old_oid=old.oid, new_oid=new.oid, old_size=old.size, new_size=new.size,
                     size_delta=new.size - old.size, kind=new.kind)
    m_old, m_new = flatten(old.meta.get("metrics")), flatten(new.meta.get("metrics"))
    for name in sorted(set(m_old) | set(m_new)):
        a, b = m_old.get(name), m_new.get(name)
        if a != b or name not in m_old or name not in m_new:
            ch.metrics.append({"name": name, "old": a, "new": b, "delta": delta(a, b)})
    p_old, p_new = flatten(old.meta.get("params")), flatten(new.meta.get("params"))
    for name in sorted(set(p_old) | set(p_new)):
        if p_old.get(name, _MISSING) != p_new.get(name, _MISSING):
            ch.params.append({"name": name, "old": p_old.get(name), "new": p_new.get(name)})
    for table in sorted((set(old.meta) | set(new.meta)) - {"metrics", "params"}):
        if old.meta.get(table) != new.meta.get(table):
            ch.meta.append(table)
    return ch


_MISSING = object()


# -- show -----------------------------------------------------------------------------------


def pointer_at(repo, path: str, rev: str | None = None) -> tuple[str, str | None, Pointer]:
    """(artifact path, commit or None, pointer) of a model at `rev`, or in the workspace when rev is None."""
    art = repo.artifact_relpath(path)
    ppath = pointer_mod.pointer_path_for(art)
    if rev is None:
        return art, None, repo.read_pointer(ppath)
    sha = resolve_for(repo, art, rev)
    data = repo.git.file_at(sha, ppath)
    if data is None:
        raise ModelNotFound(f"{art} is not a tracked model at {rev}",
                            f"see its history with `gitmodels log {art}`; list models with `gitmodels ls --rev {rev}`")
    return art, sha, pointer_mod.parse(data, f"{ppath}@{rev}")


def show(repo, path: str, rev: str | None = None) -> dict:
    """A model's pointer at `rev` (or the workspace pointer when rev is None) as a plain dict.

    Keys: path, pointer_path, rev, commit, in_cache, then the pointer's own
    keys (version, oid, size, kind, files) and its metadata tables, in the
    order the pointer file has them.
    """
    art, sha, ptr = pointer_at(repo, path, rev)
    out: dict[str, Any] = {"path": art, "pointer_path": pointer_mod.pointer_path_for(art), "rev": rev,
                           "commit": sha, "in_cache": repo.in_cache(ptr), "version": ptr.version,
                           "oid": ptr.oid, "size": ptr.size, "kind": ptr.kind, "files": ptr.files}
    for name in pointer_mod._ordered_tables(ptr.meta):
        out[name if name not in out else f"meta.{name}"] = ptr.meta[name]
    return out


# -- get ------------------------------------------------------------------------------------


@dataclasses.dataclass
class GetResult:
    path: str        # the model's path in the repository
    dest: str        # where it was written
    commit: str
    oid: str
    kind: str
    size: int
    files: int | None
    fetched: int     # objects downloaded from the remote

    def to_json(self) -> dict:
        return {**_shallow(self), "oid": prefixed(self.oid)}


def get(repo, path: str, rev: str | None, out: str, *, force: bool = False, remote: str | None = None,
        progress: bool | None = None) -> GetResult:
    """Write the model at `path` as it was at `rev` (default HEAD) to `out` (see `destination`).

    The bytes come from the cache, fetched into it from the remote when
    missing; every file is hashed before it is renamed into place. The working
    tree and the index are never touched.
    """
    art, sha, ptr = pointer_at(repo, path, rev or "HEAD")
    dest = destination(out, os.path.basename(art))
    _refuse_workspace_target(repo, dest)
    if os.path.lexists(dest) and not force:
        raise PathError(f"{dest} already exists", "choose another output path, or pass --force to replace it")
    fetched = _ensure_cached(repo, ptr, art, rev or "HEAD", remote, progress)
    try:
        _write(repo, ptr, dest, art)
    except CorruptObject:
        # A damaged cached copy: move it aside, fetch a good one, try once more.
        for oid in _corrupt_objects(repo.store, ptr):
            repo.store.quarantine(oid)
        fetched += _ensure_cached(repo, ptr, art, rev or "HEAD", remote, progress)
        _write(repo, ptr, dest, art)
    return GetResult(art, dest, sha or "", ptr.oid, ptr.kind, ptr.size, ptr.files, fetched)


def destination(out: str, name: str) -> str:
    """Where `get -o OUT` writes, as `cp -r` and `dvc get -o` do: OUT itself, or OUT/<name> when OUT is an
    existing directory (or ends with a separator, which asks for one)."""
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        return os.path.join(os.path.abspath(out), name)
    return os.path.abspath(out)


def _refuse_workspace_target(repo, dest: str) -> None:
    """`get` writes next to the checkout, never over it: not into .git, not over a tracked model."""
    real = os.path.realpath(dest)
    root = os.path.realpath(repo.root)
    if not (real + os.sep).startswith(root + os.sep):
        return
    rel = os.path.relpath(real, root).replace(os.sep, "/")
    if rel.split("/")[0] == ".git" or (real + os.sep).startswith(os.path.realpath(repo.git.common_dir) + os.sep):
        raise PathError(f"{dest} is inside the git directory", "choose an output directory outside .git")
    for ppath in repo.pointer_paths():
        art = pointer_mod.artifact_path_for(ppath)
        if rel == art or rel.startswith(art + "/") or art.startswith(rel + "/"):
            raise PathError(f"{dest} would overwrite the workspace model {art}",
                            "write elsewhere, or use `gitmodels checkout` to change the workspace model")


def _ensure_cached(repo, ptr: Pointer, art: str, rev: str, remote: str | None, progress: bool | None) -> int:
    if repo.in_cache(ptr):
        return 0
    try:
        result = repo.fetch(remote=remote, pointers=[ptr], progress=progress)
    except NoRemote:
        raise ObjectMissing(f"{art}@{rev}: model {ptr.oid[:12]} is not in the cache and no remote is configured",
                            "add the remote with `gitmodels remote add`, or push it from a clone that has it") from None
    except RemoteError as exc:
        raise ObjectMissing(f"{art}@{rev}: model {ptr.oid[:12]} is not in the cache and the remote failed: {exc}",
                            exc.hint) from None
    if result.failed or not repo.in_cache(ptr):
        why = result.failed[0][1] if result.failed else "the remote does not have it"
        raise ObjectMissing(f"{art}@{rev}: cannot get model {ptr.oid[:12]}: {why}",
                            "push it from a clone that has it (`gitmodels push --rev REV`), then retry")
    return result.moved


def _corrupt_objects(store, ptr: Pointer) -> list[str]:
    oids = [ptr.oid]
    if ptr.is_dir and store.has(ptr.oid) and store.verify(ptr.oid):
        oids += [e.oid for e in manifest_mod.parse(store.read_bytes(ptr.oid)).entries]
    return [o for o in dict.fromkeys(oids) if store.has(o) and not store.verify(o)]


def _write(repo, ptr: Pointer, dest: str, art: str | None = None) -> None:
    """Export a verified copy next to `dest`, then swap it in: `dest` is never half-written."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    staged = fileio.tmp_name_for(dest)
    try:
        repo.export(ptr, staged, fetch=False, where=art)
        fileio.swap_into_place(staged, dest)
    finally:
        if os.path.isdir(staged) and not os.path.islink(staged):
            shutil.rmtree(staged, ignore_errors=True)
        elif os.path.lexists(staged):
            os.unlink(staged)


__all__ = ["Version", "ModelChange", "DiffResult", "GetResult", "log", "diff", "show", "get", "pointer_at",
           "parse_spec", "flatten", "delta", "resolve_for"]
