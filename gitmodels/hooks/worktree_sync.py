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

import contextlib
import dataclasses
import hashlib
import json
import os
from typing import TYPE_CHECKING

from gitmodels.hooks import HookReport, _merge

if TYPE_CHECKING:
    from gitmodels.repo import Repo

RECORD = os.path.join("gitmodels", "synced")
_PATTERN = "*.gitmodel"


@dataclasses.dataclass
class IndexPointers:
    """The pointers in the index: those in the working tree, and those a sparse checkout leaves out."""

    signature: str
    in_tree: dict[str, str]         # pointer path -> blob id ('' while conflicted)
    outside: list[str]              # skip-worktree pointers: not in this sparse checkout


def record_path(repo: "Repo") -> str:
    return os.path.join(repo.git.git_dir, RECORD)


def read_index(repo: "Repo") -> IndexPointers:
    """The pointers of the index and the signature the hook script computes from the same listing."""
    listing = repo.git.index_listing(_PATTERN)
    signature = hashlib.sha1(b"blob %d\0" % len(listing) + listing).hexdigest()
    in_tree: dict[str, str] = {}
    outside: list[str] = []
    raw = repo.git.index_listing(_PATTERN, nul=True)
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, _, name = record.partition(b"\t")
        path = name.decode("utf-8", "surrogateescape")
        tag, _mode, blob, stage = head.decode().split()
        if tag == "S":
            outside.append(path)
        elif stage != "0":
            in_tree[path] = ""  # a conflict: the pointer file holds markers until it is resolved
        else:
            in_tree[path] = blob
    return IndexPointers(signature, in_tree, sorted(set(outside)))


def read_record(repo: "Repo") -> dict[str, str] | None:
    """pointer path -> blob id when gitmodels last made the working tree match; None when unknown."""
    try:
        with open(record_path(repo), encoding="utf-8") as f:
            f.readline()
            return {str(k): str(v) for k, v in json.loads(f.readline()).items()}
    except (OSError, ValueError, AttributeError):
        return None


def remember(repo: "Repo", state: IndexPointers | None = None) -> None:
    """Record the index's pointers as the ones the working tree now matches (after a restore)."""
    from gitmodels.storage import fileio

    state = state or read_index(repo)
    path = record_path(repo)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = state.signature + "\n" + json.dumps(state.in_tree, sort_keys=True) + "\n"
    fileio.write_bytes_atomic(path, text.encode("utf-8"), fsync=False)


def forget(repo: "Repo") -> None:
    """A pointer or an artifact changed outside git: the next working-tree rewrite compares every model."""
    with contextlib.suppress(OSError):
        os.unlink(record_path(repo))


def sparse_summary(count: int) -> str:
    return (f"{count} model{'s' if count != 1 else ''} outside the sparse checkout "
            f"{'were' if count != 1 else 'was'} skipped")


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
        _merge(report, events._apply_changes(repo, {**gone, **changes}))
    if state.outside:
        report.info.append(sparse_summary(len(state.outside)))
    remember(repo, state)
    return report


def _dirty_pointers(repo: "Repo") -> list[str]:
    """Pointer files that differ from the index (a `git stash pop` leaves the popped pointer unstaged)."""
    return repo.git.unstaged_files(_PATTERN)
