"""The one git harness of the test suite: real git, isolated, and scripted model histories.

- `isolated_env`: HOME, global git config and author/committer fixed (the autouse fixture in conftest uses it)
  in tmp_path, for this process and every subprocess (git, its hooks, gitmodels);
  the user's own ~/.gitconfig and GIT_*/GITMODELS_* variables never leak in.
- `git(cwd, *args)`, `gitmodels(cwd, *args)`: run and return a Result (stdout,
  stderr, returncode); `check=True` raises with both streams on failure.
- `write_model` / `add_model`: put a file or directory model on disk and `gitmodels add` it in-process.
- `World` (fixture `world`): a bare git server, a directory model remote and
  clones of the server, initialised for gitmodels.
- `Sandbox`: the same isolation with a commit clock that ticks once per git
  command (stable, ordered commit times) and `gitmodels` in-process (`gm`, fast)
  or as a subprocess (`gm_proc`).
- `build_history(sb, root)` (fixtures `built`, `hist`): a repository with models
  versioned across two branches, a merge, a tag, a renamed model, a deleted
  model, an unpushed commit, an unpushed branch, a stash entry and throwaway
  versions that nothing refers to; `verify_checkouts` checks every one of them
  restores from the cache alone.

Use from a test module with `from tests.gitutil import git, gitmodels`; `world`, `built` and `hist` are
fixtures (this module is a plugin). Model bytes come from `tests.seeded`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.seeded import seeded_bytes

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
[gc]
\tauto = 0
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

    # the short names the history tests read (`Sandbox.gm` results)
    @property
    def code(self) -> int:
        return self.returncode

    @property
    def out(self) -> str:
        return self.stdout

    @property
    def err(self) -> str:
        return self.stderr

    def json(self):
        return json.loads(self.stdout)


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
                          env=full_env, timeout=timeout, check=False)
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
    """Deterministic pseudo-random bytes: a stand-in for a model file (see tests.seeded)."""
    return seeded_bytes(seed, size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def remote_has(models_dir, oid: str) -> bool:
    """The directory remote holds `oid`: as an object, or (a small file of a directory) in a bundle's pack."""
    return (Path(models_dir) / "objects" / oid[:2] / oid).exists() or oid in packed_oids(models_dir)


def packed_oids(models_dir) -> set[str]:
    """Oids whose bytes are whole entries of packs a recipe on the directory remote reads (bundled small files)."""
    from gitmodels.chunking.remote import fetch_recipe, list_recipes
    from gitmodels.remotes.local import LocalBackend

    if not (Path(models_dir) / "recipes").exists():
        return set()
    backend = LocalBackend(str(models_dir))
    out: set[str] = set()
    for name in list_recipes(backend):
        found = fetch_recipe(backend, name)
        if found is not None:
            out.update(c.chunk_id.hex() for c in found[0].chunks)
    return out


def write_model(target, content: bytes | dict[str, bytes]) -> Path:
    """Write a file model (bytes) or a directory model ({relpath: bytes}) at `target`, replacing what is there.

    A file that gitmodels restored may be read-only (or a link into the cache): it is unlinked, never written
    through; a directory model is replaced whole, so files of an older version do not linger.
    """
    target = Path(target)
    if isinstance(content, dict):
        if target.exists():
            shutil.rmtree(target)
        for sub, data in content.items():
            (target / sub).parent.mkdir(parents=True, exist_ok=True)
            (target / sub).write_bytes(data)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.chmod(target, 0o644)
            target.unlink()
        target.write_bytes(content)
    return target


def add_model(work, rel: str, content: bytes | dict[str, bytes], meta: dict | None = None) -> str:
    """`write_model` then `gitmodels add` it in-process (with metadata); the new oid."""
    from gitmodels.repo import Repo

    target = write_model(Path(work, rel), content)
    with Repo(str(work)) as repo:
        (result,) = repo.add([str(target)], meta=meta or None, progress=False)
    return result.oid


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

    def setup(self) -> World:
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
        """Write a file model (bytes) or a directory model ({relpath: bytes}) and `gitmodels add` it; `rel`."""
        add_model(repo, rel, data)
        return rel


def _repo(path: Path):
    from gitmodels.repo import Repo

    return Repo(str(path))


@pytest.fixture
def world(isolated_git, tmp_path) -> World:
    return World(tmp_path, isolated_git).setup()


# -- the history harness: a commit clock and one scripted model history ---------------------------

EPOCH = 1_767_000_000  # commit times start here and tick by 60 s per git command
SANDBOX_AUTHOR = {"GIT_AUTHOR_NAME": "Hist Tester", "GIT_AUTHOR_EMAIL": "hist@example.com",
                  "GIT_COMMITTER_NAME": "Hist Tester", "GIT_COMMITTER_EMAIL": "hist@example.com"}


