"""Every clone follows checkouts, or says loudly that it does not (issue 14, item 3).

- `gitmodels install --global`: a plain `git clone` gets the hooks and the models, `uninstall --global` undoes it;
- a clone without hooks: `status` tells stale bytes (gitmodels wrote them) from the user's changes;
- every command warns, in one line, when the hooks of a clone with models are missing or out of date.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from gitmodels.hooks import install as hooks
from tests.gitutil import World, commit_all, git, gitmodels, model_bytes
from tests.seeded import seeded_bytes

V1, V2 = model_bytes("v1"), model_bytes("v2")
DIR_V1 = {"config.json": b'{"layers": 2}', "weights/part-0.bin": model_bytes("d0")}
DIR_V2 = {"config.json": b'{"layers": 3}', "weights/part-0.bin": model_bytes("d0"),
          "weights/part-1.bin": model_bytes("d1")}
INSTALL_HINT = "run `gitmodels install`"


def tree_of(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def states(repo: Path) -> dict[str, str]:
    return {s["path"]: s["state"] for s in json.loads(gitmodels(repo, "status", "--json").stdout)["models"]}


@pytest.fixture
def alice(world: World) -> Path:
    """main: model.bin v1 and enc/ v1; exp: both v2. Pushed, models uploaded by alice's hooks."""
    path = world.first_clone("alice")
    world.add_model(path, "model.bin", V1)
    world.add_model(path, "enc", DIR_V1)
    commit_all(path, "models v1")
    git(path, "switch", "-q", "-c", "exp")
    world.add_model(path, "model.bin", V2)
    world.add_model(path, "enc", DIR_V2)
    commit_all(path, "models v2")
    git(path, "switch", "-q", "main")
    git(path, "push", "-q", "origin", "main", "exp")
    return path


def user_hook(path: Path, log: Path) -> str:
    text = f'#!/bin/sh\necho "user $*" >> "{log}"\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return text


def folder_snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(folder.iterdir())}


# -- install --global ---------------------------------------------------------------------

def test_install_global_then_a_plain_clone_has_the_models_and_follows_switch(world, alice, isolated_git):
    gitconfig = Path(isolated_git["GIT_CONFIG_GLOBAL"])
    before = gitconfig.read_text()
    out = gitmodels(world.root, "install", "--global")
    assert "init.templateDir" in out.stdout
    again = gitmodels(world.root, "install", "--global")
    assert "nothing to change" in again.stdout
    template = Path(hooks.own_template_dir())
    assert git(world.root, "config", "--global", "init.templateDir").stdout.strip() == str(template)

    out = git(world.root, "clone", str(world.server), str(world.root / "carol"))  # no gitmodels command
    carol = world.root / "carol"
    assert "restored 2 model(s)" in out.stderr
    assert (carol / "model.bin").read_bytes() == V1 and tree_of(carol / "enc") == DIR_V1
    git(carol, "switch", "-q", "exp")
    assert (carol / "model.bin").read_bytes() == V2 and tree_of(carol / "enc") == DIR_V2
    git(carol, "switch", "-q", "main")
    assert (carol / "model.bin").read_bytes() == V1
    assert INSTALL_HINT not in gitmodels(carol, "status").stderr

    out = gitmodels(world.root, "uninstall", "--global")
    assert "removed init.templateDir" in out.stdout
    assert gitconfig.read_text() == before
    assert not template.exists()
    assert "no gitmodels hooks" in gitmodels(world.root, "uninstall", "--global").stdout
    git(world.root, "clone", "-q", str(world.server), str(world.root / "dave"))
    assert not (world.root / "dave" / "model.bin").exists()


def test_install_global_chains_into_the_users_template_dir(world, alice, tmp_path):
    template = tmp_path / "my-template"
    log = tmp_path / "user.log"
    mine = user_hook(template / "hooks" / "post-checkout", log)
    git(tmp_path, "config", "--global", "init.templateDir", str(template))
    gitconfig_before = git(tmp_path, "config", "--global", "--list").stdout

    gitmodels(tmp_path, "install", "--global")
    folder = template / "hooks"
    assert (folder / f"post-checkout{hooks.CHAINED_SUFFIX}").read_text() == mine
    snapshot = folder_snapshot(folder)
    assert "nothing to change" in gitmodels(tmp_path, "install", "--global").stdout
    assert folder_snapshot(folder) == snapshot  # no double install
    assert git(tmp_path, "config", "--global", "--list").stdout == gitconfig_before

    out = git(tmp_path, "clone", str(world.server), str(tmp_path / "carol"))
    assert "restored 2 model(s)" in out.stderr
    assert (tmp_path / "carol" / "model.bin").read_bytes() == V1
    assert log.read_text().splitlines()[-1].endswith(" 1")  # the user's hook ran too, with git's arguments

    gitmodels(tmp_path, "uninstall", "--global")
    assert folder_snapshot(folder) == {"post-checkout": (mine.encode(), 0o755)}
    assert git(tmp_path, "config", "--global", "--list").stdout == gitconfig_before
    lines = len(log.read_text().splitlines())
    git(tmp_path, "clone", "-q", str(world.server), str(tmp_path / "dave"))
    assert len(log.read_text().splitlines()) == lines + 1  # still runs, alone
    assert not (tmp_path / "dave" / "model.bin").exists()


