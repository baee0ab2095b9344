"""Other repositories: the sources of imported models, read without a clone (ls-remote) or through a
private bare mirror (docs/registry.md)."""

from __future__ import annotations

import os
import subprocess

from gitmodels.errors import GitModelsError


def ls_remote(url: str) -> dict[str, str]:
    """ref -> commit of a repository at `url` (annotated tags peeled), read without cloning it."""
    from gitmodels.errors import SourceNotFound

    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GITMODELS_SKIP="1")
    proc = subprocess.run(["git", "ls-remote", "--", url], capture_output=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        why = lines[0] if lines else f"git ls-remote exited {proc.returncode}"
        raise SourceNotFound(f"cannot read the git repository {url}: {why.removeprefix('fatal: ')}")
    refs: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition("\t")
        if name.endswith("^{}"):
            refs[name[:-3]] = sha  # the peeled commit wins over the tag object
        else:
            refs.setdefault(name, sha)
    return refs


def mirror_git(mirror: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """git in a source mirror (a repository with no checkout, docs/registry.md)."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GITMODELS_SKIP="1")
    proc = subprocess.run(["git", "-C", mirror, *args], capture_output=True, env=env)
    if check and proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitModelsError(f"git {args[0]} in {mirror} failed: {lines[-1] if lines else proc.returncode}")
    return proc


def init_mirror(mirror: str) -> None:
    if not os.path.isdir(os.path.join(mirror, ".git")):
        os.makedirs(mirror, exist_ok=True)
        mirror_git(mirror, "init", "-q")


def fetch_into_mirror(mirror: str, url: str, refspecs: list[str], depth: int | None = 1) -> bool:
    """Fetch `refspecs` from `url` into the mirror (`--depth` 1: one commit, not the history); False on failure."""
    args = ["fetch", "-q", "--no-tags", "--no-write-fetch-head"]
    if depth:
        args.append(f"--depth={depth}")
    return mirror_git(mirror, *args, "--", url, *refspecs, check=False).returncode == 0
