"""Reading history: ONE ancestry walk and ONE memoised tree walk, for `log` and for gc's reachability.

History shares most subtrees and commits between branches, so each tree and
each pointer blob is read once per `Trees` and reused. Pointers are found by
name (`*.gitmodels`) in regular files; directories are walked, never blobs.
"""

from __future__ import annotations

import heapq
import stat as statmod
from typing import Iterable, Iterator

from gitmodels.errors import BadPointer, GitModelsError
from gitmodels.storage import pointer as pointer_mod

SUFFIX_B = pointer_mod.SUFFIX.encode()


class GitIncomplete(GitModelsError):
    """A git object that should be in this clone is not: whoever asked cannot see all of history."""

    default_hint = "repair the clone (`git fetch`, `git fsck`), or drop the ref that names it"


class Trees:
    """Commits, trees and pointer blobs of one repository, each read once."""

    def __init__(self, git):
        self.git = git
        self.dul = git.repo
        self.store = self.dul.object_store
        self._blob_at: dict[tuple[bytes, bytes], bytes | None] = {}
        self._pointers: dict[bytes, object] = {}
        self._shallow: set[bytes] | None = None

    # -- objects ------------------------------------------------------------------------------

    def has(self, sha: bytes) -> bool:
        return sha in self.store

    def obj(self, sha: bytes, what: str):
        """The object `sha`; GitIncomplete when the clone lacks it."""
        try:
            return self.store[sha]
        except KeyError:
            raise GitIncomplete(f"git object {sha.decode()[:12]} ({what}) is missing from this clone, so what it "
                                f"refers to cannot be known") from None

    def type_of(self, sha: bytes, what: str) -> bytes:
        return self.obj(sha, what).type_name

    def peel(self, sha: bytes, what: str) -> tuple[str, bytes]:
        """(kind, id) of what a ref names once tags are peeled: ('commit'|'tree'|'other', sha)."""
        obj = self.obj(sha, what)
        while obj.type_name == b"tag":
            obj = self.obj(obj.object[1], what)
        kind = obj.type_name.decode()
        return (kind if kind in ("commit", "tree") else "other"), obj.id

    def tree_of(self, commit: bytes) -> bytes:
        return self.obj(commit, "commit").tree

    def raw(self, blob: bytes, what: str = "pointer") -> bytes:
        return self.obj(blob, what).as_raw_string()

    def shallow(self) -> set[bytes]:
        """Commits at the shallow boundary (their parents are not in this clone)."""
        if self._shallow is None:
            self._shallow = set(self.dul.get_shallow())
        return self._shallow

    # -- the ancestry walk ----------------------------------------------------------------------

    def ancestry(self, starts: Iterable[bytes], stop: Iterable[bytes] = (), *, by_date: bool = False,
                 strict: bool = False, grafts: bool = False) -> Iterator[tuple[object, list]]:
        """(commit, [parent commit, ...]) for every commit reachable from `starts` and not from `stop`.

        by_date: newest commit first (what `log` shows); otherwise in any order.
        strict: a parent missing anywhere but past the shallow boundary raises
        GitIncomplete (gc must see all history); otherwise it is skipped.
        grafts: follow info/grafts as git log does; gc ignores them on purpose,
        they can hide history that still needs its models. A commit's parents
        are read once, and handed back with it, whatever the order.
        """
        stop = set(stop)
        shallow = self.shallow()
        parents_of = self.dul.parents_provider().get_parents if grafts else None
        loaded: dict[bytes, object] = {}
        queue: list = []
        seq = 0

        def push(commit) -> None:
            nonlocal seq
            loaded[commit.id] = commit
            if by_date:
                heapq.heappush(queue, (-commit.commit_time, seq, commit.id))
                seq += 1
            else:
                queue.append(commit.id)

        for sha in starts:
            if sha not in stop and sha not in loaded and self.has(sha):
                push(self.obj(sha, "commit"))
        done: set[bytes] = set()
        while queue:
            cid = heapq.heappop(queue)[2] if by_date else queue.pop()
            if cid in done:
                continue
            done.add(cid)
            commit = loaded.pop(cid)
            parents = []
            ids = parents_of(cid, commit) if parents_of else ([] if cid in shallow else commit.parents)
            for pid in ids:
                if pid in stop:
                    continue
                parent = loaded.get(pid)
                if parent is None:
                    try:
                        parent = self.store[pid]
                    except KeyError:
                        if strict:
                            raise GitIncomplete(f"git history is incomplete: commit {pid.decode()[:12]} (a parent "
                                                f"of {cid.decode()[:12]}) is missing",
                                                "repair the clone (`git fetch`, `git fsck`)") from None
                        continue  # beyond what this clone holds
                    if pid not in done:
                        push(parent)
                parents.append(parent)
            yield commit, parents

    def reachable(self, include: Iterable[bytes], exclude: Iterable[bytes] = ()) -> set[bytes]:
        """Commits reachable from `include` and not from `exclude`, strictly (see `ancestry`)."""
        exclude = list(exclude)
        stop = {c.id for c, _ in self.ancestry(exclude, strict=True)} if exclude else set()
        return {c.id for c, _ in self.ancestry(include, stop, strict=True)}

    # -- the tree walk --------------------------------------------------------------------------

    def pointer_blobs(self, trees: Iterable[bytes], visited: set[bytes] | None = None) -> dict[bytes, str]:
        """pointer blob -> a path it has, in these trees; a tree in `visited` is not read again."""
        visited = set() if visited is None else visited
        out: dict[bytes, str] = {}
        stack = [(t, b"") for t in trees if t not in visited]
        while stack:
            tree_id, prefix = stack.pop()
            if tree_id in visited:
                continue
            visited.add(tree_id)
            for entry in self.obj(tree_id, "tree").iteritems():
                if statmod.S_ISDIR(entry.mode):
                    if entry.sha not in visited:
                        stack.append((entry.sha, prefix + entry.path + b"/"))
                elif statmod.S_ISREG(entry.mode) and entry.path.endswith(SUFFIX_B):
                    out.setdefault(entry.sha, (prefix + entry.path).decode("utf-8", "replace"))
        return out

    def blob_at(self, tree_id: bytes, path: bytes) -> bytes | None:
        """The blob id of the regular file at `path` in the tree, or None (memoised per subtree)."""
        key = (tree_id, path)
        try:
            return self._blob_at[key]
        except KeyError:
            pass
        head, _, rest = path.partition(b"/")
        result = None
        try:
            mode, sha = self.store[tree_id][head]
        except KeyError:
            pass
        else:
            if rest:
                result = self.blob_at(sha, rest) if statmod.S_ISDIR(mode) else None
            elif statmod.S_ISREG(mode):
                result = sha
        self._blob_at[key] = result
        return result

    def pointer(self, blob: bytes, where: str):
        """The parsed pointer in `blob`, or the BadPointer saying why it is not one (parsed once)."""
        try:
            return self._pointers[blob]
        except KeyError:
            pass
        try:
            value = pointer_mod.parse_fast(self.raw(blob), where)
        except BadPointer as exc:
            value = exc
        self._pointers[blob] = value
        return value


__all__ = ["Trees", "GitIncomplete", "SUFFIX_B"]
