"""Keep artifacts out of git: one anchored rule per artifact in the .gitignore beside it.

A rule is `/` + the file name with every character git's ignore syntax gives a
meaning to escaped by a backslash: `\\`, the wildcards `*` `?` `[` (and `]`),
`!` and `#` (special at the start of a line), and spaces (trailing ones are
stripped unless escaped). A line ends at a newline and loses a trailing
carriage return, so a name with a control character cannot be written as a
rule at all: `check_name` refuses it before anything is tracked.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

from gitmodels.storage import fileio
from gitmodels.errors import PathError

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}
HEADER = "# gitmodels: model bytes live in the model store; their pointers (*.gitmodel) are committed"


def rule_for(name: str) -> str:
    return "/" + _SPECIAL.sub(r"\\\1", name)


def rule_name(line: str) -> str | None:
    """The one file name an anchored rule ignores exactly (`/name`, `/name/`), read as git reads it; else None.

    Comments, negations, rules with a wildcard or with a folder part name no single file.
    """
    if not line.startswith("/"):
        return None
    end = len(line)
    while end > 1 and line[end - 1] == " " and not _escaped(line, end - 1):
        end -= 1  # git drops trailing spaces that are not escaped
    text = line[1:end]
    if text.endswith("/") and not _escaped(text, len(text) - 1):
        text = text[:-1]
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 == len(text):
                return None  # a trailing backslash matches nothing
            out.append(text[i + 1])
            i += 2
            continue
        if c in "*?[/":
            return None
        out.append(c)
        i += 1
    return "".join(out) or None


def _escaped(text: str, i: int) -> bool:
    """Is text[i] preceded by an odd number of backslashes?"""
    n = 0
    while i - n - 1 >= 0 and text[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def check_name(path: str) -> None:
    """Refuse a path gitmodels cannot represent safely: in a .gitignore rule, a pointer name, a hook's input."""
    found = _CONTROL.search(path)
    if found:
        char = found.group()
        what = _CONTROL_NAMES.get(char, f"the control character {char!r}")
        raise PathError(f"{path!r} cannot be tracked: its name contains {what}",
                        "rename it without control characters; git's ignore rules cannot name it safely")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise PathError(f"{path!r} cannot be tracked: its name is not valid UTF-8",
                        "rename it with a UTF-8 name; its .gitignore rule could not be written") from None


def ensure_ignored(worktree: str, relpath: str) -> str | None:
    """Add the artifact's rule to the .gitignore in its folder; returns that .gitignore's relpath if changed."""
    changed = ensure_ignored_many(worktree, [relpath])
    return changed[0] if changed else None


def ensure_ignored_many(worktree: str, relpaths: Iterable[str]) -> list[str]:
    """`ensure_ignored` for many artifacts: each folder's .gitignore is read and written once (adding
    thousands of models costs what their rules cost, not the square of it); the relpaths changed."""
    by_folder: dict[str, list[str]] = {}
    for relpath in relpaths:
        folder, name = os.path.split(relpath)
        by_folder.setdefault(folder, []).append(name)
    changed = []
    for folder, names in by_folder.items():
        gitignore_rel = os.path.join(folder, ".gitignore") if folder else ".gitignore"
        gitignore = os.path.join(worktree, gitignore_rel)
        try:
            with open(gitignore, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]  # as git splits them
        present = set(lines)
        covered = {n for n in (rule_name(line) for line in lines) if n is not None}
        missing = []
        for name in dict.fromkeys(names):
            rule = rule_for(name)
            if rule not in present and rule + "/" not in present and name not in covered:
                missing.append(rule)
        if not missing:
            continue
        if text and not text.endswith("\n"):
            text += "\n"
        if HEADER not in present:
            text += ("\n" if text else "") + HEADER + "\n"
        text += "".join(rule + "\n" for rule in missing)
        fileio.write_bytes_atomic(gitignore, text.encode("utf-8", "surrogateescape"), fsync=False)
        changed.append(gitignore_rel.replace(os.sep, "/"))
    return changed


def own_rules(text: str) -> list[str]:
    """The file names of the rules gitmodels wrote in a .gitignore: the one-file rules under its header."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if HEADER not in lines:
        return []
    names = (rule_name(line) for line in lines[lines.index(HEADER) + 1:])
    return [name for name in names if name]


def remove_rule(worktree: str, relpath: str) -> str | None:
    """Take the artifact's rule out of the .gitignore beside it (the file goes when only our header is left);
    returns that .gitignore's relpath if changed. Rules the user wrote another way are left alone."""
    folder, name = os.path.split(relpath)
    gitignore_rel = os.path.join(folder, ".gitignore") if folder else ".gitignore"
    gitignore = os.path.join(worktree, gitignore_rel)
    try:
        with open(gitignore, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    rule = rule_for(name)
    lines = text.split("\n")
    kept = [line for line in lines if (line[:-1] if line.endswith("\r") else line) not in (rule, rule + "/")]
    if len(kept) == len(lines):
        return None
    if all(not line.strip() or line.rstrip("\r") == HEADER for line in kept):
        os.unlink(gitignore)
    else:
        fileio.write_bytes_atomic(gitignore, "\n".join(kept).encode("utf-8", "surrogateescape"), fsync=False)
    return gitignore_rel.replace(os.sep, "/")