class Sandbox:
    """`isolated_env` for this process, plus a commit clock: every git command is a minute later."""

    def __init__(self, tmp: Path, monkeypatch):
        self.tmp = Path(tmp)
        env = isolated_env(self.tmp / "home")
        env.update(SANDBOX_AUTHOR)
        for key in list(os.environ):
            if key not in env:
                monkeypatch.delenv(key)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        self.clock = 0

    def _env(self) -> dict:
        self.clock += 1
        stamp = f"@{EPOCH + 60 * self.clock} +0000"
        return dict(os.environ, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)

    def git(self, cwd, *args: str, check: bool = True) -> str:
        """git's stdout, stripped."""
        return git(cwd, *args, check=check, env=self._env()).stdout.strip()

    def gm(self, cwd, *args: str, expect: int | None = 0) -> Result:
        """Run the gitmodels CLI in this process (through the same `main` the console script uses)."""
        from gitmodels.cli import main

        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["-C", str(cwd), *args])
        finally:
            os.chdir(here)
        return _expect(Result(["gitmodels", *args], code, out.getvalue(), err.getvalue()), expect)

    def gm_proc(self, cwd, *args: str, expect: int | None = 0, stdin: str | None = None) -> Result:
        """Run the real `gitmodels` entry point in a subprocess."""
        return _expect(gitmodels(cwd, *args, check=False, input=stdin, env=self._env()), expect)

    def add(self, work, path: str, content: bytes | dict, metrics: dict | None = None,
            params: dict | None = None) -> str:
        """Write a file (bytes) or directory ({name: bytes}) model, `gitmodels add` it with metadata; its oid."""
        meta = {}
        if metrics:
            meta["metrics"] = metrics
        if params:
            meta["params"] = params
        return add_model(work, path, content, meta)


def _expect(result: Result, expect: int | None) -> Result:
    if expect is not None and result.returncode != expect:
        raise CommandFailed(f"{' '.join(result.args)} exited {result.returncode}, wanted {expect}:\n"
                            f"{result.stdout}{result.stderr}")
    return result


def blob(name: str, size: int = 3000) -> bytes:
    """Deterministic model bytes, different for every name."""
    return seeded_bytes(name, size)


def cache_oids(work) -> set[str]:
    """Every object the clone's cache holds, loose or packed (storage/packs.py)."""
    from gitmodels.storage.store import Store

    root = Path(work, ".git", "gitmodels")
    return set(Store(str(root)).iter_oids()) if root.exists() else set()


def cached_bytes(work, oid: str) -> bytes | None:
    """The bytes of a cached object, loose or packed (hashed on the way), or None."""
    from gitmodels.errors import ObjectMissing
    from gitmodels.storage.store import Store

    try:
        return Store(str(Path(work, ".git", "gitmodels"))).read_bytes(oid)
    except ObjectMissing:
        return None


def cached_range(work, oid: str) -> tuple[Path, int, int]:
    """Where a cached object's bytes are: (file, offset, length), its own file or a range of its pack."""
    from gitmodels.storage.store import Store

    store = Store(str(Path(work, ".git", "gitmodels")))
    loose = Path(store.path(oid))
    if loose.exists():
        return loose, 0, loose.stat().st_size
    name, offset, length = store.packs.find(oid)
    return Path(store.packs.pack_path(name)), offset, length


def overwrite_cached(work, oid: str, data: bytes) -> None:
    """Damage a cached object in place, loose or packed: `data` over its first bytes, its size kept."""
    path, offset, length = cached_range(work, oid)
    assert len(data) <= length
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def flip_cached_byte(work, oid: str, offset: int = 10) -> None:
    path, start, length = cached_range(work, oid)
    with open(path, "rb") as f:
        f.seek(start + offset % length)
        byte = f.read(1)[0]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(start + offset % length)
        f.write(bytes([byte ^ 0xFF]))


def remote_oids(store) -> set[str]:
    objects = Path(store, "objects")
    return {p.name for p in objects.glob("*/*")} if objects.exists() else set()


def flip_byte(path, offset: int = 10) -> None:
    path = Path(path)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


@dataclasses.dataclass
class History:
    root: Path
    work: Path
    store: Path
    origin: Path
    commits: dict[str, str] = dataclasses.field(default_factory=dict)   # label -> sha
    oids: dict[str, str] = dataclasses.field(default_factory=dict)      # version label -> oid
    content: dict[str, bytes] = dataclasses.field(default_factory=dict)  # version label -> file bytes


