"""How fast `log` and `diff` read model history (targets: log over 1000 commits < 1 s, diff of 1000 models < 0.5 s).

    python benchmarks/history_bench.py [--commits 1000] [--models 1000] [--repeat 5] [--keep DIR]

Builds two repositories with `git fast-import` (seconds, not minutes):

- `log-repo`: N commits on main, each retraining one model (`models/churn.bin`)
  and touching a source file, in a tree of 200 other files, plus one commit
  half-way through that renames the model's pointer;
- `diff-repo`: two commits with M models each, every model retrained (new oid,
  metrics and params) in the second.

Then times, in this process (warm: best of --repeat; cold: the first call on a
fresh Repo), `gitmodels.history.log` and `gitmodels.history.diff`, and the
same through the `gitmodels` command line (a subprocess, so Python start-up
and imports are included). Also reports `gc --dry-run --offline` over the
log repository, for information. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

EPOCH = 1_760_000_000


def _env(home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITMODELS_"))}
    os.makedirs(home, exist_ok=True)
    cfg = os.path.join(home, ".gitconfig")
    with open(cfg, "w") as f:
        f.write("[user]\n\tname = Bench\n\temail = bench@example.com\n[gc]\n\tauto = 0\n")
    env.update(HOME=home, GIT_CONFIG_GLOBAL=cfg, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


def pointer_text(seed: str, i: int) -> bytes:
    oid = hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()
    return (f'# Managed by gitmodels: the model\'s bytes are in the model store, not in git.\n'
            f'version = 1\noid = "sha256:{oid}"\nsize = {1_000_000 + i}\nkind = "file"\n\n'
            f'[model]\nframework = "sklearn"\nclass = "sklearn.ensemble.RandomForestClassifier"\n\n'
            f'[metrics]\nauc = {0.7 + (i % 300) / 1000:.4f}\nloss = {1.0 / (i + 1):.6f}\n\n'
            f'[params]\nn_estimators = {100 + i}\nmax_depth = {3 + i % 7}\n').encode()


class Stream:
    def __init__(self):
        self.parts: list[bytes] = []
        self.mark = 0
        self.tick = 0

    def data(self, payload: bytes) -> None:
        self.parts.append(b"data %d\n" % len(payload) + payload + b"\n")

    def commit(self, message: str, files: dict[str, bytes], deletes: tuple[str, ...] = ()) -> None:
        self.mark += 1
        self.tick += 1
        when = EPOCH + 60 * self.tick
        self.parts.append(b"commit refs/heads/main\nmark :%d\n" % self.mark)
        self.parts.append(b"author Bench <bench@example.com> %d +0000\n" % when)
        self.parts.append(b"committer Bench <bench@example.com> %d +0000\n" % when)
        self.data(message.encode())
        if self.mark > 1:
            self.parts.append(b"from :%d\n" % (self.mark - 1))
        for path in deletes:
            self.parts.append(b"D %s\n" % path.encode())
        for path, payload in files.items():
            self.parts.append(b"M 100644 inline %s\n" % path.encode())
            self.data(payload)

    def run(self, repo: str, env: dict) -> None:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=env, input=b"".join(self.parts), check=True)
        subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, env=env, check=True)


def build_log_repo(path: str, commits: int, env: dict) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    s = Stream()
    base = {f"src/pkg{i // 20}/mod{i}.py": f"# module {i}\n".encode() for i in range(200)}
    base["gitmodels.toml"] = b"version = 1\n"
    half = commits // 2
    for i in range(commits):
        model = "models/churn.bin.gitmodel" if i < half else "models/churn-v2.bin.gitmodel"
        if i == half:  # a pure rename of the pointer, as `git mv` makes it
            s.commit("rename the model", {model: pointer_text("log", i - 1)}, deletes=("models/churn.bin.gitmodel",))
        files = {model: pointer_text("log", i), "src/train.py": f"EPOCHS = {i}\n".encode()}
        if i == 0:
            files.update(base)
        s.commit(f"train run {i}", files)
    s.run(path, env)


def build_diff_repo(path: str, models: int, env: dict) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    s = Stream()
    names = [f"models/group{i // 50}/m{i:04d}.bin.gitmodel" for i in range(models)]
    first = {n: pointer_text(f"a{i}", i) for i, n in enumerate(names)}
    first["gitmodels.toml"] = b"version = 1\n"
    s.commit("first", first)
    s.commit("retrain all", {n: pointer_text(f"b{i}", i + 1) for i, n in enumerate(names)})
    s.run(path, env)


def best(fn, repeat: int) -> tuple[float, float, object]:
    """(cold seconds, best warm seconds, last result)."""
    t = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t
    warm = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        warm.append(time.perf_counter() - t)
    return cold, min(warm), result


def cli(cwd: str, env: dict, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gitmodels", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="Build in DIR and keep it (default: a temp dir, removed).")
    args = ap.parse_args(argv)

    root = args.keep or tempfile.mkdtemp(prefix="gm-history-bench-")
    os.makedirs(root, exist_ok=True)
    env = _env(os.path.join(root, "home"))
    os.environ.update({k: env[k] for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
    log_repo, diff_repo = os.path.join(root, "log-repo"), os.path.join(root, "diff-repo")
    for p in (log_repo, diff_repo):
        shutil.rmtree(p, ignore_errors=True)
    out: dict = {"commits": args.commits, "models": args.models}
    try:
        t = time.perf_counter()
        build_log_repo(log_repo, args.commits, env)
        build_diff_repo(diff_repo, args.models, env)
        out["build_seconds"] = round(time.perf_counter() - t, 2)

        from gitmodels import history
        from gitmodels.housekeeping import gc
        from gitmodels.repo import Repo

        here = os.getcwd()
        os.chdir(log_repo)
        try:
            model = "models/churn-v2.bin"
            cold, warm, versions = best(lambda: history.log(Repo("."), model), args.repeat)
            assert len(versions) == args.commits + 1, len(versions)  # + the rename
            out["log"] = {"versions": len(versions), "cold_s": round(cold, 4), "warm_s": round(warm, 4),
                          "cli_s": round(cli(log_repo, env, "log", model, "--json"), 4), "target_s": 1.0}
            cold, warm, _ = best(lambda: history.log(Repo("."), model, limit=10), args.repeat)
            out["log_limit_10"] = {"cold_s": round(cold, 4), "warm_s": round(warm, 4)}
            cold, warm, plan = best(lambda: gc.plan(Repo("."), offline=True), 1)
            out["gc_plan_offline"] = {"commits": args.commits, "cold_s": round(cold, 4), "warm_s": round(warm, 4)}
        finally:
            os.chdir(here)
        os.chdir(diff_repo)
        try:
            cold, warm, result = best(lambda: history.diff(Repo("."), "HEAD~1", "HEAD"), args.repeat)
            assert len(result.changes) == args.models, len(result.changes)
            out["diff"] = {"changed": len(result.changes), "cold_s": round(cold, 4), "warm_s": round(warm, 4),
                           "cli_s": round(cli(diff_repo, env, "diff", "HEAD~1", "HEAD", "--json"), 4),
                           "target_s": 0.5}
            cold, warm, result = best(lambda: history.diff(Repo("."), "HEAD"), args.repeat)
            out["diff_workspace_unchanged"] = {"models": args.models, "cold_s": round(cold, 4),
                                               "warm_s": round(warm, 4)}
        finally:
            os.chdir(here)
        out["cli_startup_s"] = round(cli(diff_repo, env, "--version"), 4)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
