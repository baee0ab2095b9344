"""The note of the big directories' pointers `gitmodels add` just wrote: the pre-commit script commits
them without starting Python.

The pre-commit check (hooks/commit_policy.py) trusts a staged pointer of a directory of more than
TREE_DEPS_LIMIT files when it is the manifest the directory's last scan recorded (_added_as), and the
add stored its objects first. So when every pointer change a commit stages is one noted here, with the very blob the
add wrote, Python would find nothing to refuse in them; the script checks the rest itself (no merge
under way, nothing else staged that needs a look, no other model written since the last check) and
skips Python, whose start-up is most of such a commit's cost.

`<git dir>/gitmodels/added` (per worktree), one line per pointer: `<git blob id> <manifest oid> <path>`.
A scan that records other bytes for a noted directory drops its line (it changes what _added_as
sees). Paths git would quote in `git diff-index` are never noted: Python checks those.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING

from gitmodels.storage.pointer import artifact_path_for

if TYPE_CHECKING:
    from gitmodels.repo import Repo

NOTE = os.path.join("gitmodels", "added")
_PLAIN = re.compile(r'[\x20-\x7e]+').fullmatch  # printable ASCII: git's diff-index prints it as is...
_QUOTED = ('"', "\\")  # ...but for these


def note_path(git_dir: str) -> str:
    return os.path.join(git_dir, NOTE)


def note(repo: "Repo", ppath: str, oid: str) -> None:
    """Note that `gitmodels add` left the pointer `ppath` (written now, or kept as an earlier add wrote
    it) naming the big directory `oid`."""
    if not _PLAIN(ppath) or any(c in ppath for c in _QUOTED):
        return
    with open(repo.abspath(ppath), "rb") as f:
        data = f.read()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    lines = {path: line for path, line in _read(repo.git.git_dir).items() if path != ppath}
    lines[ppath] = f"{blob} {oid} {ppath}"
    _write(repo.git.git_dir, lines)


def rescanned(repo: "Repo", absolute: str, oid: str) -> None:
    """A scan recorded the manifest `oid` for the directory at `absolute`: a note of other bytes goes."""
    lines = _read(repo.git.git_dir)
    if not lines:
        return
    kept = {path: line for path, line in lines.items()
            if line.split(" ", 2)[1] == oid or repo.abspath(artifact_path_for(path)) != absolute}
    if len(kept) != len(lines):
        _write(repo.git.git_dir, kept)


def _read(git_dir: str) -> dict[str, str]:
    """pointer path -> its line."""
    try:
        with open(note_path(git_dir), encoding="utf-8") as f:
            return {line.split(" ", 2)[2]: line for line in f.read().splitlines() if line.count(" ") >= 2}
    except (OSError, UnicodeDecodeError):
        return {}


def _write(git_dir: str, lines: dict[str, str]) -> None:
    from gitmodels.storage import fileio

    path = note_path(git_dir)
    if not lines:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fileio.write_bytes_atomic(path, "".join(line + "\n" for line in lines.values()).encode(), fsync=False)
