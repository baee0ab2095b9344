"""Installing and removing the git hooks: placement, chaining, idempotence, and a missing gitmodels."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitmodels.hooks import install as hooks
from gitmodels.repo import Repo
from tests.gitutil import commit_all, git, gitmodels, model_bytes, rev, sha256_of
from tests.requires import require_module

USER_HOOK = """#!/bin/sh
# a user's own hook
echo "$@" >> "{log}"
cat >> "{log}.stdin"
exit 0
"""


@pytest.fixture
def repo_dir(isolated_git, tmp_path) -> Path:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(path))
    (path / "README").write_text("hello\n")
    commit_all(path, "first")
    return path


def install(path: Path, python: str | None = None) -> list[str]:
    with Repo(str(path)) as repo:
        return hooks.install(repo, python)


def uninstall(path: Path) -> list[str]:
    with Repo(str(path)) as repo:
        return hooks.uninstall(repo)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(folder.iterdir())
            if not p.name.endswith(".sample")}


def test_templates_are_valid_posix_sh_and_marked():
    folder = hooks.templates_dir()
    for name in hooks.HOOK_NAMES:
        text = (folder / name).read_text()
        assert text.startswith("#!/bin/sh\n")
        assert text.splitlines()[1].startswith(hooks.MARKER + name)
        assert "@PYTHON@" in text and "@PACKAGE@" in text
        subprocess.run(["sh", "-n", str(folder / name)], check=True)


def test_render_quotes_the_interpreter_path(tmp_path):
    odd = str(tmp_path / "it's a \"venv\" $HOME" / "bin" / "python")
    script = tmp_path / "post-merge"
    script.write_text(hooks.render("post-merge", odd))
    script.chmod(0o755)
    (tmp_path / "gitmodels.toml").write_text("version = 1\n")  # a repository that uses gitmodels
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([str(script), "1"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0  # a post-* hook never fails git
    assert f"({odd} is not usable" in out.stderr


def test_install_writes_every_hook_and_twice_changes_nothing(repo_dir):
    done = install(repo_dir)
    folder = repo_dir / ".git" / "hooks"
    for name in hooks.HOOK_NAMES:
        path = folder / name
        assert path.stat().st_mode & stat.S_IXUSR
        text = path.read_text()
        assert hooks.MARKER in text
        assert sys.executable in text
        assert "@PYTHON@" not in text
    assert len([d for d in done if d.startswith("installed")]) == len(hooks.HOOK_NAMES)
    before = snapshot(folder)
    assert install(repo_dir) == []
    assert snapshot(folder) == before
    out = gitmodels(repo_dir, "install")
    assert "nothing to change" in out.stdout
    assert snapshot(folder) == before


def test_reinstall_updates_a_changed_interpreter_and_lost_exec_bit(repo_dir):
    install(repo_dir, "/old/venv/bin/python")
    path = repo_dir / ".git" / "hooks" / "post-checkout"
    assert "/old/venv/bin/python" in path.read_text()
    path.chmod(0o644)
    done = install(repo_dir)
    assert any("updated the post-checkout hook" in d for d in done)
    assert sys.executable in path.read_text() and path.stat().st_mode & stat.S_IXUSR
    assert not (repo_dir / ".git" / "hooks" / f"post-checkout{hooks.CHAINED_SUFFIX}").exists()


def test_chains_existing_hooks_and_uninstall_restores_them(repo_dir, tmp_path):
    folder = repo_dir / ".git" / "hooks"
    log = tmp_path / "user-hook.log"
    originals = {}
    for name in ("post-checkout", "pre-push", "pre-commit"):
        text = USER_HOOK.format(log=f"{log}.{name}")
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
        originals[name] = text
    done = install(repo_dir)
    assert any("kept as post-checkout.pre-gitmodels" in d for d in done)
    for name, text in originals.items():
        assert (folder / f"{name}{hooks.CHAINED_SUFFIX}").read_text() == text
        assert hooks.MARKER in (folder / name).read_text()
    before = snapshot(folder)
    assert install(repo_dir) == []  # not chained twice
    assert snapshot(folder) == before

    git(repo_dir, "checkout", "-q", "-b", "topic")
    assert Path(f"{log}.post-checkout").read_text().split()[2] == "1"  # the user's hook got git's arguments
    (repo_dir / "f").write_text("x")
    commit_all(repo_dir, "second")
    assert Path(f"{log}.pre-commit").exists()

    done = uninstall(repo_dir)
    assert any("restored" in d for d in done)
    for name, text in originals.items():
        assert (folder / name).read_text() == text
        assert (folder / name).stat().st_mode & stat.S_IXUSR
        assert not (folder / f"{name}{hooks.CHAINED_SUFFIX}").exists()
    for name in set(hooks.HOOK_NAMES) - set(originals):
        assert not (folder / name).exists()
    assert uninstall(repo_dir) == []


def test_pre_push_stdin_reaches_both_hooks(world, tmp_path):
    alice = world.first_clone()
    folder = alice / ".git" / "hooks"
    log = tmp_path / "pp.log"
    (folder / "pre-push.pre-gitmodels").write_text(USER_HOOK.format(log=log))
    (folder / "pre-push.pre-gitmodels").chmod(0o755)
    world.add_model(alice, "m.bin", model_bytes("m"))
    commit_all(alice, "model")
    git(alice, "push", "-q", "origin", "main")
    tip = rev(alice)
    assert f"refs/heads/main {tip} refs/heads/main" in Path(f"{log}.stdin").read_text()
    assert Path(str(log)).read_text().split()[0] == "origin"
    oid = sha256_of(alice / "m.bin")
    assert (world.models / "objects" / oid[:2] / oid).exists()  # ours got the same lines


def test_failing_user_pre_push_hook_stops_the_push_before_any_upload(world):
    alice = world.first_clone()
    folder = alice / ".git" / "hooks"
    (folder / "pre-push.pre-gitmodels").write_text("#!/bin/sh\necho 'user says no' >&2\nexit 3\n")
    (folder / "pre-push.pre-gitmodels").chmod(0o755)
    world.add_model(alice, "m.bin", model_bytes("m"))
    commit_all(alice, "model")
    out = git(alice, "push", "origin", "main", check=False)
    assert out.returncode != 0 and "user says no" in out.stderr
    assert not list((world.models).glob("objects/*/*"))


def test_core_hooks_path_absolute_and_relative(repo_dir, tmp_path):
    shared = tmp_path / "shared-hooks"
    git(repo_dir, "config", "core.hooksPath", str(shared))
    install(repo_dir)
    assert all((shared / name).exists() for name in hooks.HOOK_NAMES)
    assert not (repo_dir / ".git" / "hooks" / "pre-push").exists()
    assert uninstall(repo_dir) and not (shared / "pre-push").exists()

    git(repo_dir, "config", "core.hooksPath", ".githooks")
    done = install(repo_dir)
    assert all((repo_dir / ".githooks" / name).exists() for name in hooks.HOOK_NAMES)
    assert any("do not commit them" in d for d in done)
    # git runs them from there
    out = git(repo_dir, "commit", "--allow-empty", "-m", "x", extra_env={"GITMODELS_DEBUG": "1"})
    assert out.returncode == 0


def test_linked_worktree_installs_into_the_common_hooks_dir(repo_dir, tmp_path):
    wt = tmp_path / "wt"
    git(repo_dir, "worktree", "add", "-q", str(wt), "-b", "side")
    gitmodels(wt, "install", "--no-checkout")
    assert (repo_dir / ".git" / "hooks" / "post-checkout").exists()
    assert not (wt / ".git").is_dir()
    assert install(repo_dir) == []  # the same hooks, seen from the main worktree


def test_hook_manager_that_moved_ours_aside_is_respected(repo_dir):
    """pre-commit's `install` moves an existing hook to NAME.legacy and calls it: no double install."""
    folder = repo_dir / ".git" / "hooks"
    (folder / "pre-commit").write_text("#!/bin/sh\necho original\n")
    (folder / "pre-commit").chmod(0o755)
    install(repo_dir)
    os.rename(folder / "pre-commit", folder / "pre-commit.legacy")
    manager = '#!/bin/sh\n# the hook manager\n"$(dirname "$0")/pre-commit.legacy" "$@" || exit $?\n'
    (folder / "pre-commit").write_text(manager)
    (folder / "pre-commit").chmod(0o755)
    assert install(repo_dir) == []
    assert (folder / "pre-commit").read_text() == manager
    git(repo_dir, "commit", "--allow-empty", "-q", "-m", "through the manager")  # the whole chain runs
    uninstall(repo_dir)
    assert (folder / "pre-commit").read_text() == manager
    assert (folder / "pre-commit.legacy").read_text() == "#!/bin/sh\necho original\n"
    assert not (folder / f"pre-commit{hooks.CHAINED_SUFFIX}").exists()


