"""Keep artifacts out of git: one anchored rule per artifact in the .gitignore beside it."""

from __future__ import annotations

import os
import re

from . import fileio

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")
HEADER = "# gitmodels: model bytes live in the model store; their pointers (*.gitmodel) are committed"


def rule_for(name: str) -> str:
    return "/" + _SPECIAL.sub(r"\\\1", name)


def ensure_ignored(worktree: str, relpath: str) -> str | None:
    """Add the artifact's rule to the .gitignore in its folder; returns that .gitignore's relpath if changed."""
    folder, name = os.path.split(relpath)
    gitignore_rel = os.path.join(folder, ".gitignore") if folder else ".gitignore"
    gitignore = os.path.join(worktree, gitignore_rel)
    rule = rule_for(name)
    try:
        with open(gitignore, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    lines = text.splitlines()
    if rule in lines or rule + "/" in lines:
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    if HEADER not in lines:
        text += ("\n" if text else "") + HEADER + "\n"
    text += rule + "\n"
    fileio.write_bytes_atomic(gitignore, text.encode("utf-8"), fsync=False)
    return gitignore_rel.replace(os.sep, "/")
