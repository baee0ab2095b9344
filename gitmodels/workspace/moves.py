"""Pointers that move or go away: the model bytes and their ignore rule follow.

`git mv` and `git rm` act on the pointer only; the artifact beside it is ignored by git, so git leaves it
where it was. Three places catch up:

- `move` / `remove` (`gitmodels mv` / `gitmodels rm`) do both sides in one step;
- the pre-commit hook pairs a staged pointer removal with a staged addition of the same pointer (what
  `git mv` stages) and moves the artifact after it (`follow_staged`);
- `gitmodels checkout` gives a pointer whose artifact is missing the bytes an orphan holds when they are
  the pointer's (`adopt_orphans`).

An orphan is a file or folder that a gitmodels rule in a tracked .gitignore still ignores while no pointer
in the index names it: the artifact of a pointer git removed. `gitmodels status` lists it and `gitmodels rm
PATH` deletes it. Bytes are deleted only when the cache holds them (or with --force): nothing the user made
is lost by a move.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from gitmodels.errors import GitModelsError, ModelNotFound, PathError, UnsavedChanges, UsageError
from gitmodels.storage import fileio
from gitmodels.storage import pointer as pointer_mod
from gitmodels.storage.hashing import prefixed
from gitmodels.workspace import ignore, synced

if TYPE_CHECKING:
    from gitmodels.repo import Repo
    from gitmodels.storage.pointer import Pointer
    from gitmodels.workspace.restore import Scanned


@dataclasses.dataclass
class MoveResult:
    src: str
    dst: str
    src_pointer: str
    dst_pointer: str
    artifact_moved: bool           # False: the artifact was not in the working tree, only its pointer moved
    staged: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RemoveResult:
    path: str
    pointer_path: str
    oid: str | None             # the bytes that were on disk, when known
    pointer_removed: bool       # False: git had already removed the pointer (an orphan)
    deleted: bool               # False: the artifact was not there, or --keep
    staged: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["oid"] = prefixed(self.oid)
        return out


@dataclasses.dataclass
class FollowReport:
    info: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    changed: list[str] = dataclasses.field(default_factory=list)  # .gitignore files rewritten or removed


# -- orphans ------------------------------------------------------------------------------

def tracked_gitignores(repo: "Repo") -> list[str]:
    """The .gitignore files of the index (the one the running git command uses: GIT_INDEX_FILE)."""
    return repo.git.tracked(".gitignore", ":(glob)**/.gitignore")


def orphans(repo: "Repo", pointer_paths: set[str] | None = None) -> list[str]:
    """Artifacts on disk that a gitmodels rule still ignores but no pointer in the index names."""
    index = set(repo.pointer_paths()) if pointer_paths is None else pointer_paths
    return [art for art in orphan_candidates(repo, index)[1] if os.path.lexists(repo.abspath(art))]


def orphan_candidates(repo: "Repo", pointer_paths: set[str]) -> tuple[list[str], list[str]]:
    """(the index's .gitignore files, the artifacts their gitmodels rules name that no pointer names):
    an orphan is a candidate that exists; status remembers both lists to know when to look again."""
    found = []
    gitignores = tracked_gitignores(repo)
    for gitignore in gitignores:
        try:
            with open(repo.abspath(gitignore), encoding="utf-8", errors="surrogateescape") as f:
                names = ignore.own_rules(f.read())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
        folder = gitignore.rpartition("/")[0]
        for name in names:
            art = f"{folder}/{name}" if folder else name
            if pointer_mod.pointer_path_for(art) not in pointer_paths:
                found.append(art)
    return gitignores, sorted(set(found))


def _scan(repo: "Repo", art: str) -> "Scanned | None":
    absolute = repo.abspath(art)
    try:
        return repo.workspace.quick_scan(absolute) or repo.workspace.scan(absolute)
    except (GitModelsError, OSError):
        return None


def _saved(repo: "Repo", scanned: "Scanned | None") -> bool:
    """Are these bytes stored in the cache, so deleting them from the working tree loses nothing?"""
    return scanned is not None and repo.workspace.recoverable(scanned)


def _delete(repo: "Repo", art: str) -> None:
    absolute = repo.abspath(art)
    if os.path.isdir(absolute) and not os.path.islink(absolute):
        fileio.rmtree(absolute)
    else:
        fileio.remove(absolute)
    repo.state.forget([absolute])


def _rename(repo: "Repo", old: str, new: str, oid: str | None = None) -> None:
    """Move the artifact's bytes; the stat cache keeps knowing them at the new path (a rename keeps the stat)."""
    src, dst = repo.abspath(old), repo.abspath(new)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.rename(src, dst)
    repo.state.forget([src])
    if oid is not None and os.path.isfile(dst) and not os.path.islink(dst):
        repo.state.record(dst, os.lstat(dst), oid)


def _stage(repo: "Repo", changed: list[str]) -> list[str]:
    """Stage rewritten .gitignore files, and the removal of those that went."""
    present = [p for p in changed if os.path.exists(repo.abspath(p))]
    gone = [p for p in changed if p not in present]
    if present:
        repo.git.stage(present)
    if gone:
        repo.git.unstage_removed(gone)
    return changed


def _move_rule(repo: "Repo", old: str | None, new: str) -> list[str]:
    changed = [ignore.ensure_ignored(repo.root, new)]
    if old is not None:
        changed.append(ignore.remove_rule(repo.root, old))
    return [c for c in dict.fromkeys(changed) if c]


# -- gitmodels mv / rm --------------------------------------------------------------------

def move(repo: "Repo", src: str, dst: str) -> MoveResult:
    """Move a tracked model: its bytes, its pointer (`git mv`) and its ignore rule; DST may be a folder."""
    src_art = repo.artifact_relpath(src)
    dst_art = repo.artifact_relpath(dst)
    index = set(repo.pointer_paths())
    src_ptr = pointer_mod.pointer_path_for(src_art)
    if src_ptr not in index:
        raise ModelNotFound(f"{src_art} is not a tracked model", "`gitmodels status` lists the tracked models")
    dst_abs = repo.abspath(dst_art)
    if os.path.isdir(dst_abs) and pointer_mod.pointer_path_for(dst_art) not in index:
        dst_art = f"{dst_art}/{src_art.rpartition('/')[2]}"   # into the folder, as mv does
        dst_abs = repo.abspath(dst_art)
    ignore.check_name(dst_art)
    dst_ptr = pointer_mod.pointer_path_for(dst_art)
    if dst_art == src_art:
        raise UsageError(f"{src_art} is already there")
    if dst_art.startswith(src_art + "/"):
        raise PathError(f"cannot move {src_art} into itself ({dst_art})")
    if dst_art.split("/")[0] == ".git":
        raise PathError(f"{dst} is inside .git")
    for taken in (dst_art, dst_ptr):
        if os.path.lexists(repo.abspath(taken)) or taken in index or repo.git.is_tracked(taken):
            raise PathError(f"{taken} already exists", "choose another name, or remove it first")
    with repo.lock():
        moved = os.path.lexists(repo.abspath(src_art))
        if moved:
            scanned = repo.workspace.quick_scan(repo.abspath(src_art))
            _rename(repo, src_art, dst_art, scanned.oid if scanned is not None else None)
        else:
            os.makedirs(os.path.dirname(dst_abs), exist_ok=True)
        try:
            repo.git.move(src_ptr, dst_ptr)
        except GitModelsError:
            if moved:
                _rename(repo, dst_art, src_art)
            raise
        staged = _stage(repo, _move_rule(repo, src_art, dst_art))
        repo.state.flush()
    synced.remember(repo)
    return MoveResult(src_art, dst_art, src_ptr, dst_ptr, moved, staged)


def remove(repo: "Repo", path: str, *, keep: bool = False, force: bool = False) -> RemoveResult:
    """Stop tracking a model: remove its pointer (`git rm`) and ignore rule, and delete its bytes.

    The bytes go only when the cache holds them (they stay recoverable from the commits that name them),
    or with force; keep leaves them in the working tree, no longer ignored. Also takes an orphan, whose
    pointer git already removed.
    """
    art = repo.artifact_relpath(path)
    ppath = pointer_mod.pointer_path_for(art)
    index = set(repo.pointer_paths())
    tracked = ppath in index
    absolute = repo.abspath(art)
    if not tracked and art not in orphans(repo, index):
        raise ModelNotFound(f"{art} is not a tracked model", "`gitmodels status` lists the tracked models "
                            "and the ones whose pointer was removed")
    with repo.lock():
        present = os.path.lexists(absolute)
        scanned = _scan(repo, art) if present else None
        if present and not keep and not force and not _saved(repo, scanned):
            raise UnsavedChanges(f"{art} has changes that are not saved in the model store; not deleting it",
                                 f"keep the file and stop tracking it: `gitmodels rm --keep {art}`; "
                                 f"delete it anyway: `gitmodels rm --force {art}`")
        if tracked:
            # A pointer staged but not committed (a fresh `gitmodels add`, a `gitmodels mv`) may go: its model is
            # what was just checked. One with edits the index does not have needs --force, as in `git rm`.
            if not force and repo.git.differs_from_index(ppath):
                raise UsageError(f"{ppath} has changes that are not staged; not removing it",
                                 f"stage them (`git add {ppath}`) or discard them (`git restore {ppath}`), "
                                 f"or pass --force")
            repo.git.remove(ppath)
        deleted = present and not keep
        if deleted:
            _delete(repo, art)
        changed = ignore.remove_rule(repo.root, art)
        staged = _stage(repo, [changed] if changed else [])
        repo.state.flush()
    synced.remember(repo)
    return RemoveResult(art, ppath, scanned.oid if scanned is not None else None, tracked, deleted, staged)


# -- after git mv -------------------------------------------------------------------------

def adopt_orphans(repo: "Repo", missing: dict[str, "Pointer"]) -> list[tuple[str, str]]:
    """Give each pointer whose artifact is missing the bytes of an orphan that are exactly its own
    (what `git mv` of the pointer left behind); returns the (old, new) paths moved."""
    if not missing:
        return []
    by_oid: dict[str, str] = {}
    for art in orphans(repo):
        scanned = _scan(repo, art)
        if scanned is not None:
            by_oid.setdefault(scanned.oid, art)
    moved = []
    changed: list[str] = []
    for art, ptr in sorted(missing.items()):
        old = by_oid.pop(ptr.oid, None)
        if old is None or os.path.lexists(repo.abspath(art)):
            continue
        _rename(repo, old, art, ptr.oid)
        changed.extend(_move_rule(repo, old, art))
        moved.append((old, art))
    _stage(repo, list(dict.fromkeys(changed)))
    return moved


def ensure_rules(repo: "Repo", arts: list[str]) -> list[str]:
    """Make sure each restored artifact is ignored (a pointer renamed where these hooks did not run keeps
    the old name's rule); stages and returns the .gitignore files written."""
    changed = [gi for gi in (ignore.ensure_ignored(repo.root, art) for art in arts) if gi]
    return _stage(repo, list(dict.fromkeys(changed)))


def follow_staged(repo: "Repo", added: list[tuple[str, str]]) -> FollowReport:
    """pre-commit: a pointer staged as removed and one staged as added with the same model is a move
    (`git mv`); its bytes and ignore rule follow. A removal alone leaves an orphan, said once here."""
    report = FollowReport()
    removed = repo.git.staged_removals("*" + pointer_mod.SUFFIX)
    if not removed:
        return report
    by_blob: dict[str, str] = {}
    by_oid: dict[str, str] = {}
    for ppath, sha in removed.items():
        by_blob.setdefault(sha, ppath)
        try:
            by_oid.setdefault(pointer_mod.parse(repo.git.blob(sha), ppath).oid, ppath)
        except GitModelsError:
            pass
    paired: set[str] = set()
    for sha, new_ppath in added:
        try:
            ptr = pointer_mod.parse(repo.git.blob(sha), new_ppath)
        except GitModelsError:
            continue  # the staged-pointer check reports it
        old_ppath = by_blob.get(sha) or by_oid.get(ptr.oid)
        if old_ppath is None or old_ppath in paired:
            continue
        paired.add(old_ppath)
        _follow_one(repo, pointer_mod.artifact_path_for(old_ppath), pointer_mod.artifact_path_for(new_ppath),
                    ptr, report)
    for ppath in sorted(set(removed) - paired):
        art = pointer_mod.artifact_path_for(ppath)
        if os.path.lexists(repo.abspath(art)):
            report.info.append(f"{art} is no longer tracked (its pointer is removed) and stays on disk, ignored: "
                               f"`gitmodels rm {art}` deletes it")
    changed = list(dict.fromkeys(report.changed))
    if changed and _partial_commit():
        # `git commit PATH...` commits a temporary index and then writes the real one: a file staged into
        # the temporary one would be committed but left out of the real one, which would then undo it.
        report.info.append(f"the ignore rules moved in {', '.join(changed)}: commit them (`git add` them first)")
    else:
        _stage(repo, changed)
    report.changed = changed
    if report.info or report.warnings:
        synced.remember(repo)  # the working tree matches the index being committed: later rewrites compare with it
    return report


def follow_renames(repo: "Repo", pairs: list[tuple[str, str, str]]) -> FollowReport:
    """post-index-change: pointers the index renamed (old path, new path, blob) since the working tree
    last matched it; bytes and ignore rule follow as at a commit. What changes in a tracked .gitignore is
    left for the user to commit (the index is git's, in the middle of its command)."""
    report = FollowReport()
    for old_ppath, new_ppath, blob in pairs:
        try:
            ptr = pointer_mod.parse(repo.git.blob(blob), new_ppath)
        except GitModelsError:
            continue
        _follow_one(repo, pointer_mod.artifact_path_for(old_ppath), pointer_mod.artifact_path_for(new_ppath),
                    ptr, report)
    report.changed = [gi for gi in dict.fromkeys(report.changed) if repo.git.differs_from_index(gi)]
    if report.changed:
        report.info.append(f"the ignore rules moved in {', '.join(report.changed)}: commit them "
                           f"(`git add` them first)")
    return report


def _partial_commit() -> bool:
    """Is this pre-commit running for `git commit PATH...` (git's temporary index `next-index-<pid>.lock`)?"""
    return os.path.basename(os.environ.get("GIT_INDEX_FILE", "")).startswith("next-index-")


def _follow_one(repo: "Repo", old: str, new: str, ptr: "Pointer", report: FollowReport) -> None:
    new_abs = repo.abspath(new)
    if os.path.lexists(new_abs) or not os.path.lexists(repo.abspath(old)):
        if not os.path.lexists(new_abs):
            _restore_from_cache(repo, new, ptr, report)
        return
    scanned = _scan(repo, old)
    if scanned is not None and scanned.oid == ptr.oid:
        _rename(repo, old, new, ptr.oid)
        report.changed.extend(_move_rule(repo, old, new))
        report.info.append(f"moved {old} to {new}, with its pointer")
        return
    if not _restore_from_cache(repo, new, ptr, report):
        return
    report.changed.extend(_move_rule(repo, None, new))
    if _saved(repo, scanned):
        _delete(repo, old)
        report.changed.append(ignore.remove_rule(repo.root, old) or "")
        report.info.append(f"moved {old} to {new}, with its pointer (the older bytes at {old} are in the cache)")
    else:
        report.warnings.append(f"kept {old}: its bytes changed since its pointer, which moved to {new}, and are "
                               f"stored nowhere else; `gitmodels add {old}` to track them, or delete it")
    report.changed = [c for c in report.changed if c]


def _restore_from_cache(repo: "Repo", art: str, ptr: "Pointer", report: FollowReport) -> bool:
    if not repo.in_cache(ptr):
        report.warnings.append(f"{art}: its model sha256:{ptr.oid[:12]} is not in the local cache: "
                               f"`gitmodels checkout {art}` fetches it")
        return False
    repo.workspace.restore(repo.abspath(art), ptr.oid, ptr.kind, link=repo.config.get("core", "link"))
    return True
