"""Shared fixtures: every test runs git in an isolated environment; servers and the git harness
(worlds, scripted histories) are plugins (tests/servers.py, tests/gitutil.py)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch; never TensorFlow

pytest_plugins = ["tests.servers", "tests.gitutil"]


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch) -> dict[str, str]:
    """No test reads the developer's git config or GIT_*/GITMODELS_* variables, or writes to their home."""
    from tests.gitutil import isolated_env  # imported here: as a plugin first, so pytest rewrites its asserts

    env = isolated_env(tmp_path_factory.mktemp("home"))
    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def remote_dir(tmp_path):
    path = tmp_path / "model-remote"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path, remote_dir):
    """A fresh git repo with gitmodels initialised (no hooks) and a directory remote."""
    from tests.gitutil import git, gitmodels

    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    gitmodels(work, "init", "--no-hooks", "--remote", str(remote_dir))
    git(work, "commit", "-qm", "init gitmodels")
    return work
