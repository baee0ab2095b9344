"""The last `gitmodels status`, kept in one file so that an unchanged repository answers from it.

Every remembered fact carries what it was derived from: the lstat data (inode, size, mtime, ctime, mode) of
a file, or only whether a path exists. A fact is reused while each of those is the same, so a pointer or an
artifact that changed in any way (rewritten in place with the same size and mtime still moves its ctime;
replaced by a rename changes its inode) is looked at again, and only that one. A path whose mtime or ctime
is within RACY_NS of the moment it was read is not trusted at all: the clock may not have ticked between
that read and a later write (git's "racily clean" index entries).

This module is imported by the command line's fast path before anything else, so it imports only the
standard library's cheapest modules.
"""

from __future__ import annotations

import json
import os
import time

NAME = "gitmodels-status.json"  # in the worktree's own git dir: one per index and working tree
VERSION = 1
RACY_NS = 1_000_000_000
# Environment variables that change which repository, index or settings a command sees: the fast path
# answers only when they are as they were when the snapshot was written (or, for the first group, unset).
_GIT_PLACE = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
              "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_NAMESPACE")


def stat_of(path: str) -> list | None:
    """The lstat data a fact depends on, or None when the path does not exist."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def environment() -> dict[str, str]:
    """The variables whose value the remembered answer depends on (settings, git config, hook skipping)."""
    return {k: v for k, v in os.environ.items()
            if k.startswith(("GITMODELS_", "GIT_CONFIG")) or k in ("HOME", "XDG_CONFIG_HOME")}


def holds(deps: list) -> bool:
    """Is every [path, expected] still true? expected: lstat data, None (absent), True/False (exists), or
    {"tree": signature, "files": count} for a directory model too big to list (storage/treewalk.py)."""
    for path, want in deps:
        if want is True or want is False:
            if os.path.exists(path) is not want:
                return False
        elif isinstance(want, dict):
            from gitmodels.storage.treewalk import tree_signature

            if tree_signature(path, want["files"]) != (want["tree"], want["files"]):
                return False
        elif stat_of(path) != want:
            return False
    return True


class Recorder:
    """Collects the dependencies of one fact; `racy` when one of them is too recent to be trusted."""

    def __init__(self, now_ns: int | None = None):
        self.now_ns = time.time_ns() if now_ns is None else now_ns
        self.deps: list = []
        self.racy = False

    def stat(self, path: str) -> list | None:
        key = stat_of(path)
        if key is not None and max(key[2], key[3]) >= self.now_ns - RACY_NS:
            self.racy = True
        self.deps.append([path, key])
        return key

    def tree(self, path: str) -> None:
        """Every folder and file under `path` (a directory model): an added, removed or edited file shows."""
        self.stat(path)
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                self.stat(os.path.join(folder, name))

    def signature(self, path: str, signature: str, files: int) -> None:
        """The directory `path` had this signature: as sound as the stat cache's own check of it
        (StatCache.known_dir), which would compare the same digest."""
        self.deps.append([path, {"tree": signature, "files": files}])

    def exists(self, path: str) -> bool:
        found = os.path.exists(path)
        self.deps.append([path, found])
        return found


def load(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == VERSION else None


def save(path: str, doc: dict) -> None:
    """Write atomically; a snapshot that cannot be written only costs the next status its speed."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def discover_git_dir(start: str) -> tuple[str, str] | None:
    """(worktree, git dir) the way git finds them from `start`, or None when unsure (then ask git)."""
    folder = os.path.abspath(start)
    while True:
        dotgit = os.path.join(folder, ".git")
        if os.path.isdir(dotgit):
            return folder, dotgit
        if os.path.isfile(dotgit):
            try:
                with open(dotgit, encoding="utf-8") as f:
                    line = f.read().strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            return folder, os.path.normpath(os.path.join(folder, line[len("gitdir:"):].strip()))
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def answer(command: str, start: str = ".") -> tuple[str, str, int] | None:
    """(stdout, stderr, exit code) of `command` ("status" or "status --json") as remembered, when nothing it
    depends on changed since; None otherwise (then the command runs in full and remembers again)."""
    if any(os.environ.get(k) for k in _GIT_PLACE):
        return None
    found = discover_git_dir(start)
    if found is None:
        return None
    root, git_dir = found
    doc = load(os.path.join(git_dir, NAME))
    if not doc or not doc.get("complete") or doc.get("root") != root or doc.get("env") != environment():
        return None
    out = doc.get("outputs", {}).get(command)
    if out is None or not holds(doc["settings"]) or not holds(doc["index"]):
        return None
    for entry in doc["models"].values():
        if not holds(entry["deps"]):
            return None
    return out[0], out[1], out[2]
