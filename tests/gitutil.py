"""Shared helpers for tests that drive the real git CLI.

- `isolated_env`: HOME, global git config and author/committer fixed (the autouse fixture in conftest uses it)
  in tmp_path, for this process and every subprocess (git, its hooks, gitmodels);
  the user's own ~/.gitconfig and GIT_*/GITMODELS_* variables never leak in.
- `git(cwd, *args)`, `gitmodels(cwd, *args)`: run and return a Result (stdout,
  stderr, returncode); `check=True` raises with both streams on failure.
- `World` (fixture `world`): a bare git server, a directory model remote and
  clones of the server, initialised for gitmodels.

Use from a test module with `from tests.gitutil import git, gitmodels`; `world` is a fixture (a plugin).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

AUTHOR = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T12:00:00+00:00", "GIT_COMMITTER_DATE": "2026-01-01T12:00:00+00:00",
}
GLOBAL_CONFIG = """\
[user]
\tname = Test Author
\temail = author@example.com
[init]
\tdefaultBranch = main
[advice]
\tdetachedHead = false
[pull]
\trebase = false
[protocol "file"]
\tallow = always
"""


@dataclasses.dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CommandFailed(AssertionError):
    pass


def isolated_env(home: Path, base: dict | None = None) -> dict[str, str]:
    """An environment for git that ignores the user's config and any GIT_*/GITMODELS_* variable."""
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if not k.startswith(("GIT_", "GITMODELS_", "PRE_COMMIT"))}
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text(GLOBAL_CONFIG)
    env.update(AUTHOR)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    })
    return env


def run(cmd: list[str], cwd, *, check: bool = True, input: str | None = None,
        env: dict | None = None, extra_env: dict | None = None, timeout: float = 120) -> Result:
    full_env = dict(os.environ if env is None else env)
    if extra_env:
        full_env.update(extra_env)
    proc = subprocess.run([str(c) for c in cmd], cwd=str(cwd), input=input, capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    result = Result([str(c) for c in cmd], proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CommandFailed(f"{' '.join(result.args)} (in {cwd}) exited {proc.returncode}\n"
                            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return result


def git(cwd, *args: str, **kwargs) -> Result:
    return run(["git", *args], cwd, **kwargs)


def gitmodels(cwd, *args: str, **kwargs) -> Result:
    """The CLI in a subprocess, through this interpreter (the package is installed editable)."""
    return run([sys.executable, "-m", "gitmodels", *args], cwd, **kwargs)


def rev(cwd, name: str = "HEAD") -> str:
    return git(cwd, "rev-parse", name).stdout.strip()


def commit_all(cwd, message: str, *args: str, **kwargs) -> Result:
    git(cwd, "add", "-A")
    return git(cwd, "commit", "-q", "-m", message, *args, **kwargs)


def model_bytes(seed: str, size: int = 4096) -> bytes:
    """Deterministic pseudo-random bytes: a stand-in for a model file."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def remote_has(models_dir, oid: str) -> bool:
    return (Path(models_dir) / "objects" / oid[:2] / oid).exists()


@dataclasses.dataclass
class World:
    """A bare git server, a directory model remote, and clones."""

    root: Path
    env: dict[str, str]

    @property
    def server(self) -> Path:
        return self.root / "server.git"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def setup(self) -> "World":
        git(self.root, "init", "-q", "--bare", "-b", "main", str(self.server))
        self.models.mkdir()
        return self

    def first_clone(self, name: str = "alice") -> Path:
        """Clone the empty server, `gitmodels init --remote` it, commit and push the config."""
        path = self.root / name
        git(self.root, "clone", "-q", str(self.server), str(path))
        with _repo(path) as repo:  # in-process: the same code as `gitmodels init --remote`, without a start-up
            repo.init(str(self.models))
            from gitmodels.hooks.install import install as install_hooks

            install_hooks(repo)  # as `gitmodels init` does after Repo.init
        commit_all(path, "gitmodels init")
        git(path, "push", "-q", "origin", "main")
        return path

    def clone(self, name: str, install: bool = True) -> Path:
        path = self.root / name
        git(self.root, "clone", "-q", str(self.server), str(path))
        if install:
            gitmodels(path, "install")
        return path

    def add_model(self, repo: Path, rel: str, data: bytes | dict[str, bytes]) -> str:
        """Write a file model (bytes) or a directory model ({relpath: bytes}) and `gitmodels add` it."""
        target = repo / rel
        if isinstance(data, dict):
            if target.exists():
                shutil.rmtree(target)
            for sub, content in data.items():
                (target / sub).parent.mkdir(parents=True, exist_ok=True)
                (target / sub).write_bytes(content)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with _repo(repo) as r:  # in-process `gitmodels add REL`
            r.add([str(target)], progress=False)
        return rel


def _repo(path: Path):
    from gitmodels.repo import Repo

    return Repo(str(path))


@pytest.fixture
def world(isolated_git, tmp_path) -> World:
    return World(tmp_path, isolated_git).setup()