def build_history(sb: Sandbox, root: Path, after_step=None) -> History:
    """The scripted history (commit labels in brackets):

    main:  [c1] churn v1, enc v1, old v1 (pushed)
           [c2] churn v2, tag v1.0 (pushed)
    exp:   [c3] churn v3 (exp), enc v2 (pushed to git and the model remote)
    main:  [c4] rename models/churn.bin -> models/churn-model.bin
           [c4b] enc v3, pushed to git only (`git push` without the models)
           [c5] enc v4, drop models/old.bin (pushed)
           [c6] merge exp: the enc pointer conflicts (a state of its own), main's side wins (pushed)
           [c7] churn v5 (not pushed anywhere)
    wip:   [c8] new model wip.bin (branch never pushed, not checked out)
    stash: churn v6 (added, then stashed)
    loose: churn scratch1, scratch2 (added, then discarded: nothing refers to them)

    `after_step(label)` is called after each step (gc in every state).
    """
    step = after_step or (lambda label: None)
    root = Path(root)
    work, store, origin = root / "work", root / "store", root / "origin.git"
    store.mkdir(parents=True)
    sb.git(root, "init", "-q", "--bare", str(origin))
    sb.git(root, "init", "-q", "-b", "main", str(work))
    h = History(root, work, store, origin)
    sb.gm(work, "init", "--no-hooks", "--remote", "../store")
    sb.git(work, "remote", "add", "origin", "../origin.git")

    def version(label: str, path: str, content, metrics=None, params=None):
        h.content[label] = content if isinstance(content, bytes) else b""
        h.oids[label] = sb.add(work, path, content, metrics, params)

    def commit(label: str, message: str) -> str:
        sb.git(work, "commit", "-q", "-m", message)
        h.commits[label] = sb.git(work, "rev-parse", "HEAD")
        return h.commits[label]

    enc_v1 = {"vocab.txt": blob("enc-vocab-1"), "weights.bin": blob("enc-w-1", 5000)}
    version("churn-v1", "models/churn.bin", blob("churn-1"), {"auc": 0.80, "loss": 0.5}, {"depth": 3})
    version("enc-v1", "models/enc", enc_v1)
    version("old-v1", "models/old.bin", blob("old-1"))
    commit("c1", "train v1")
    sb.git(work, "push", "-q", "-u", "origin", "main")
    sb.gm(work, "push")
    step("c1")

    version("churn-v2", "models/churn.bin", blob("churn-2"), {"auc": 0.85, "loss": 0.4}, {"depth": 3})
    commit("c2", "train v2")
    sb.git(work, "tag", "v1.0")
    sb.git(work, "push", "-q", "origin", "main", "v1.0")
    sb.gm(work, "push")
    step("c2")

    sb.git(work, "switch", "-q", "-c", "exp")
    version("churn-v3", "models/churn.bin", blob("churn-3"), {"auc": 0.87, "loss": 0.35}, {"depth": 5})
    version("enc-v2", "models/enc", dict(enc_v1, **{"weights.bin": blob("enc-w-2", 5200)}))
    commit("c3", "experiment: deeper trees")
    sb.git(work, "push", "-q", "-u", "origin", "exp")
    sb.gm(work, "push")
    sb.git(work, "switch", "-q", "main")
    sb.gm(work, "checkout")
    step("c3")

    sb.git(work, "mv", "models/churn.bin.gitmodel", "models/churn-model.bin.gitmodel")
    os.replace(work / "models/churn.bin", work / "models/churn-model.bin")
    sb.gm(work, "add", "models/churn-model.bin")  # re-ignores the artifact under its new name
    commit("c4", "rename churn model")
    version("enc-v3", "models/enc", dict(enc_v1, **{"weights.bin": blob("enc-w-3", 5300)}))
    commit("c4b", "enc v3 (models never pushed)")
    sb.git(work, "push", "-q", "origin", "main")  # git only: no `gitmodels push`
    step("c4b")

    version("enc-v4", "models/enc", dict(enc_v1, **{"weights.bin": blob("enc-w-4", 5400)}))
    sb.git(work, "rm", "-q", "models/old.bin.gitmodel")
    (work / "models/old.bin").unlink()
    commit("c5", "enc v4, drop old model")
    sb.git(work, "push", "-q", "origin", "main")
    sb.gm(work, "push")
    step("c5")

    merge = sb.git(work, "merge", "-q", "--no-ff", "-m", "merge exp", "exp", check=False)
    assert "CONFLICT" in merge and "models/enc.gitmodel" in merge, merge
    step("conflict")  # both sides of the conflicted pointer are in the index
    sb.git(work, "checkout", "--ours", "--", "models/enc.gitmodel")
    sb.git(work, "add", "models/enc.gitmodel")
    sb.git(work, "commit", "-q", "--no-edit")
    h.commits["c6"] = sb.git(work, "rev-parse", "HEAD")
    sb.gm(work, "checkout")
    sb.git(work, "push", "-q", "origin", "main")
    sb.gm(work, "push")
    step("c6")

    version("churn-v5", "models/churn-model.bin", blob("churn-5"), {"auc": 0.90, "loss": 0.3}, {"depth": 6})
    commit("c7", "train v5 (unpushed)")
    step("c7")

    sb.git(work, "switch", "-q", "-c", "wip")
    version("wip-v1", "models/wip.bin", blob("wip-1"))
    commit("c8", "wip model (unpushed branch)")
    sb.git(work, "switch", "-q", "main")
    (work / "models/wip.bin").unlink()
    sb.gm(work, "checkout")
    step("c8")

    version("churn-v6", "models/churn-model.bin", blob("churn-6"), {"auc": 0.91})
    sb.git(work, "stash", "-q")
    sb.gm(work, "checkout", "--force")
    h.commits["stash"] = sb.git(work, "rev-parse", "refs/stash")
    step("stash")

    version("scratch1", "models/churn-model.bin", blob("scratch-1"))
    version("scratch2", "models/churn-model.bin", blob("scratch-2"))
    sb.git(work, "checkout", "HEAD", "--", "models/churn-model.bin.gitmodel")
    sb.gm(work, "checkout", "--force")
    step("loose")
    return h


