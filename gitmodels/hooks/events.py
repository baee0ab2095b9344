"""What post-checkout, post-merge, post-rewrite and pre-push do once git runs them."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Iterable

from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import BadPointer, GitModelsError
from gitmodels.git.repo import ZERO_SHA
from gitmodels.storage.pointer import Pointer
from gitmodels.hooks import MAX_LISTED, HookRefused, HookReport, _merge
from gitmodels.workspace import report as report_mod

if TYPE_CHECKING:
    from gitmodels.repo import Repo

# -- pre-push -----------------------------------------------------------------------------

def pre_push(repo: "Repo", remote_name: str, remote_url: str, lines: Iterable[str]) -> HookReport:
    """Upload the objects of every pointer that the pushed commits introduce; refuse the push if one fails.

    lines: git's `<local ref> <local sha> <remote ref> <remote sha>`. For a
    branch the remote already has, the commits are remote_sha..local_sha; for a
    new branch, those not reachable from refs/remotes/<remote_name>/*.
    """
    report = HookReport()
    if not repo.config.get("hooks", "auto_push"):
        return report
    found = pushed_pointers(repo, remote_name, lines, report)
    if not repo.config.get("imports", "copy_objects"):  # imported models stay on their source's remote
        found = {k: v for k, v in found.items() if "import" not in v[0].meta}
    if not found:
        return report
    try:
        model_remote, _ = repo.config.remote(None)
        result = repo.push(pointers=[ptr for ptr, _ in found.values()])
    except GitModelsError as exc:
        hint = exc.hint or ""
        raise HookRefused(f"pre-push: cannot upload the models of the pushed commits: {exc.message}; "
                          "the push was stopped",
                          _push_hint(hint)) from None
    if result.failed:
        owners = _owners(repo, found)
        details = []
        for oid, why in result.failed:
            model = owners.get(oid, "")
            details.append(f"{model}: {why}" if model else str(why))
        hint = getattr(result.failed[0][1], "hint", "") or ""
        raise HookRefused(f"pre-push: {len(result.failed)} model object(s) could not be uploaded to model remote "
                          f"{model_remote!r} (first: {details[0]}); the push was stopped",
                          _push_hint(hint), details[1:MAX_LISTED])
    if result.moved:
        from gitmodels.progress import human_bytes

        report.info.append(f"uploaded {result.moved} object(s), {human_bytes(result.bytes_total)}, "
                           f"to model remote {model_remote!r}")
    return report


def _push_hint(extra: str) -> str:
    parts = [extra] if extra else []
    parts.append("fix it and push again (the upload resumes); to push without the models: GITMODELS_SKIP=1 git push")
    return "; ".join(parts)


def pushed_pointers(repo: "Repo", remote_name: str, lines: Iterable[str],
                    report: HookReport | None = None) -> dict[tuple[str, str], tuple[Pointer, str]]:
    """(oid, kind) -> (Pointer, where) for every pointer version the pushed commits introduce."""
    out: dict[tuple[str, str], tuple[Pointer, str]] = {}
    seen_blobs: set[str] = set()
    seen_commits: set[bytes] = set()
    tracking: list[str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        _lref, lsha, _rref, rsha = parts[-4:]
        if lsha == ZERO_SHA:  # a deleted ref pushes nothing
            continue
        if rsha != ZERO_SHA and repo.git.has_commit(rsha):
            exclude = [rsha]
        else:
            if tracking is None:
                tracking = repo.git.remote_tracking(remote_name)
            exclude = tracking
        for commit in repo.git.walk([lsha], exclude):
            if commit.id in seen_commits:
                continue
            seen_commits.add(commit.id)
            sha = commit.id.decode()
            for parent in (commit.parents or [None]):
                changes = repo.git.changed_pointers(parent.decode() if parent else None, sha)
                for ppath, (_old, new) in sorted(changes.items()):
                    if new is None or new in seen_blobs:
                        continue
                    seen_blobs.add(new)
                    try:
                        ptr = pointer_mod.parse(repo.git.blob(new), ppath)
                    except BadPointer as exc:
                        if report is not None:
                            report.warnings.append(f"commit {sha[:10]}: {exc.message}; nothing uploaded for it")
                        continue
                    out.setdefault((ptr.oid, ptr.kind), (ptr, pointer_mod.artifact_path_for(ppath)))
    return out


def _owners(repo: "Repo", found: dict[tuple[str, str], tuple[Pointer, str]]) -> dict[str, str]:
    """oid -> model path, for the objects a push moves (a directory's files included)."""
    from gitmodels.storage.manifest import manifest_entries

    owners: dict[str, str] = {}
    for (oid, _kind), (ptr, art) in found.items():
        owners.setdefault(oid, art)
        if ptr.is_dir and repo.store.has(oid):
            try:
                for entry in manifest_entries(repo.store, oid):
                    owners.setdefault(entry.oid, f"{art}/{entry.path}")
            except GitModelsError:
                pass
    return owners


# -- post-checkout / post-merge / post-rewrite --------------------------------------------

def post_checkout(repo: "Repo", old: str, new: str, branch_flag: str) -> HookReport:
    """Branch checkout (flag 1; a clone has old = null sha): restore the models whose pointers changed.
    File checkout (flag 0): make every model match the pointer in the working tree."""
    if branch_flag != "1":
        return sync_workspace(repo)
    if not new or new == ZERO_SHA:
        return HookReport()
    return _apply_changes(repo, repo.git.changed_pointers(None if old in ("", ZERO_SHA) else old, new))


def post_merge(repo: "Repo", squash: str = "0") -> HookReport:
    """After a merge (pull included): restore the models whose pointers differ between ORIG_HEAD and HEAD."""
    head = repo.git.head()
    orig = repo.git.rev_parse("ORIG_HEAD")
    if squash == "1" or head is None or orig is None:
        return sync_workspace(repo)  # a squash merge moves no commit: compare the working tree
    return _apply_changes(repo, repo.git.changed_pointers(orig, head))


def post_rewrite(repo: "Repo", kind: str, lines: Iterable[str] = ()) -> HookReport:
    """After a rebase: make every model match HEAD's pointers; drop those HEAD no longer has.
    An amend changes no file in the working tree, so it has nothing to do."""
    if kind == "amend":
        return HookReport()
    report = HookReport()
    head = repo.git.head()
    orig = repo.git.rev_parse("ORIG_HEAD")
    if head is not None and orig is not None:
        gone = {p: c for p, c in repo.git.changed_pointers(orig, head).items() if c[1] is None}
        _remove_dropped(repo, gone, report)
    _merge(report, sync_workspace(repo))
    return report


def sync_workspace(repo: "Repo", missing_only: bool = False) -> HookReport:
    """Make the artifacts match the pointers in the working tree (the stat cache makes this cheap).

    missing_only: restore only artifacts absent from the working tree (`gitmodels install` in a clone).
    """
    report = HookReport()
    errors: list = []
    pointers = repo.pointers(None, None, errors)
    for ppath, exc in errors:
        report.warnings.append(report_mod.bad_pointer_line(ppath, exc))
    if missing_only:
        pointers = {a: p for a, p in pointers.items() if not os.path.lexists(repo.abspath(a))}
    if pointers:
        _restore(repo, pointers, report)
    return report


def _apply_changes(repo: "Repo", changes: dict[str, tuple[str | None, str | None]]) -> HookReport:
    """Restore the artifacts of changed or added pointers and remove those of deleted ones."""
    report = HookReport()
    if not changes:
        return report
    _remove_dropped(repo, {p: c for p, c in changes.items() if c[1] is None}, report)
    wanted: dict[str, Pointer] = {}
    for ppath, (_old, new) in sorted(changes.items()):
        if new is None:
            continue
        art = pointer_mod.artifact_path_for(ppath)
        try:
            # The pointer as checked out (it is the commit's, unless `checkout -m` merged local changes).
            wanted[art] = pointer_mod.read(repo.abspath(ppath), ppath)
        except FileNotFoundError:
            continue  # not in this working tree (sparse checkout)
        except BadPointer as exc:
            report.warnings.append(report_mod.bad_pointer_line(ppath, exc))
    if wanted:
        _restore(repo, wanted, report)
    return report


def _restore(repo: "Repo", pointers: dict[str, Pointer], report: HookReport) -> None:
    """Check the models out without ever failing git: each one's outcome becomes a line of the report."""
    fetch = bool(repo.config.get("hooks", "fetch_on_checkout"))
    result = repo.checkout(rev_pointers=pointers, strict=False, fetch=fetch)
    line = report_mod.restored_line(result)
    if line:
        report.info.append(line)
    report.warnings.extend(report_mod.problem_lines(result, MAX_LISTED))


def _remove_dropped(repo: "Repo", gone: dict[str, tuple[str | None, str | None]], report: HookReport) -> None:
    """Delete the artifacts of pointers the new commit no longer has, when their bytes are safe in the cache.

    An artifact that differs from its old pointer and is not in the cache is
    the user's unsaved work: it stays, with a warning.
    """
    if not gone:
        return
    tracked = None
    with repo.lock():
        for ppath, (old, _new) in sorted(gone.items()):
            art = pointer_mod.artifact_path_for(ppath)
            absolute = repo.abspath(art)
            if not old or not os.path.lexists(absolute) or os.path.lexists(repo.abspath(ppath)):
                continue
            if tracked is None:
                tracked = repo.git.index_entries()
            if art in tracked or any(p.startswith(art + "/") for p in tracked):
                continue  # git tracks that path itself now: it is not ours to remove
            try:
                old_ptr = pointer_mod.parse(repo.git.blob(old), ppath)
                scanned = repo.workspace.scan(absolute)
            except (GitModelsError, OSError):
                continue
            if scanned.oid != old_ptr.oid or not repo.workspace.recoverable(scanned):
                report.warnings.append(f"{art} is no longer tracked in this commit but has changes that are not in "
                                       f"the model store; left in place (keep it: `gitmodels add {art}`)")
                continue
            if os.path.isdir(absolute) and not os.path.islink(absolute):
                shutil.rmtree(absolute)
            else:
                os.unlink(absolute)
            report.info.append(f"removed {art} (not in this commit; its bytes stay in the cache)")
        repo.state.flush()