def test_install_global_uses_a_global_core_hooks_path(world, alice, tmp_path):
    shared = tmp_path / "global-hooks"
    log = tmp_path / "user.log"
    mine = user_hook(shared / "post-checkout", log)
    git(tmp_path, "config", "--global", "core.hooksPath", str(shared))
    gitconfig_before = git(tmp_path, "config", "--global", "--list").stdout

    gitmodels(tmp_path, "install", "--global")
    assert git(tmp_path, "config", "--global", "--list").stdout == gitconfig_before  # no templateDir added
    assert not Path(hooks.own_template_dir()).exists()
    out = git(tmp_path, "clone", str(world.server), str(tmp_path / "carol"))
    assert "restored 2 model(s)" in out.stderr and log.exists()
    git(tmp_path / "carol", "switch", "-q", "exp")
    assert (tmp_path / "carol" / "model.bin").read_bytes() == V2

    gitmodels(tmp_path, "uninstall", "--global")
    assert folder_snapshot(shared) == {"post-checkout": (mine.encode(), 0o755)}


def test_install_global_refuses_a_relative_global_hooks_path(tmp_path):
    git(tmp_path, "config", "--global", "core.hooksPath", ".githooks")
    out = gitmodels(tmp_path, "install", "--global", check=False)
    assert out.returncode == 2 and "relative" in out.stderr and "hint:" in out.stderr


def test_global_hooks_never_start_python_in_a_repository_without_gitmodels(world, tmp_path):
    """The template's hooks land in every repository: where there is no pointer they exit in shell."""
    log = tmp_path / "python-started.log"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    fake.chmod(0o755)
    hooks.install_global(python=str(fake))

    plain = tmp_path / "plain"
    git(tmp_path, "init", "-q", str(plain))
    assert (plain / ".git" / "hooks" / "post-checkout").exists()
    (plain / "weights.bin").write_bytes(seeded_bytes("plain", 11_000_000))  # over the pre-commit size limit
    commit_all(plain, "a big file, no gitmodels here")
    git(plain, "switch", "-q", "-c", "topic")
    (plain / "a.txt").write_text("a\n")
    commit_all(plain, "a")
    git(plain, "switch", "-q", "main")
    git(plain, "merge", "-q", "--squash", "topic")
    commit_all(plain, "squashed")
    git(plain, "rebase", "-q", "topic")
    git(tmp_path, "clone", "-q", str(plain), str(tmp_path / "plain-clone"))
    assert not log.exists()


# -- stale, not modified ------------------------------------------------------------------

def test_clone_without_hooks_switch_says_stale_and_checkout_fixes_it(world, alice):
    bob = world.clone("bob", install=False)
    gitmodels(bob, "pull")
    assert (bob / "model.bin").read_bytes() == V1
    git(bob, "switch", "-q", "exp")  # no hook: main's models stay
    assert (bob / "model.bin").read_bytes() == V1

    out = gitmodels(bob, "status")
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert "stale (run `gitmodels checkout`)" in rows["model.bin"]
    assert "stale (run `gitmodels checkout`)" in rows["enc"]
    assert "gitmodels add" not in out.output and "--force" not in out.output
    assert states(bob) == {"enc": "stale", "model.bin": "stale"}

    out = gitmodels(bob, "checkout")
    assert "2 restored" in out.stdout
    assert (bob / "model.bin").read_bytes() == V2 and tree_of(bob / "enc") == DIR_V2
    assert states(bob) == {"enc": "up-to-date", "model.bin": "up-to-date"}


def test_bytes_gitmodels_added_then_left_behind_by_git_are_stale(world, alice):
    """`gitmodels add` v3, then git moves the pointer back without a hook: v3 is saved, so it is stale."""
    bob = world.clone("bob", install=False)
    gitmodels(bob, "pull")
    world.add_model(bob, "model.bin", model_bytes("v3"))
    git(bob, "checkout", "-q", "HEAD", "--", "model.bin.gitmodel")  # git alone: no hook here
    assert states(bob)["model.bin"] == "stale"
    gitmodels(bob, "checkout", "model.bin")
    assert (bob / "model.bin").read_bytes() == V1


def test_a_user_edit_is_still_modified_and_checkout_keeps_it(world, alice):
    bob = world.clone("bob", install=False)
    gitmodels(bob, "pull")
    git(bob, "switch", "-q", "exp")
    mine = model_bytes("my own training run")
    (bob / "model.bin").write_bytes(mine)  # the user's bytes; enc/ is left as main's (stale)

    out = gitmodels(bob, "status")
    assert states(bob) == {"enc": "stale", "model.bin": "modified"}
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert "gitmodels add" in rows["model.bin"] and "gitmodels add" not in rows["enc"]
    out = gitmodels(bob, "checkout", check=False)
    assert out.returncode != 0 and "not overwriting it" in out.stderr and "`gitmodels add model.bin`" in out.stderr
    assert (bob / "model.bin").read_bytes() == mine
    assert tree_of(bob / "enc") == DIR_V2  # the stale one was restored
    (bob / "enc" / "config.json").write_bytes(b'{"layers": 99}')
    assert states(bob) == {"enc": "modified", "model.bin": "modified"}
    gitmodels(bob, "checkout", "--force")
    assert (bob / "model.bin").read_bytes() == V2 and tree_of(bob / "enc") == DIR_V2


