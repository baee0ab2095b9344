"""What "every clone follows checkouts" costs when there is nothing to do.

- the missing-hooks check every gitmodels command runs: `gitmodels status` with the check and
  with it off (GITMODELS_SKIP=1, which status does not otherwise read), alternated, in a
  repository with hooks installed and --models models; plus the check alone, in process;
- the hooks `gitmodels install --global` puts in every new repository, in one that does not use
  gitmodels: `git checkout` between two branches and `git commit`, with those hooks and without
  (`-c core.hooksPath=<empty dir>`), alternated.

    python benchmarks/follow_cost.py [-n 20] [--models 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_DROP = ("GIT_", "GITMODELS_")


def make_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP)}
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
               GIT_CONFIG_NOSYSTEM="1")
    return env


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def alternate(n: int, on, off) -> dict:
    times: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(2 * n + 2):
        mode = "on" if i % 2 == 0 else "off"
        elapsed = (on if mode == "on" else off)()
        if i >= 2:  # warm-up
            times[mode].append(elapsed)
    on_ms, off_ms = (statistics.median(times[m]) * 1000 for m in ("on", "off"))
    return {"with_ms": round(on_ms, 1), "without_ms": round(off_ms, 1), "added_ms": round(on_ms - off_ms, 1),
            "samples": n}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    gm = [sys.executable, "-m", "gitmodels"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="gitmodels-follow-bench-") as tmp:
        root = Path(tmp)
        env = make_env(root / "home")
        repo = root / "repo"
        subprocess.run(["git", "init", "-q", str(repo)], env=env, check=True)
        subprocess.run([*gm, "init", "--remote", str(root / "store")], cwd=repo, env=env, check=True,
                       capture_output=True)
        (repo / "models").mkdir()
        for i in range(args.models):
            (repo / "models" / f"m{i:03d}.bin").write_bytes(os.urandom(4096))
        names = sorted(f"models/{p.name}" for p in (repo / "models").iterdir())
        subprocess.run([*gm, "add", *names], cwd=repo, env=env, check=True, capture_output=True)
        subprocess.run(["git", "commit", "-qm", "models"], cwd=repo, env=env, check=True)

        rows["gitmodels status: missing-hooks check"] = alternate(
            args.n, lambda: timed([*gm, "status"], repo, env),
            lambda: timed([*gm, "status"], repo, dict(env, GITMODELS_SKIP="1")))
        probe = ("import time, gitmodels.repo, gitmodels.cli.common\n"
                 "t0 = time.perf_counter(); import gitmodels.hooks.events as h; t1 = time.perf_counter()\n"
                 "r = gitmodels.repo.Repo('.'); t2 = time.perf_counter(); w = h.hooks_warning(r)\n"
                 "t3 = time.perf_counter(); assert w is None, w\n"
                 "print((t1 - t0) * 1000, (t3 - t2) * 1000)")
        samples = [tuple(map(float, subprocess.run([sys.executable, "-c", probe], cwd=repo, env=env, check=True,
                                                   capture_output=True, text=True).stdout.split()))
                   for _ in range(args.n)]
        rows["in process: import gitmodels.hooks + first check"] = {
            "import_ms_median": round(statistics.median(s[0] for s in samples), 2),
            "check_ms_median": round(statistics.median(s[1] for s in samples), 2), "samples": args.n}

        # install --global, then a repository that does not use gitmodels
        subprocess.run([*gm, "install", "--global"], cwd=root, env=env, check=True, capture_output=True)
        plain = root / "plain"
        subprocess.run(["git", "init", "-q", str(plain)], env=env, check=True)
        for i in range(200):
            (plain / f"f{i:03d}.py").write_text(f"V = {i}\n")
        subprocess.run(["git", "add", "-A"], cwd=plain, env=env, check=True)
        subprocess.run(["git", "commit", "-qm", "code"], cwd=plain, env=env, check=True)
        subprocess.run(["git", "branch", "other"], cwd=plain, env=env, check=True)
        (plain / "f000.py").write_text("V = 'main'\n")
        subprocess.run(["git", "commit", "-qam", "main"], cwd=plain, env=env, check=True)
        empty = root / "no-hooks"
        empty.mkdir()
        off = ["-c", f"core.hooksPath={empty}"]
        state = {"branch": "other"}

        def checkout(extra: list[str]) -> float:
            elapsed = timed(["git", *extra, "checkout", "-q", state["branch"]], plain, env)
            state["branch"] = "main" if state["branch"] == "other" else "other"
            return elapsed

        rows["plain repo, global hooks: git checkout"] = alternate(args.n, lambda: checkout([]),
                                                                   lambda: checkout(off))
        counter = [0]

        def commit(extra: list[str]) -> float:
            counter[0] += 1
            (plain / "f001.py").write_text(f"V = 'commit {counter[0]}'\n")
            subprocess.run(["git", "add", "f001.py"], cwd=plain, env=env, check=True)
            return timed(["git", *extra, "commit", "-qm", f"c{counter[0]}"], plain, env)

        rows["plain repo, global hooks: git commit"] = alternate(args.n, lambda: commit([]), lambda: commit(off))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for name, row in rows.items():
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
