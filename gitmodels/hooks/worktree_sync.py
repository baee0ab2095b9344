"""The catch-all restore: after any git command that rewrote the working tree, the models whose pointers changed.

post-checkout, post-merge and post-rewrite do not run for `git reset --hard`,
`revert`, `cherry-pick`, `stash` / `stash pop`, `merge --abort`, a rebase
that stops at `edit`, or `git sparse-checkout`; git runs post-index-change for
all of them. Its shell script starts Python only when the pointers in the index
(blob ids and skip-worktree flags: `git ls-files -s -t -- '*.gitmodel'`) differ
from those recorded the last time gitmodels made the working tree match them,
or when a pointer file differs from the index. That record is the file
`<git dir>/gitmodels/synced` (per worktree): its first line is the hash the
script compares (`git hash-object` of that listing), the second the pointers as
JSON. Writing a pointer (`gitmodels add`) or an artifact (`gitmodels checkout`)
removes it, so the next command that rewrites the working tree compares every
model with its pointer once. docs/hooks.md explains the choice of hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmodels.hooks import HookReport, _merge
from gitmodels.workspace.report import sparse_summary
from gitmodels.workspace.synced import PATTERN, read_index, read_record, remember

if TYPE_CHECKING:
    from gitmodels.repo import Repo

def post_index_change(repo: "Repo", workdir_flag: str = "1", skipworktree_flag: str = "0") -> HookReport:
    """Restore the models whose pointers changed since the record, by post-checkout's rules, and remove
    those whose pointers left the working tree (deleted, or out of the sparse checkout) when their
    bytes are safe in the cache. Without a record, every model is compared with its pointer."""
    from gitmodels.hooks import events

    report = HookReport()
    state = read_index(repo)
    last = read_record(repo)
    dirty = set(_dirty_pointers(repo))
    if last is None:
        _merge(report, events.sync_workspace(repo))
    else:
        gone = {p: (blob, None) for p, blob in last.items() if p not in state.in_tree and blob}
        changes = {p: (last.get(p), blob or None) for p, blob in state.in_tree.items()
                   if (last.get(p) != blob or p in dirty) and blob}
        renames = _renames(gone, changes)
        if renames:
            from gitmodels.workspace import moves

            followed = moves.follow_renames(repo, renames)
            report.info.extend(followed.info)
            report.warnings.extend(followed.warnings)
            for old, new, _blob in renames:
                gone.pop(old, None)
                changes.pop(new, None)
        _merge(report, events._apply_changes(repo, {**gone, **changes}))
    if state.outside:
        report.info.append(sparse_summary(len(state.outside)))
    remember(repo, state)
    return report


def _renames(gone: dict[str, tuple], added: dict[str, tuple]) -> list[tuple[str, str, str]]:
    """(old, new, blob): a pointer gone from one path and new at another with the same blob is a move."""
    by_blob = {old_blob: p for p, (old_blob, _new) in sorted(gone.items())}
    pairs = []
    for p, (before, blob) in sorted(added.items()):
        if before is None and blob in by_blob:
            pairs.append((by_blob.pop(blob), p, blob))
    return pairs


def _dirty_pointers(repo: "Repo") -> list[str]:
    """Pointer files that differ from the index (a `git stash pop` leaves the popped pointer unstaged)."""
    return repo.git.unstaged_files(PATTERN)
