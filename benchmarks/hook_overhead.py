"""What the git hooks cost when they have nothing to do.

In a repository with 100 tracked models, time:
- `git checkout` between two branches that differ only in code (no pointer changes);
- `git push` of a new commit (code only) to a branch the server has, and of a new branch;
each with the hooks installed and with hooks turned off (`-c core.hooksPath=<empty dir>`,
`push --no-verify`), alternating the two so machine load hits both alike. Prints the
medians and the milliseconds the hooks add.

With --compare (default when the tools are there), the same loops run in a Git LFS
repository (`git lfs install --local`) and a DVC repository (`dvc install`) with 100
tracked files each.

Targets (issue 3): at most 20 ms added per checkout, at most 100 ms per push.

    python benchmarks/hook_overhead.py [-n 30] [--models 100] [--no-compare] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DVC_CANDIDATES = [Path.home() / ".cache" / "gitmodels-bench" / "dvc-venv" / "bin" / "dvc"]
ENV_DROP = ("GIT_", "GITMODELS_")


def make_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP)}
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


class Bench:
    def __init__(self, root: Path):
        self.root = root
        self.env = make_env(root / "home")
        self.no_hooks = root / "no-hooks"
        self.no_hooks.mkdir()

    def run(self, cwd: Path, *cmd: str, env: dict | None = None) -> float:
        start = time.perf_counter()
        proc = subprocess.run(list(cmd), cwd=cwd, env=env or self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed in {cwd}:\n{proc.stdout}{proc.stderr}")
        return elapsed

    def git(self, cwd: Path, *args: str) -> float:
        return self.run(cwd, "git", *args)

    # -- repositories ---------------------------------------------------------------------

    def server(self, name: str) -> Path:
        bare = self.root / f"{name}.git"
        self.git(self.root, "init", "-q", "--bare", "-b", "main", str(bare))
        return bare

    def clone(self, bare: Path, name: str) -> Path:
        path = self.root / name
        self.git(self.root, "clone", "-q", str(bare), str(path))
        return path

    def write_models(self, repo: Path, count: int) -> list[str]:
        folder = repo / "models"
        folder.mkdir(exist_ok=True)
        names = []
        for i in range(count):
            path = folder / f"model-{i:03d}.bin"
            path.write_bytes(os.urandom(4096) + i.to_bytes(4, "big"))
            names.append(f"models/model-{i:03d}.bin")
        return names

    def write_code(self, repo: Path, count: int = 200) -> None:
        src = repo / "src"
        src.mkdir(exist_ok=True)
        for i in range(count):
            (src / f"mod_{i:03d}.py").write_text(f"VALUE = {i}\n")

    def branches(self, repo: Path) -> None:
        """Branches a and b differ in one code file: a checkout between them changes no pointer."""
        self.git(repo, "checkout", "-q", "-b", "a")
        (repo / "src" / "mod_000.py").write_text("VALUE = 'a'\n")
        self.git(repo, "commit", "-q", "-am", "a")
        self.git(repo, "checkout", "-q", "-b", "b", "main")
        (repo / "src" / "mod_000.py").write_text("VALUE = 'b'\n")
        self.git(repo, "commit", "-q", "-am", "b")
        self.git(repo, "push", "-q", "origin", "a", "b")

    # -- measurements ---------------------------------------------------------------------

    def checkout_loop(self, repo: Path, n: int, branches: tuple[str, str] = ("a", "b")) -> dict[str, list[float]]:
        """Alternate hooked and hook-less checkouts between two branches; each sample is one checkout."""
        times: dict[str, list[float]] = {"hooks": [], "none": []}
        off = ("-c", f"core.hooksPath={self.no_hooks}")
        first, second = branches
        target = first
        for i in range(2 * n + 2):
            mode = "hooks" if i % 2 == 0 else "none"
            args = ("checkout", "-q", target) if mode == "hooks" else (*off, "checkout", "-q", target)
            elapsed = self.git(repo, *args)
            if i >= 2:  # warm-up
                times[mode].append(elapsed)
            target = second if target == first else first
        return times

    def push_loop(self, repo: Path, n: int, new_branch: bool) -> dict[str, list[float]]:
        """Commit code (untimed), push it (timed), alternating hooked and --no-verify pushes."""
        times: dict[str, list[float]] = {"hooks": [], "none": []}
        self.git(repo, "checkout", "-q", "a")
        for i in range(2 * n):
            mode = "hooks" if i % 2 == 0 else "none"
            (repo / "src" / "mod_001.py").write_text(f"VALUE = {i} + {new_branch}\n")
            self.git(repo, "commit", "-q", "-am", f"code {i}")
            ref = f"HEAD:refs/heads/bench-{new_branch}-{i}" if new_branch else "HEAD:refs/heads/a"
            args = ("push", "-q", "origin", ref) + (() if mode == "hooks" else ("--no-verify",))
            times[mode].append(self.git(repo, *args))
        return times


def summarize(label: str, times: dict[str, list[float]], target_ms: float | None) -> dict:
    hooks = statistics.median(times["hooks"]) * 1000
    none = statistics.median(times["none"]) * 1000
    row = {"case": label, "with_hooks_ms": round(hooks, 1), "without_ms": round(none, 1),
           "added_ms": round(hooks - none, 1), "ratio": round(hooks / none, 2) if none else None,
           "samples": len(times["hooks"])}
    if target_ms is not None:
        row["target_added_ms"] = target_ms
        row["ok"] = hooks - none <= target_ms
    return row


def setup_gitmodels(b: Bench, models: int) -> Path:
    bare = b.server("gitmodels")
    remote = b.root / "gitmodels-remote"
    remote.mkdir()
    repo = b.clone(bare, "gitmodels-repo")
    b.write_code(repo)
    b.run(repo, sys.executable, "-m", "gitmodels", "init", "--remote", str(remote))
    names = b.write_models(repo, models)
    b.run(repo, sys.executable, "-m", "gitmodels", "add", *names)
    b.git(repo, "add", "-A")
    b.git(repo, "commit", "-q", "-m", "models")
    b.git(repo, "push", "-q", "origin", "main")
    b.branches(repo)
    # m1 and m2 differ in one model: the hook starts Python and restores it
    for branch in ("m1", "m2"):
        b.git(repo, "checkout", "-q", "-b", branch, "main")
        (repo / "models" / "model-000.bin").write_bytes(os.urandom(4096))
        b.run(repo, sys.executable, "-m", "gitmodels", "add", "models/model-000.bin")
        b.git(repo, "commit", "-q", "-m", f"model-000 on {branch}")
    b.git(repo, "push", "-q", "origin", "m1", "m2")
    return repo


def setup_lfs(b: Bench, models: int) -> Path:
    bare = b.server("lfs")
    repo = b.clone(bare, "lfs-repo")
    b.git(repo, "lfs", "install", "--local")
    b.git(repo, "lfs", "track", "*.bin")
    b.write_code(repo)
    b.write_models(repo, models)
    b.git(repo, "add", "-A")
    b.git(repo, "commit", "-q", "-m", "models")
    b.git(repo, "push", "-q", "origin", "main")
    b.branches(repo)
    return repo


def setup_dvc(b: Bench, models: int, dvc: str) -> Path:
    bare = b.server("dvc")
    remote = b.root / "dvc-remote"
    remote.mkdir()
    repo = b.clone(bare, "dvc-repo")
    env = dict(b.env, DVC_NO_ANALYTICS="1", PATH=f"{os.path.dirname(dvc)}{os.pathsep}{b.env.get('PATH', '')}")
    b.env = env  # dvc's hooks run `dvc` from PATH
    b.run(repo, dvc, "init", "-q", env=env)
    b.run(repo, dvc, "remote", "add", "-d", "store", str(remote), env=env)
    b.write_code(repo)
    names = b.write_models(repo, models)
    b.run(repo, dvc, "add", "-q", *names, env=env)
    b.run(repo, dvc, "install", env=env)
    b.git(repo, "add", "-A")
    b.git(repo, "commit", "-q", "-m", "models")
    b.git(repo, "push", "-q", "origin", "main")
    b.branches(repo)
    return repo


def find_dvc() -> str | None:
    found = shutil.which("dvc")
    if found:
        return found
    for candidate in DVC_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=30, help="checkouts per mode (pushes: n/2)")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--compare", dest="compare", action="store_true", default=None,
                        help="also time Git LFS and DVC hooks (default: when installed)")
    parser.add_argument("--no-compare", dest="compare", action="store_false")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="gitmodels-hook-bench-"))
    rows = []
    try:
        b = Bench(root)
        print(f"setting up gitmodels repo with {args.models} models in {root}", file=sys.stderr)
        repo = setup_gitmodels(b, args.models)
        rows.append(summarize("gitmodels checkout (no pointer change)", b.checkout_loop(repo, args.n), 20))
        rows.append(summarize("gitmodels checkout (1 of the models changes)",
                              b.checkout_loop(repo, max(5, args.n // 3), ("m1", "m2")), None))
        pushes = max(5, args.n // 2)
        rows.append(summarize("gitmodels push, existing branch (no model change)",
                              b.push_loop(repo, pushes, False), 100))
        rows.append(summarize("gitmodels push, new branch (no model change)", b.push_loop(repo, pushes, True), 100))

        if args.compare is not False:
            if shutil.which("git-lfs"):
                print("setting up the Git LFS repo", file=sys.stderr)
                lb = Bench(root / "lfs")
                repo = setup_lfs(lb, args.models)
                rows.append(summarize("git-lfs checkout (no LFS change)", lb.checkout_loop(repo, args.n), None))
                rows.append(summarize("git-lfs push, existing branch", lb.push_loop(repo, pushes, False), None))
            elif args.compare:
                print("git-lfs not found: skipped", file=sys.stderr)
            dvc = find_dvc()
            if dvc:
                print(f"setting up the DVC repo ({dvc})", file=sys.stderr)
                db = Bench(root / "dvc")
                repo = setup_dvc(db, args.models, dvc)
                rows.append(summarize("dvc checkout (no .dvc change)", db.checkout_loop(repo, max(5, args.n // 3)),
                                      None))
                rows.append(summarize("dvc push, existing branch", db.push_loop(repo, 5, False), None))
            elif args.compare:
                print("dvc not found: skipped", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["case"]) for r in rows)
    print(f"{'case':<{width}}  {'hooks ms':>9}  {'none ms':>8}  {'added ms':>8}  {'ratio':>5}  target")
    for r in rows:
        target = ""
        if "target_added_ms" in r:
            target = f"<= {r['target_added_ms']:.0f} ms added: {'OK' if r['ok'] else 'MISSED'}"
        print(f"{r['case']:<{width}}  {r['with_hooks_ms']:>9.1f}  {r['without_ms']:>8.1f}  {r['added_ms']:>8.1f}  "
              f"{r['ratio']:>5.2f}  {target}")
    return 0 if all(r.get("ok", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