def test_foreign_hook_with_a_taken_chain_slot_is_left_alone(repo_dir):
    folder = repo_dir / ".git" / "hooks"
    for name in ("post-merge", f"post-merge{hooks.CHAINED_SUFFIX}"):
        (folder / name).write_text(f"#!/bin/sh\n# {name}\nexit 0\n")  # two different hooks: neither may go
        (folder / name).chmod(0o755)
    done = install(repo_dir)
    assert any("left the post-merge hook alone" in d for d in done)
    assert (folder / "post-merge").read_text() == "#!/bin/sh\n# post-merge\nexit 0\n"


def _path_without_gitmodels(tmp_path: Path) -> str:
    """A PATH with git and the shell tools but no `gitmodels`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    return f"{bin_dir}:/usr/bin:/bin"


def test_missing_gitmodels_warns_on_checkout_and_stops_push_and_commit(world, tmp_path):
    alice = world.first_clone()
    world.add_model(alice, "m.bin", model_bytes("m"))
    commit_all(alice, "model")
    git(alice, "branch", "other", "HEAD~1")
    install(alice, python=str(tmp_path / "gone-venv" / "bin" / "python"))
    env = {"PATH": _path_without_gitmodels(tmp_path)}

    out = git(alice, "checkout", "other", extra_env=env)
    assert out.returncode == 0
    assert "gitmodels is gone" in out.stderr and "gitmodels install" in out.stderr

    git(alice, "checkout", "-q", "main", extra_env=env)
    out = git(alice, "push", "origin", "main", check=False, extra_env=env)
    assert out.returncode != 0
    assert "GITMODELS_SKIP=1 git push" in out.stderr
    assert git(alice, "ls-remote", "origin", "main").stdout.split()[0] != rev(alice)

    (alice / "m.bin").write_bytes(model_bytes("m2"))
    gitmodels(alice, "add", "m.bin")
    out = git(alice, "commit", "-m", "v2", check=False, extra_env=env)
    assert out.returncode != 0 and "GITMODELS_SKIP=1 git commit" in out.stderr
    git(alice, "commit", "-q", "-m", "v2", extra_env={**env, "GITMODELS_SKIP": "1"})


def test_falls_back_to_gitmodels_on_path(world, tmp_path):
    alice = world.first_clone()
    world.add_model(alice, "m.bin", model_bytes("m"))
    commit_all(alice, "model")
    install(alice, python=str(tmp_path / "gone-venv" / "bin" / "python"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gitmodels"
    shim.write_text(f'#!/bin/sh\necho fallback-used >&2\nexec "{sys.executable}" -m gitmodels "$@"\n')
    shim.chmod(0o755)
    out = git(alice, "push", "origin", "main", extra_env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert "fallback-used" in out.stderr
    oid = sha256_of(alice / "m.bin")
    assert (world.models / "objects" / oid[:2] / oid).exists()


def test_hook_command(repo_dir):
    out = gitmodels(repo_dir, "hook", "pre-frobnicate", check=False)
    assert out.returncode == 2 and "unknown hook" in out.stderr
    assert "hook" not in gitmodels(repo_dir, "--help").stdout.split("Commands:")[1].split()
    out = gitmodels(repo_dir, "hook", "pre-commit", extra_env={"GITMODELS_SKIP": "1"})
    assert out.returncode == 0 and out.output == ""


def test_pre_commit_framework_manifest():
    yaml = require_module("yaml", "pip install pyyaml")
    manifest = yaml.safe_load((Path(hooks.__file__).parents[2] / ".pre-commit-hooks.yaml").read_text())
    stages = {stage for entry in manifest for stage in entry["stages"]}
    # The pre-commit framework has no post-index-change stage: `gitmodels install` puts that one in.
    assert stages == set(hooks.HOOK_NAMES) - {"post-index-change"}
    for entry in manifest:
        assert entry["entry"].startswith("gitmodels hook ")
        assert entry["pass_filenames"] is False and entry["always_run"] is True
        assert entry["stages"] == [entry["entry"].split()[-1]]
