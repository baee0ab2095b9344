"""`gitmodels registry`: every model with its latest version, its aliases and their versions, and its latest
metrics, read from git objects alone (no checkout)."""

from __future__ import annotations

import dataclasses

from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import BadPointer
from gitmodels.storage.hashing import prefixed
from gitmodels.registry import aliases


@dataclasses.dataclass
class Entry:
    path: str
    commit: str | None          # the commit that made the latest version (None: beyond a shallow clone's history)
    date: str | None
    author: str | None
    oid: str | None
    size: int | None
    kind: str | None
    metrics: dict
    aliases: dict               # name -> {commit, oid, size, date, tagger}
    source: dict | None = None  # the [import] table of an imported model
    error: str | None = None

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["oid"] = prefixed(self.oid)
        out["aliases"] = {n: {**a, "oid": prefixed(a["oid"])} for n, a in self.aliases.items()}
        return out


def registry(repo, rev: str | None = None) -> list[Entry]:
    """One Entry per model at `rev` (default HEAD).

    The latest version of each model is the newest commit whose tree has its
    current pointer blob and whose parent's does not: one walk back from
    `rev`, diffing each commit against its first parent, stopping as soon as
    every model is placed, so the cost is the number of commits since the
    oldest current version, not models x commits.
    """
    from gitmodels.history import _author, _commit_date, _resolve, flatten

    git = repo.git
    head = _resolve(repo, rev or "HEAD")
    blobs = git.pointers_at(head)  # pointer path -> blob
    want = {b: p for p, b in blobs.items()}
    placed: dict[str, object] = {}
    pending = set(blobs)
    for commit in git.walk([head]):
        if not pending:
            break
        parent = commit.parents[0].decode() if commit.parents else None
        try:
            changes = git.changed_pointers(parent, commit.id.decode())
        except KeyError:  # the parent is beyond a shallow clone
            changes = {p: (None, b) for p, b in git.pointers_at(commit.id.decode()).items()}
        for ppath, (_old, new) in changes.items():
            if new is not None and ppath in pending and blobs[ppath] == new and want.get(new) is not None:
                placed[ppath] = commit
                pending.discard(ppath)
    current = aliases.with_versions(repo)
    out = []
    for ppath, blob in sorted(blobs.items()):
        art = pointer_mod.artifact_path_for(ppath)
        commit = placed.get(ppath)
        entry = Entry(art, None, None, None, None, None, None, {}, current.get(art, {}))
        if commit is not None:
            entry.commit, entry.date, entry.author = commit.id.decode(), _commit_date(commit), _author(commit)[0]
        try:
            ptr = pointer_mod.parse_fast(git.blob(blob), ppath)
        except BadPointer as exc:
            entry.error = str(exc)
        else:
            entry.oid, entry.size, entry.kind = ptr.oid, ptr.size, ptr.kind
            entry.metrics = flatten(ptr.meta.get("metrics"))
            table = ptr.meta.get("import")
            entry.source = dict(table) if isinstance(table, dict) else None
        out.append(entry)
    return out


__all__ = ["Entry", "registry"]
