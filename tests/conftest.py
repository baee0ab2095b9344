"""Shared fixtures: an isolated git environment and helpers to drive git and gitmodels as a user would."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch; never TensorFlow

pytest_plugins = ["tests.servers"] if importlib.util.find_spec("tests.servers") else []

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch):
    """No test reads the developer's ~/.gitconfig or writes to their home."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITMODELS_SKIP", raising=False)
    monkeypatch.delenv("GITMODELS_HOOK", raising=False)


def run(args, cwd, check=True, input=None, env=None):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def git(cwd, *args, **kw):
    return run(["git", *args], cwd, **kw)


def gm(cwd, *args, **kw):
    """Run the real CLI in a subprocess, as a user would."""
    return run([sys.executable, "-m", "gitmodels", *args], cwd, **kw)


@pytest.fixture
def remote_dir(tmp_path):
    path = tmp_path / "model-remote"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path, remote_dir):
    """A fresh git repo with gitmodels initialised (no hooks) and a directory remote."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    gm(work, "init", "--no-hooks", "--remote", str(remote_dir))
    git(work, "commit", "-qm", "init gitmodels")
    return work
