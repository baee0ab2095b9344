"""Everything in git that can name a pointer: refs, reflogs, the stash, every worktree's HEAD, state files and index.

Gathered once, read only (nothing here writes), and strict: a missing object
or an unreadable index raises GitIncomplete rather than being taken as "names
nothing", because whoever asks (gc) would otherwise delete what it refers to.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat as statmod
import subprocess

from gitmodels.git.trees import SUFFIX_B, GitIncomplete, Trees
from gitmodels.storage import pointer as pointer_mod

ZERO = b"0" * 40
_HEX40 = re.compile(rb"^([0-9a-f]{40})", re.MULTILINE)
# Files in a git directory that name commits an operation in progress (or just done) still needs.
STATE_FILES = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD", "ORIG_HEAD", "BISECT_HEAD",
               "FETCH_HEAD", "AUTO_MERGE", "rebase-merge/orig-head", "rebase-merge/onto",
               "rebase-merge/stopped-sha", "rebase-merge/amend", "rebase-apply/orig-head", "rebase-apply/onto",
               "sequencer/head", "sequencer/abort-safety")


@dataclasses.dataclass
class Worktree:
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
    artifacts: list[str] = dataclasses.field(default_factory=list)           # the models on disk those name
    fetched: float | None = None                                             # when FETCH_HEAD was written
    warnings: list[str] = dataclasses.field(default_factory=list)


def worktrees(git) -> list[Worktree]:
    """The main worktree and every linked one (`git worktree add`), with their git directories."""
    common = git.common_dir
    if os.path.basename(common) == ".git":
        main_root = os.path.dirname(common)
    elif os.path.normpath(git.git_dir) == common:
        main_root = git.worktree
    else:
        main_root = None
    out = [Worktree("main worktree", common, main_root)]
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
            out.append(Worktree(f"worktree {name}", admin, root if root and os.path.isdir(root) else None))
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


def gather(git, trees: Trees | None = None) -> Roots:
    """Collect every ref, reflog, index, stash and workspace pointer of every worktree of `git` (a GitRepo)."""
    g = trees or Trees(git)
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
        if name.startswith(TEAM_NS.encode()):
            continue  # a team read left behind by an interrupted gc: not this clone's ref
        tip(sha, name.decode("utf-8", "replace"), local=not name.startswith(b"refs/remotes/"))

    # The stash: every entry, with its index and untracked-files parents and the commit it was made on.
    stash = set(_reflog_shas(os.path.join(git.common_dir, "logs", "refs", "stash")))
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
    logs = os.path.join(git.common_dir, "logs", "refs")
    for dirpath, _dirs, files in os.walk(logs):
        rel = os.path.relpath(dirpath, logs).replace(os.sep, "/")
        for fname in files:
            ref = f"refs/{fname}" if rel == "." else f"refs/{rel}/{fname}"
            if ref == "refs/stash":
                continue
            for sha in _reflog_shas(os.path.join(dirpath, fname)):
                if g.has(sha) and g.type_of(sha, "reflog") == b"commit":
                    roots.history_roots.add(sha)
                    if not ref.startswith("refs/remotes/"):
                        roots.local_roots.add(sha)

    for wt in worktrees(git):
        _gather_worktree(git, g, wt, roots, tip)
    try:
        roots.fetched = os.path.getmtime(os.path.join(git.common_dir, "FETCH_HEAD"))
    except OSError:
        pass
    return roots


def _gather_worktree(git, g: Trees, wt: Worktree, roots: Roots, tip) -> None:
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
    for rel in STATE_FILES:
        data = _read(os.path.join(wt.admin, *rel.split("/")))
        for sha in _HEX40.findall(data or b""):
            if sha != ZERO and g.has(sha):
                tip(sha, f"{rel} of {wt.name}")
    if os.path.normpath(wt.admin) != os.path.normpath(git.common_dir):
        # Per-worktree refs (refs/bisect/*, refs/worktree/*) live in the worktree's own git directory.
        for dirpath, _dirs, files in os.walk(os.path.join(wt.admin, "refs")):
            for fname in files:
                data = _read(os.path.join(dirpath, fname)) or b""
                for sha in _HEX40.findall(data):
                    if g.has(sha):
                        tip(sha, f"refs of {wt.name}")
    for sha in _reflog_shas(os.path.join(wt.admin, "logs", "HEAD")):
        if g.has(sha) and g.type_of(sha, "reflog") == b"commit":
            roots.history_roots.add(sha)
            roots.local_roots.add(sha)
    staged = _gather_index(wt, roots)
    if wt.root is None:
        return
    for ppath in sorted(set(staged) | set(untracked_pointers(wt.root))):
        data = _read(os.path.join(wt.root, *ppath.split("/")))
        if data is not None and len(data) <= pointer_mod.MAX_SIZE:
            roots.workspace.append((f"{ppath} in {wt.name}", data))
        roots.artifacts.append(os.path.join(wt.root, *pointer_mod.artifact_path_for(ppath).split("/")))


def _gather_index(wt: Worktree, roots: Roots) -> list[str]:
    """Every stage of every pointer in the worktree's index (a conflicted merge keeps both sides)."""
    index_path = os.path.join(wt.admin, "index")
    staged: list[str] = []
    if not os.path.exists(index_path):
        return staged
    from dulwich.index import ConflictedIndexEntry, Index

    try:
        index = Index(index_path)
    except Exception as exc:  # an index dulwich cannot read must not be taken as empty
        raise GitIncomplete(f"cannot read the index of {wt.name} ({index_path}): {exc}",
                            "run `git status` there to check it") from None
    for path, entry in index.items():
        entries = [entry.ancestor, entry.this, entry.other] if isinstance(entry, ConflictedIndexEntry) else [entry]
        for e in entries:
            if e is None:
                continue
            if statmod.S_ISDIR(e.mode):  # a sparse-index directory entry
                roots.trees[e.sha] = f"index of {wt.name}"
            elif path.endswith(SUFFIX_B):
                roots.index_blobs[e.sha] = f"index of {wt.name}"
        if path.endswith(SUFFIX_B):
            staged.append(path.decode("utf-8", "surrogateescape"))
    return staged


