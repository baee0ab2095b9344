"""What is used: the objects that git (refs, reflogs, stash, index, worktrees) and the workspace still need.

Computed from `git/` alone (roots.py gathers what names pointers, trees.py
walks history), expanding directory manifests, so that `sweep` can delete the
rest without knowing anything about git:

    reach = Reachability(repo, fetch_manifest)
    used = reach.used(all_commits=False)          # the cache's keep set
    used = reach.used(all_commits=False, remote=True)   # a remote's (remote-tracking tips too)

The rules it implements are listed in docs/history.md ("gc safety rules").
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from typing import Callable, Iterable

from gitmodels.errors import BadManifest, BadPointer, CorruptObject, GitModelsError
from gitmodels.git.trees import GitIncomplete
from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage import pointer as pointer_mod
from gitmodels.storage.objects import bundle_name, is_manifest
from gitmodels.storage.pointer import extra_objects
from gitmodels.storage.hashing import is_hex_oid

_OID_IN_TEXT = re.compile(r"sha256:([0-9a-f]{64})")


class GcRefused(GitModelsError):
    """gc cannot prove which objects are needed, so it deletes nothing."""

    exit_code = 1


@contextlib.contextmanager
def refusing():
    """Turn "git cannot show everything" into a refusal to delete anything."""
    try:
        yield
    except GitIncomplete as exc:
        raise GcRefused(f"{exc}; nothing was deleted", exc.hint) from None


@dataclasses.dataclass
class Ref:
    """A reference to an object: a parsed pointer, or oids found in a pointer that does not parse."""

    label: str
    oid: str
    kind: str | None  # "file", "dir", or None when unknown (an unparseable pointer)


def refs_in(data: bytes, label: str) -> list[Ref]:
    try:
        ptr = pointer_mod.parse(data, label)
    except BadPointer:
        # Conflict markers or damage: keep every oid written in it (both sides of a conflict).
        text = data.decode("utf-8", "replace")
        return [Ref(label, oid, None) for oid in dict.fromkeys(_OID_IN_TEXT.findall(text))]
    return [Ref(label, ptr.oid, ptr.kind)] + [Ref(label, oid, "file") for oid in sorted(extra_objects(ptr))]


def manifest_fetcher(repo, transfer) -> Callable[[str], bool] | None:
    """A function that downloads one manifest into the cache, True when it is there after; None offline."""
    if transfer is None:
        return None

    def fetch(oid: str) -> bool:
        try:
            result = transfer.fetch([oid])
        except GitModelsError:
            return False
        return not result.failed and repo.store.has(oid)

    return fetch


class Needs:
    """Turns pointer references into the set of objects they need, expanding directory manifests (read once)."""

    def __init__(self, store, fetch_manifest: Callable[[str], bool] | None):
        self.store = store
        self.fetch_manifest = fetch_manifest
        self._entries: dict[str, list[str] | None] = {}
        self.unknown: dict[str, str] = {}  # manifest oid -> a model that needs it

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

    def objects(self, refs: Iterable[Ref], strict: bool, fetch: bool = True) -> set[str]:
        """Every object these references need.

        strict: record directory models whose files are unknown; fetch: download
        missing manifests of directory models first.
        """
        out: set[str] = set()
        for ref in refs:
            out.add(ref.oid)
            maybe_dir = ref.kind == "dir" or (ref.kind in (None, "file")
                                               and is_manifest(self.store.path(ref.oid)))
            if not maybe_dir:
                continue
            listed = self.entries(ref.oid)
            if listed is None and ref.kind == "dir" and fetch and self.fetch_manifest is not None:
                self._entries.pop(ref.oid, None)
                if self.fetch_manifest(ref.oid):
                    listed = self.entries(ref.oid)
            if ref.kind == "dir" or listed is not None:
                out.add(bundle_name(ref.oid))  # its small files' recipe on a remote (docs/storage.md)
            if listed is None:
                if ref.kind == "dir" and strict:
                    self.unknown.setdefault(ref.oid, ref.label)
                continue
            out.update(listed)
        return out

    def refuse_unknown(self, skip_unknown: bool, warnings: list[str], remote: str | None = None) -> None:
        """Refuse when a kept directory model's files cannot be told apart from garbage (or warn, skipping)."""
        if not self.unknown:
            return
        n = len(self.unknown)
        names = ", ".join(f"{label} (manifest {oid[:12]})" for oid, label in list(self.unknown.items())[:5])
        self.unknown.clear()
        if remote is None and not skip_unknown:
            raise GcRefused(f"cannot tell which files {n} directory model(s) need: their manifest is in neither "
                            f"the cache nor the remote: {names}; nothing was deleted",
                            "fetch or push them (`gitmodels fetch`, or `gitmodels push` from a clone that has "
                            "them), or re-run with --skip-unknown to collect anyway")
        if not skip_unknown:
            raise GcRefused(f"cannot tell which files {n} directory model(s) need on remote {remote}: their "
                            f"manifest is missing there: {names}; nothing was deleted",
                            "push them from a clone that has them, or re-run with --skip-unknown")
        what = "the files" if remote is None else "remote files"
        warnings.append(f"--skip-unknown: {what} of {n} directory model(s) could not be identified: {names}")