def unpushed_commits(sb: Sandbox, work) -> list[str]:
    out = sb.git(work, "rev-list", "--branches", "--tags", "--not", "--remotes")
    return [line for line in out.splitlines() if line]


def checkout_targets(sb: Sandbox, work) -> dict[str, str]:
    """name -> commit for every branch, tag, unpushed commit, HEAD and stash entry."""
    targets = {"HEAD": sb.git(work, "rev-parse", "HEAD")}
    refs = sb.git(work, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", "refs/heads", "refs/tags")
    for line in refs.splitlines():
        name, sha, peeled = (line.split(" ") + [""])[:3]
        targets[name] = peeled or sha
    for sha in unpushed_commits(sb, work):
        targets.setdefault(f"unpushed {sha[:8]}", sha)
    stash = sb.git(work, "stash", "list", "--format=%H", check=False)
    for i, sha in enumerate(stash.splitlines()):
        targets[f"stash@{{{i}}}"] = sha
    return targets


def verify_checkouts(sb: Sandbox, work, scratch: Path) -> list[str]:
    """Check out every target in a scratch worktree; the cache alone must restore every model, byte-exact."""
    checked = []
    for i, (name, sha) in enumerate(sorted(checkout_targets(sb, work).items())):
        wt = Path(scratch) / f"wt{i}"
        sb.git(work, "worktree", "add", "-q", "--detach", str(wt), sha)
        try:
            sb.gm(wt, "checkout", "--no-fetch")
            status = sb.gm(wt, "status", "--json").json()["models"]
            bad = [s for s in status if s["state"] != "up-to-date"]
            assert not bad, f"{name}: {bad}"
            for s in status:
                if s["kind"] == "file":
                    assert "sha256:" + sha256(Path(wt, s["path"]).read_bytes()) == s["oid"], f"{name}: {s['path']}"
            checked.append(name)
        finally:
            sb.git(work, "worktree", "remove", "--force", str(wt))
    sb.git(work, "worktree", "prune")
    return checked


def copy_history(h: History, dst: Path) -> History:
    """An independent copy of a built history (every path in it is relative, so copies do not share state)."""
    shutil.copytree(h.root, dst, symlinks=True)
    return dataclasses.replace(h, root=dst, work=dst / "work", store=dst / "store", origin=dst / "origin.git",
                               commits=dict(h.commits), oids=dict(h.oids), content=dict(h.content))


def object_path(work, oid: str) -> Path:
    return Path(work, ".git", "gitmodels", "objects", oid[:2], oid)


def manifest_oids(work, oid: str) -> list[str]:
    """The oids a cached directory manifest lists."""
    lines = object_path(work, oid).read_text().splitlines()[1:]
    return [json.loads(line)["oid"] for line in lines]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The scripted history, built once per test module (it takes a few seconds)."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("history")
        sb = Sandbox(root, mp)
        yield sb, build_history(sb, root / "base")


@pytest.fixture
def hist(built, tmp_path):
    """A private copy of the built history for one test to change."""
    sb, h = built
    return sb, copy_history(h, tmp_path / "copy")


def count_hook_pythons(work, folder: Path, hook: str = "pre-commit"):
    """Install `work`'s hooks with a logging wrapper around this interpreter (in `folder`); returns a
    function counting the starts of Python by the hook `hook` so far."""
    from gitmodels.hooks import install as hooks
    from gitmodels.repo import Repo

    log = Path(folder) / "python.log"
    wrapper = Path(folder) / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    with Repo(str(work)) as repo:
        hooks.install(repo, python=str(wrapper))
    return lambda: log.read_text().count(f"hook {hook}") if log.exists() else 0