def untracked_pointers(root: str) -> list[str]:
    """Pointer files not yet staged (e.g. `gitmodels add --no-stage`), ignored ones included:
    a pointer someone's .gitignore hides still names bytes they may need."""
    env = dict(os.environ, GITMODELS_SKIP="1")
    proc = subprocess.run(["git", "-C", root, "ls-files", "-z", "--others", "--", f"*{pointer_mod.SUFFIX}"],
                          capture_output=True, env=env)
    if proc.returncode != 0:
        raise GitIncomplete(f"cannot list the untracked pointer files in {root}: "
                            f"{proc.stderr.decode(errors='replace').strip()}", "")
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


# -- the team: every ref on every git remote ------------------------------------------------

TEAM_NS = "refs/gitmodels/team/"  # where a remote gc fetches the servers' refs, removed right after


@dataclasses.dataclass
class TeamTips:
    """Every ref the git servers have, fetched with their full history: what a remote gc must keep."""

    remotes: list[str] = dataclasses.field(default_factory=list)
    tips: dict[bytes, list[str]] = dataclasses.field(default_factory=dict)  # object -> "origin refs/heads/x"
    refs: int = 0


def _git(root: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GITMODELS_SKIP="1")
    return subprocess.run(["git", "-C", root, *args], capture_output=True, env=env, input=input)


def _why(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return (lines[-1] if lines else f"exit {proc.returncode}").removeprefix("fatal: ")


def team_tips(root: str) -> TeamTips:
    """Read every ref of every configured git remote (`git ls-remote`: branches, tags, pull-request refs,
    a detached HEAD) and fetch their whole history into a private namespace, deleted again before returning:
    this clone's own refs and remote-tracking refs are never touched (`--refmap=`). An unreachable git
    remote raises GitIncomplete: what its refs need cannot be known."""
    out = TeamTips()
    proc = _git(root, "remote")
    if proc.returncode != 0:
        raise GitIncomplete(f"cannot list the git remotes: {_why(proc)}", "")
    for name in proc.stdout.decode("utf-8", "surrogateescape").split():
        listed = _git(root, "ls-remote", "--", name)
        if listed.returncode != 0:
            raise GitIncomplete(f"cannot read the refs of git remote {name} ({_why(listed)}): a remote gc keeps "
                                f"what every ref there needs, so it cannot run",
                                f"make {name} reachable, or `git remote remove {name}` if it is gone for good")
        refs: dict[str, str] = {}
        for line in listed.stdout.decode("utf-8", "surrogateescape").splitlines():
            sha, _, ref = line.partition("\t")
            if ref and not ref.endswith("^{}"):
                refs[ref] = sha
        out.remotes.append(name)
        if not refs:
            continue  # an empty repository
        ns = f"{TEAM_NS}{len(out.remotes)}/"
        specs = [f"+refs/*:{ns}refs/*"]
        if "HEAD" in refs and refs["HEAD"] not in {s for r, s in refs.items() if r != "HEAD"}:
            specs.append(f"+HEAD:{ns}HEAD")  # a detached HEAD on a server keeps its commit too
        try:
            fetched = _git(root, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "-q", "--no-tags",
                           "--no-write-fetch-head", "--no-recurse-submodules", "--refmap=", "--", name, *specs)
            if fetched.returncode != 0:
                raise GitIncomplete(f"cannot fetch the refs of git remote {name} ({_why(fetched)}): a remote gc "
                                    f"keeps what every ref there needs, so it cannot run",
                                    f"make {name} reachable, or `git remote remove {name}` if it is gone for good")
            listed_ns = _git(root, "for-each-ref", "--format=%(objectname) %(refname)", ns)
            for line in listed_ns.stdout.decode("utf-8", "surrogateescape").splitlines():
                sha, _, ref = line.partition(" ")
                out.tips.setdefault(sha.encode(), []).append(f"{name} {ref[len(ns):]}")
                out.refs += 1
        finally:
            drop_team_refs(root, ns)
    return out


def drop_team_refs(root: str, ns: str = TEAM_NS) -> None:
    """Delete the private refs a team read wrote (the objects stay until git's own gc)."""
    listed = _git(root, "for-each-ref", "--format=delete %(refname)", ns)
    if listed.returncode == 0 and listed.stdout.strip():
        _git(root, "update-ref", "--stdin", input=listed.stdout)


__all__ = ["Roots", "Worktree", "gather", "worktrees", "untracked_pointers", "STATE_FILES", "TEAM_NS", "TeamTips",
           "team_tips", "drop_team_refs"]
