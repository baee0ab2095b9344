"""What the working tree last matched: the record the post-index-change script compares the index with.

The file `<git dir>/gitmodels/synced` (per worktree): its first line is the
hash the hook script compares (`git hash-object` of `git ls-files -s -t --
'*.gitmodel'`), the second the pointers as JSON. Writing a pointer (`gitmodels
add`) or an artifact (`gitmodels checkout`) removes it, so the next command
that rewrites the working tree compares every model with its pointer once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitmodels.repo import Repo

RECORD = os.path.join("gitmodels", "synced")
PATTERN = "*.gitmodel"


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
    listing = repo.git.index_listing(PATTERN)
    signature = hashlib.sha1(b"blob %d\0" % len(listing) + listing).hexdigest()
    in_tree: dict[str, str] = {}
    outside: list[str] = []
    raw = repo.git.index_listing(PATTERN, nul=True)
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
