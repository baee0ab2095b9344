"""Hook managers keep working after `gitmodels install`: the user's own hook still runs, and so does ours.

The files under tests/data/hook_managers/ are the ones the real tools wrote (captured from npm packages,
since the tests run offline): husky 9.1.7 (`npx husky init`: `.husky/_/h`, the per-hook stub
`. "$(dirname "$0")/h"`, `husky.sh`), simple-git-hooks 2.14.0 (`npx simple-git-hooks` with the command
`echo user-hook-ran >> hook.log`) and lefthook 2.2.4 (`npx lefthook install`). lefthook's hook script
starts the lefthook binary, which cannot be installed here: LEFTHOOK_BIN (which that script honours)
names a small stand-in that does what `lefthook run pre-commit` does with a one-command lefthook.yml.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.gitutil import World, commit_all, git, gitmodels, model_bytes

DATA = Path(__file__).parent / "data" / "hook_managers"
V1, V2 = model_bytes("v1"), model_bytes("v2")
HUSKY_HOOKS = ("applypatch-msg", "commit-msg", "post-applypatch", "post-checkout", "post-commit", "post-merge",
               "post-rewrite", "pre-applypatch", "pre-auto-gc", "pre-commit", "pre-merge-commit", "pre-push",
               "pre-rebase", "prepare-commit-msg")


@pytest.fixture
def repo(world: World) -> Path:
    """A clone with model.bin at v1 (tag v1) then v2 committed, and no hooks of ours installed yet."""
    path = world.first_clone("alice")
    gitmodels(path, "uninstall")
    world.add_model(path, "model.bin", V1)
    commit_all(path, "v1")
    git(path, "tag", "v1")
    world.add_model(path, "model.bin", V2)
    commit_all(path, "v2")
    return path


def _executable(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _husky_prepare(repo: Path) -> None:
    """What `husky` (npm's prepare script) writes on every `npm install`: .husky/_ afresh, core.hooksPath."""
    folder = repo / ".husky" / "_"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*")
    (folder / "h").write_bytes((DATA / "husky9-h").read_bytes())
    (folder / "husky.sh").write_bytes((DATA / "husky9-husky.sh").read_bytes())
    for name in HUSKY_HOOKS:
        _executable(folder / name, (DATA / "husky9-stub").read_bytes())
    git(repo, "config", "core.hooksPath", ".husky/_")


def _commit_readme(repo: Path, text: str) -> None:
    (repo / "README").write_text(text)
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", text)


def _assert_ours_run(repo: Path, *paths: str) -> None:
    """post-checkout of gitmodels: the model follows its pointer (a file checkout when `paths` are given)."""
    git(repo, "checkout", "-q", "v1", *paths)
    assert (repo / "model.bin").read_bytes() == V1
    git(repo, "checkout", "-q", "main", *paths)
    assert (repo / "model.bin").read_bytes() == V2


def test_husky_v9_user_hooks_still_run(repo):
    _husky_prepare(repo)
    (repo / ".husky" / "pre-commit").write_text('echo "user pre-commit" >> hook.log\n')  # `npx husky init`'s shape
    (repo / ".husky" / "post-checkout").write_text('echo "user post-checkout $3" >> hook.log\n')
    out = gitmodels(repo, "install")
    assert "pre-commit.pre-gitmodels" in out.output
    _assert_ours_run(repo)
    _commit_readme(repo, "one")
    log = (repo / "hook.log").read_text().splitlines()
    assert log == ["user post-checkout 1", "user post-checkout 1", "user pre-commit"]

    # A failing user hook still stops the commit, with husky's own message.
    (repo / ".husky" / "pre-commit").write_text("exit 3\n")
    (repo / "README").write_text("two")
    git(repo, "add", "README")
    out = git(repo, "commit", "-q", "-m", "two", check=False)
    assert out.returncode != 0 and "husky - pre-commit script failed (code 3)" in out.output


def test_husky_rewriting_its_stubs_is_undone_by_install(repo):
    _husky_prepare(repo)
    (repo / ".husky" / "pre-commit").write_text('echo "user pre-commit" >> hook.log\n')
    gitmodels(repo, "install")
    _husky_prepare(repo)  # `npm install` again: husky puts its stubs over ours
    out = gitmodels(repo, "status")
    assert "hooks missing" in out.stderr or "not installed" in out.stderr
    out = gitmodels(repo, "install")
    assert "left the" not in out.output and "installed the pre-commit hook" in out.output
    _assert_ours_run(repo)
    _commit_readme(repo, "one")
    assert (repo / "hook.log").read_text().splitlines() == ["user pre-commit"]


def test_simple_git_hooks(repo):
    _executable(repo / ".git" / "hooks" / "pre-commit", (DATA / "simple-git-hooks-pre-commit").read_bytes())
    gitmodels(repo, "install")
    _assert_ours_run(repo)
    _commit_readme(repo, "one")
    assert (repo / "hook.log").read_text().splitlines() == ["user-hook-ran"]


def test_lefthook(repo, tmp_path):
    (repo / "lefthook.yml").write_text("pre-commit:\n  commands:\n    mine:\n      run: echo lefthook-ran >> hook.log\n")
    stand_in = tmp_path / "bin" / "lefthook"
    _executable(stand_in, '#!/bin/sh\n# `lefthook run pre-commit` with the lefthook.yml above\n'
                          '[ "$1 $2" = "run pre-commit" ] && echo lefthook-ran >> hook.log\n')
    _executable(repo / ".git" / "hooks" / "pre-commit", (DATA / "lefthook-pre-commit").read_bytes())
    gitmodels(repo, "install")
    _assert_ours_run(repo)
    os.environ["LEFTHOOK_BIN"] = str(stand_in)
    try:
        _commit_readme(repo, "one")
    finally:
        del os.environ["LEFTHOOK_BIN"]
    assert (repo / "hook.log").read_text().splitlines() == ["lefthook-ran"]


def test_committed_core_hooks_path_folder(repo):
    _executable(repo / ".githooks" / "pre-commit", '#!/bin/sh\necho "team hook $0" >> hook.log\n')
    git(repo, "add", ".githooks")
    git(repo, "commit", "-q", "-m", "team hooks")
    git(repo, "config", "core.hooksPath", ".githooks")
    out = gitmodels(repo, "install")
    assert "do not commit them" in out.output
    _assert_ours_run(repo, "--", "model.bin.gitmodel")  # a branch switch would meet our edit of the folder
    _commit_readme(repo, "one")
    # The team's hook runs under its own name, as git would have run it.
    assert (repo / "hook.log").read_text().splitlines() == ["team hook .githooks/pre-commit"]


def test_a_chained_bash_hook_and_a_binary_like_hook_still_run(repo):
    hooks = repo / ".git" / "hooks"
    _executable(hooks / "pre-commit", '#!/usr/bin/env bash\nset -e\n[[ -n "$0" ]] && echo "bash $(basename "$0")" >> hook.log\n')
    _executable(hooks / "post-checkout", f'#!{shutil.which("python3")}\nimport sys\n'
                                         'open("hook.log", "a").write("python " + sys.argv[3] + "\\n")\n')
    gitmodels(repo, "install")
    _assert_ours_run(repo)
    _commit_readme(repo, "one")
    assert (repo / "hook.log").read_text().splitlines() == ["python 1", "python 1", "bash pre-commit"]
