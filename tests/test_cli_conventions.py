"""What users expect of any git-style CLI: `git models --help` works, typos get a "did you mean"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from gitmodels.cli import did_you_mean, manpage
from tests.gitutil import git, gitmodels


def test_git_models_help_opens_the_man_page(tmp_path):
    """git turns `git models --help` into `man git-models`: the install must put the page where man looks."""
    man = shutil.which("man", path=os.environ.get("PATH", "") + os.pathsep + "/usr/bin:/bin")
    if man is None:
        pytest.fail("`man` is missing, so `git models --help` cannot work here: apt-get install -y man-db")
    bindir = Path(sysconfig.get_path("scripts"))
    for script in ("gitmodels", "git-models"):
        assert (bindir / script).exists(), f"{bindir / script} is missing: run python -m pip install -e ."
    page = bindir.parent / "share" / "man" / "man1" / "git-models.1"
    assert page.is_file(), f"the install has no man page at {page}: re-run python -m pip install -e ."
    env = {k: v for k, v in os.environ.items() if k not in ("MANPATH", "MANOPT", "GIT_PAGER", "PAGER", "MANPAGER")}
    env.update({"PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}", "MANWIDTH": "100", "MANPAGER": "cat"})
    for argv in (["models", "--help"], ["help", "models"]):
        out = git(tmp_path, *argv, env=env).stdout
        assert "No manual entry" not in out
        assert "git models [OPTIONS] COMMAND [ARGS]..." in out, out
        assert "git models add [OPTIONS] PATHS..." in out and "--no-stage" in out, out
        assert "git models get [OPTIONS] [GIT_URL] PATH[@REV]" in out, out
    # The command's own help is untouched: git passes `git models add --help` through, and -h / --help work.
    assert "Usage: gitmodels add [OPTIONS] PATHS..." in git(tmp_path, "models", "add", "--help", env=env).stdout
    for flag in ("--help", "-h"):
        out = subprocess.run([str(bindir / "gitmodels"), flag], capture_output=True, text=True, env=env).stdout
        assert out.startswith("Usage: gitmodels [OPTIONS] COMMAND [ARGS]...") and "status" in out, out


@pytest.mark.parametrize("page", sorted(manpage.PAGES))
def test_committed_man_pages_match_the_help(page):
    committed = Path(manpage.MAN_DIR, f"{page}.1")
    assert committed.is_file(), f"{committed} is missing: run python -m gitmodels.cli.manpage"
    assert committed.read_text() == manpage.render(page), \
        f"{committed} is stale (a command's help changed): run python -m gitmodels.cli.manpage"


def test_a_mistyped_command_gets_a_did_you_mean(tmp_path):
    err = gitmodels(tmp_path, "stauts", check=False)
    assert err.returncode == 2
    assert "No such command 'stauts'. Did you mean 'status'?" in err.stderr
    assert "Did you mean 'push'?" in gitmodels(tmp_path, "psuh", check=False).stderr
    assert "Did you mean 'checkout'?" in gitmodels(tmp_path, "chekcout", check=False).stderr
    far = gitmodels(tmp_path, "frobnicate", check=False)
    assert far.returncode == 2 and "No such command 'frobnicate'." in far.stderr and "Did you mean" not in far.stderr
    # git's ranking: a swap beats a dropped letter (stats is one deletion away from "stauts", status one swap).
    assert did_you_mean("stauts", ["stats", "status"]) == ["status"]
    assert did_you_mean("stat", ["stats", "status"]) == ["stats"]


def test_a_mistyped_option_gets_a_did_you_mean(tmp_path):
    err = gitmodels(tmp_path, "status", "--jsno", check=False)
    assert err.returncode == 2 and "No such option '--jsno'" in err.stderr and "Did you mean '--json'?" in err.stderr
    err = gitmodels(tmp_path, "--degub", "status", check=False)
    assert "Did you mean '--debug'?" in err.stderr
    err = gitmodels(tmp_path, "get", "a@b", "--froce", check=False).stderr
    assert "No such option '--froce'" in err and "Did you mean" in err and "'--force'" in err