# -- the warning --------------------------------------------------------------------------

def install_warnings(out) -> list[str]:
    return [line for line in out.stderr.splitlines() if INSTALL_HINT in line]


def test_every_command_warns_once_when_the_hooks_are_missing(world, alice):
    bob = world.clone("bob", install=False)
    for args in (["pull"], ["status"], ["ls"], ["checkout"], ["log", "model.bin"]):
        warned = install_warnings(gitmodels(bob, *args))
        assert len(warned) == 1, args
        assert warned[0].startswith("gitmodels: warning: the gitmodels git hooks are not installed")
    assert install_warnings(gitmodels(bob, "status", extra_env={"GITMODELS_SKIP": "1"})) == []
    assert install_warnings(gitmodels(bob, "hook", "post-checkout", "HEAD", "HEAD", "1")) == []

    out = gitmodels(bob, "install")
    assert install_warnings(out) == []
    for args in (["status"], ["ls"], ["checkout"]):
        assert install_warnings(gitmodels(bob, *args)) == [], args


def test_no_warning_in_a_repository_without_pointers(tmp_path):
    plain = tmp_path / "plain"
    git(tmp_path, "init", "-q", str(plain))
    (plain / "a.txt").write_text("a\n")
    commit_all(plain, "a")
    out = gitmodels(plain, "status")
    assert install_warnings(out) == [] and "no models tracked" in out.stdout


def test_warns_when_the_hooks_name_a_python_that_is_gone_or_are_out_of_date(world, alice, tmp_path):
    bob = world.clone("bob", install=False)
    from gitmodels.repo import Repo

    with Repo(str(bob)) as repo:
        hooks.install(repo, python=str(tmp_path / "deleted-venv" / "bin" / "python"))
    warned = install_warnings(gitmodels(bob, "status"))
    assert len(warned) == 1 and "names a Python that is gone" in warned[0]

    gitmodels(bob, "install")
    assert install_warnings(gitmodels(bob, "status")) == []
    hook = bob / ".git" / "hooks" / "post-merge"
    hook.write_text(hook.read_text().replace("Never fails the merge", "An older wording"))
    warned = install_warnings(gitmodels(bob, "status"))
    assert len(warned) == 1 and "out of date (post-merge" in warned[0]
    (bob / ".git" / "hooks" / "pre-push").unlink()
    warned = install_warnings(gitmodels(bob, "status"))
    assert len(warned) == 1 and "missing in this clone: pre-push" in warned[0]


def test_warning_follows_core_hooks_path(world, alice, tmp_path):
    """Our scripts in .git/hooks do not count when git looks elsewhere."""
    bob = world.clone("bob", install=True)
    assert install_warnings(gitmodels(bob, "status")) == []
    git(bob, "config", "core.hooksPath", str(tmp_path / "elsewhere"))
    assert len(install_warnings(gitmodels(bob, "status"))) == 1
    gitmodels(bob, "install")
    assert install_warnings(gitmodels(bob, "status")) == []


def test_no_warning_when_a_hook_manager_runs_gitmodels(world, alice):
    """pre-commit's own scripts in .git/hooks, with gitmodels' hooks declared in .pre-commit-config.yaml."""
    bob = world.clone("bob", install=False)
    for name in hooks.HOOK_NAMES:
        script = bob / ".git" / "hooks" / name
        script.write_text(f'#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n'
                          f'exec python -mpre_commit hook-impl --hook-type={name} --hook-dir "$HERE" -- "$@"\n')
        script.chmod(0o755)
    assert len(install_warnings(gitmodels(bob, "status"))) == 1
    (bob / ".pre-commit-config.yaml").write_text(
        "repos:\n  - repo: local\n    hooks:\n      - id: gitmodels-post-checkout\n"
        "        name: gitmodels\n        entry: gitmodels hook post-checkout\n        language: system\n")
    assert install_warnings(gitmodels(bob, "status")) == []


def test_init_no_hooks_is_a_choice_of_this_clone_not_of_its_clones(world, alice):
    """`init --no-hooks` silences the warning where it was run; other clones still warn; install undoes it."""
    bob = world.clone("bob", install=False)
    gitmodels(bob, "init", "--no-hooks")
    assert install_warnings(gitmodels(bob, "status")) == []
    carol = world.clone("carol", install=False)
    assert len(install_warnings(gitmodels(carol, "status"))) == 1
    gitmodels(bob, "install")
    (bob / ".git" / "hooks" / "pre-push").unlink()
    assert len(install_warnings(gitmodels(bob, "status"))) == 1  # installing ended the opt-out
