"""Many clones, one model remote, real processes: concurrent pushes of overlapping chunked models while
another clone runs `gitmodels gc --remote --yes`; afterwards every commit of every clone pulls byte-identical
models (issue 16).

Each round: every pusher clone commits new versions of models that share most chunks (one shared model
changed in a small region per clone, one model identical across clones, one of its own) and pushes its
branch's refs; the gc clone fetches; then, at the same time, every pusher runs `gitmodels push` (and
uploads a scratch model it never commits, which shares chunks with the committed ones: garbage the
gc marks, and which a later gc deletes once the grace period has passed) while the gc clone runs
`gitmodels gc --remote --yes` with the default settings. No push may fail and nothing any commit
uses may go.

`benchmarks/concurrency.py` runs the same scenario for 100 rounds.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.gitutil import git
from tests.seeded import seeded_bytes

PUSHERS = 4
SIZE = 384 * 1024  # chunked: the clones' threshold is 64 KiB
LOCAL_CONFIG = "[core]\nchunk_threshold = 65536\n"


def _gm_proc(cwd, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gitmodels", *args], cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _add(work: Path, rel: str, data: bytes) -> None:
    from tests.gitutil import add_model

    add_model(work, rel, data)


class Scenario:
    """A bare git server, one model remote, PUSHERS pusher clones and a gc clone."""

    def __init__(self, root: Path, remote_url: str, settings: dict | None = None, pushers: int = PUSHERS,
                 size: int = SIZE):
        self.root, self.size = Path(root), size
        self.server = self.root / "server.git"
        git(self.root, "init", "-q", "--bare", "-b", "main", str(self.server))
        first = self.root / "first"
        git(self.root, "clone", "-q", str(self.server), str(first))
        args = ["remote", "add", "origin", remote_url, "--default"]
        for key, value in (settings or {}).items():
            args += ["-s", f"{key}={value}"]
        _check(_gm_proc(first, "init", "--no-hooks"))
        _check(_gm_proc(first, *args))
        git(first, "add", "-A")
        git(first, "commit", "-q", "-m", "gitmodels init")
        git(first, "push", "-q", "origin", "main")
        self.base = seeded_bytes("base", size)
        self.clones = [self._clone(f"c{i}") for i in range(pushers)]
        self.gc_clone = self._clone("gc")
        self.expected: dict[str, dict[str, str]] = {}  # commit -> model path -> sha256 of its bytes

    def _clone(self, name: str) -> Path:
        path = self.root / name
        git(self.root, "clone", "-q", str(self.server), str(path))
        Path(path, ".git/gitmodels").mkdir(parents=True, exist_ok=True)
        Path(path, ".git/gitmodels/config.toml").write_text(LOCAL_CONFIG)
        if name != "gc":
            git(path, "checkout", "-q", "-b", name)
        return path

    def _variant(self, seed: str, at: int) -> bytes:
        """The shared base with 16 KiB rewritten at `at`: shares all but a chunk or two with every other."""
        patch = seeded_bytes(seed, 16 * 1024)
        at = at % (self.size - len(patch))
        return self.base[:at] + patch + self.base[at + len(patch):]

    def round(self, r: int) -> None:
        for i, work in enumerate(self.clones):
            models = {"shared.bin": self._variant(f"{r}-{i}", (r * 7 + i) * 40_000),
                      "common.bin": self._variant(f"common-{r}", r * 30_000),
                      f"own-{i}.bin": seeded_bytes(f"own-{r}-{i}", self.size // 2)}
            for rel, data in models.items():
                _add(work, rel, data)
            git(work, "commit", "-q", "-m", f"round {r}")
            sha = git(work, "rev-parse", "HEAD").stdout.strip()
            self.expected[sha] = {rel: hashlib.sha256(data).hexdigest() for rel, data in models.items()}
            git(work, "push", "-q", "--no-verify", "origin", f"c{i}")
            # Garbage that shares chunks with what was committed: staged, pushed, then dropped.
            _add(work, "scratch.bin", self._variant(f"scratch-{r}-{i}", (r * 5 + i) * 50_000))
        git(self.gc_clone, "fetch", "-q", "origin")
        procs = [(work, _gm_proc(work, "push")) for work in self.clones]
        gc = _gm_proc(self.gc_clone, "gc", "--remote", "--yes")
        for _work, proc in procs:
            _check(proc)  # no push fails: a gc running beside it deletes nothing a push relies on
        _check(gc)
        for work in self.clones:
            git(work, "reset", "-q", "--hard", "HEAD")  # the scratch model's pointer was never committed

    def verify(self) -> list[str]:
        """Every commit of every clone, fetched into a fresh clone with an empty cache: problems found."""
        from gitmodels.repo import Repo

        check = Path(tempfile.mkdtemp(prefix=f"check-{len(self.expected)}-", dir=self.root))
        git(self.root, "clone", "-q", "--mirror", str(self.server), str(check / ".git"))
        git(check, "config", "--bool", "core.bare", "false")
        git(check, "checkout", "-q", "main")
        problems = []
        with Repo(str(check)) as repo:
            for sha, models in self.expected.items():
                pointers = repo.pointers(sha)
                try:
                    result = repo.fetch(rev=sha)
                except Exception as exc:  # noqa: BLE001 - the report names it
                    problems.append(f"{sha[:8]}: fetch failed: {exc}")
                    continue
                if result.failed:
                    problems.append(f"{sha[:8]}: {[str(e) for _, e in result.failed]}")
                for rel, digest in models.items():
                    ptr = pointers[rel]
                    if ptr.oid != digest:
                        problems.append(f"{sha[:8]} {rel}: pointer names {ptr.oid[:12]}, committed {digest[:12]}")
                    elif not repo.store.has(ptr.oid) or \
                            hashlib.sha256(Path(repo.store.path(ptr.oid)).read_bytes()).hexdigest() != digest:
                        problems.append(f"{sha[:8]} {rel}: not pulled byte-identical")
        return problems


def _check(proc: subprocess.Popen) -> None:
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out


def run_rounds(scenario: Scenario, rounds: int, verify_every: int = 0) -> list[str]:
    problems: list[str] = []
    for r in range(rounds):
        scenario.round(r)
        if verify_every and (r + 1) % verify_every == 0:
            problems += scenario.verify()
    return problems + scenario.verify()


def test_concurrent_pushes_and_remote_gc_on_a_directory_remote(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    started = time.monotonic()
    scenario = Scenario(tmp_path, str(models))
    assert run_rounds(scenario, 20) == []
    assert len(scenario.expected) == 20 * PUSHERS
    assert list(models.glob("packs/*/*")), "the models were stored chunked"
    print(f"directory remote: 20 rounds in {time.monotonic() - started:.1f} s")


def test_concurrent_pushes_and_remote_gc_on_s3(tmp_path, s3_remote):
    url, settings = s3_remote
    started = time.monotonic()
    scenario = Scenario(tmp_path, url, settings)
    assert run_rounds(scenario, 20) == []
    print(f"moto S3: 20 rounds in {time.monotonic() - started:.1f} s")
