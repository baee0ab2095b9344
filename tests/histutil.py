"""Helpers for the history / gc / fsck tests: real git, isolated, and one scripted model history.

- `Sandbox`: runs `git` (the real CLI) with HOME and the global config in a
  temp folder and a commit clock that ticks once per command, and runs
  `gitmodels` either in-process (`gm`, fast) or as a subprocess (`gm_proc`).
- `build_history(sb, root)`: a repository with models versioned across two
  branches, a merge, a tag, a renamed model, a deleted model, an unpushed
  commit, an unpushed branch, a stash entry and throwaway versions that
  nothing refers to. Returns a `History` with the commits and contents.
- `verify_checkouts(sb, work)`: checks out every branch, tag, unpushed commit
  and stash entry in a scratch worktree and runs `gitmodels checkout
  --no-fetch` there: the cache alone must restore every model.
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

from tests.gitutil import isolated_env

GLOBAL_CONFIG = """\
[user]
\tname = Hist Tester
\temail = hist@example.com
[init]
\tdefaultBranch = main
[advice]
\tdetachedHead = false
[protocol "file"]
\tallow = always
[gc]
\tauto = 0
"""
EPOCH = 1_767_000_000  # commit times start here and tick by 60 s per git command


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


class Sandbox:
    def __init__(self, tmp: Path, monkeypatch):
        self.tmp = Path(tmp)
        home = self.tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        (home / ".gitconfig").write_text(GLOBAL_CONFIG)  # isolated_env keeps an existing config
        env = isolated_env(home)
        env.update({"GIT_AUTHOR_NAME": "Hist Tester", "GIT_AUTHOR_EMAIL": "hist@example.com",
                    "GIT_COMMITTER_NAME": "Hist Tester", "GIT_COMMITTER_EMAIL": "hist@example.com"})
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
        proc = subprocess.run(["git", *args], cwd=cwd, env=self._env(), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

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
        result = Result(code, out.getvalue(), err.getvalue())
        if expect is not None and code != expect:
            raise AssertionError(f"gitmodels {' '.join(args)} exited {code}, wanted {expect}:\n"
                                 f"{result.out}{result.err}")
        return result

    def gm_proc(self, cwd, *args: str, expect: int | None = 0, stdin: str | None = None) -> Result:
        """Run the real `gitmodels` entry point in a subprocess."""
        proc = subprocess.run([sys.executable, "-m", "gitmodels", *args], cwd=cwd, env=self._env(),
                              capture_output=True, text=True, input=stdin)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if expect is not None and proc.returncode != expect:
            raise AssertionError(f"gitmodels {' '.join(args)} exited {proc.returncode}, wanted {expect}:\n"
                                 f"{proc.stdout}{proc.stderr}")
        return result

    def add(self, work, path: str, content: bytes | dict, metrics: dict | None = None,
            params: dict | None = None) -> str:
        """Write a file (bytes) or directory ({name: bytes}) model, `gitmodels add` it with metadata; its oid."""
        from gitmodels.repo import Repo

        target = Path(work, path)
        if isinstance(content, dict):
            if target.exists():
                shutil.rmtree(target)
            for name, data in content.items():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                (target / name).write_bytes(data)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.chmod(target, 0o644)
                target.unlink()
            target.write_bytes(content)
        meta = {}
        if metrics:
            meta["metrics"] = metrics
        if params:
            meta["params"] = params
        with Repo(str(work)) as repo:
            (result,) = repo.add([str(target)], meta=meta or None)
        return result.oid


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(name: str, size: int = 3000) -> bytes:
    """Deterministic model bytes, different for every name."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def cache_oids(work) -> set[str]:
    objects = Path(work, ".git", "gitmodels", "objects")
    return {p.name for p in objects.glob("*/*")} if objects.exists() else set()


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