def objects_of(store, ptr) -> set[str]:
    """Every object a pointer needs: itself, its stored environment listing, a cached manifest's files."""
    oids = {ptr.oid} | extra_objects(ptr)
    if ptr.is_dir:
        oids.add(bundle_name(ptr.oid))
        oids.update(Needs(store, None).entries(ptr.oid) or ())
    return oids


@dataclasses.dataclass
class Used:
    """The keep set: what must survive, and the commits whose models those are."""

    objects: set[str]
    commits: set[bytes]


class Reachability:
    """One reading of git for one gc: the roots, the walked history and the expanded manifests are shared
    by the cache's keep set, the remote's and the history check."""

    def __init__(self, repo, fetch_manifest: Callable[[str], bool] | None = None, team: bool = False):
        """`team`: first read every ref of every git remote (a remote gc): `team_objects` keeps their history."""
        self.repo = repo
        with refusing():
            self.team = repo.git.team_tips() if team else None  # before the trees: it reopens the handle
        self.trees = repo.git.trees()
        with refusing():
            self.roots = repo.git.roots(self.trees)
        self.team_commits: set[bytes] = set()
        self.team_trees: list[bytes] = []
        if self.team is not None:
            with refusing():
                for sha, why in sorted(self.team.tips.items()):
                    kind, peeled = self.trees.peel(sha, f"{why[0]} on the git server")
                    if kind == "commit":
                        self.team_commits.add(peeled)
                    elif kind == "tree":
                        self.team_trees.append(peeled)
        self.needs = Needs(repo.store, fetch_manifest)
        self._all: set[bytes] | None = None

    def all_history(self) -> set[bytes]:
        """Every commit git can still reach: refs, remote-tracking refs, reflogs (and the team's refs)."""
        if self._all is None:
            with refusing():
                self._all = self.trees.reachable(self.roots.history_roots | self.team_commits)
        return self._all

    def team_objects(self) -> set[str]:
        """Every object any commit reachable from any ref on the git servers needs: every version
        anyone can check out from there stays pullable. Manifests the cache lacks are fetched."""
        with refusing():
            commits = self.trees.reachable(self.team_commits)
            t = self.trees
            blobs = t.pointer_blobs([t.tree_of(c) for c in sorted(commits)] + sorted(self.team_trees))
            refs = [r for blob, where in sorted(blobs.items()) for r in refs_in(t.raw(blob), where)]
        return self.needs.objects(refs, strict=True)

    def commits(self, all_commits: bool, remote: bool = False) -> set[bytes]:
        """The commits whose models are kept: tips (remote-tracking ones too for a remote) and unpushed work."""
        if all_commits:
            return self.all_history()
        with refusing():
            unpushed = self.trees.reachable(self.roots.local_roots, self.roots.remote_tips)
        return set(self.roots.tips) | (set(self.roots.remote_tips) if remote else set()) | unpushed

    def used(self, *, all_commits: bool, remote: bool = False, skip_unknown: bool = False,
             warnings: list[str] | None = None, remote_name: str | None = None) -> Used:
        """What must be kept in the cache (or with `remote`, on the model remote)."""
        commits = self.commits(all_commits, remote)
        with refusing():
            refs = self.refs(commits, with_workspace=True)
        oids = self.needs.objects(refs, strict=True)
        if not remote:
            oids |= self.linked()
        self.needs.refuse_unknown(skip_unknown, warnings if warnings is not None else [],
                                  remote_name if remote else None)
        return Used(oids, commits)

    def history(self, kept: set[bytes]) -> tuple[set[str], list[Ref]]:
        """(objects, references) of what older commits outside `kept` use: deleted only once a remote has it."""
        commits = self.all_history() - kept
        if not commits:
            return set(), []
        with refusing():
            refs = self.refs(commits, with_workspace=False)
        return self.needs.objects(refs, strict=False, fetch=False), refs

    def refs(self, commits: set[bytes], with_workspace: bool) -> list[Ref]:
        """References from the commits' trees; with_workspace: also the extra trees, the index and the files."""
        t = self.trees
        trees = [t.tree_of(c) for c in sorted(commits)] + (sorted(self.roots.trees) if with_workspace else [])
        blobs = t.pointer_blobs(trees)
        if with_workspace:
            for blob, where in self.roots.index_blobs.items():
                blobs.setdefault(blob, where)
        refs: list[Ref] = []
        for blob, where in sorted(blobs.items()):
            refs.extend(refs_in(t.raw(blob), where))
        if with_workspace:
            for label, data in self.roots.workspace:
                refs.extend(refs_in(data, label))
        return refs

    def linked(self) -> set[str]:
        """Cached objects that a workspace model symlinks to (link mode `symlink`)."""
        objects_dir = os.path.realpath(self.repo.store.objects_dir) + os.sep
        out: set[str] = set()

        def check(path: str) -> None:
            if os.path.islink(path):
                target = os.path.realpath(path)
                if target.startswith(objects_dir) and is_hex_oid(os.path.basename(target)):
                    out.add(os.path.basename(target))

        for artifact in self.roots.artifacts:
            if os.path.islink(artifact):
                check(artifact)
            elif os.path.isdir(artifact):
                for dirpath, _dirs, files in os.walk(artifact):
                    for name in files:
                        check(os.path.join(dirpath, name))
        return out


__all__ = ["GcRefused", "Reachability", "Used", "Needs", "Ref", "refs_in", "manifest_fetcher", "objects_of",
           "refusing"]
