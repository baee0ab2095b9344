"""What the catch-all hook (post-index-change, issue #24) adds to everyday git commands when nothing changed.

In a repository with 1000 tracked models (`gitmodels add`, committed), time
- `git status` (it refreshes and writes the index: git runs post-index-change with "0 0");
- `git add src/app.py` after an edit;
- `git commit` of that edit (code only: pre-commit's shell filter runs too);
- `git reset --hard` with no pointer change (the working tree was updated: the hook compares the
  pointers' listing with its record, two git processes, and starts no Python);
under three hook folders, rounds interleaved so machine load hits all alike:
`none` (an empty core.hooksPath), `without` (every gitmodels hook but post-index-change) and
`all` (what `gitmodels install` puts in). Prints the medians and the milliseconds post-index-change adds
(`all` - `without`); the whole hook set's cost is `all` - `none`.

Goal (issue #24): at most 5 ms added per command when nothing changed.

    PYTHONPATH=$PWD python benchmarks/index_hook_cost.py [-n 30] [--models 1000] [--json]
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

COMMANDS = ("status", "add", "commit", "reset --hard")
FOLDERS = ("none", "without", "all")


def make_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITMODELS_"))}
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


def run(cwd: Path, env: dict, *cmd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def setup(root: Path, models: int, env: dict) -> tuple[Path, dict[str, Path]]:
    repo = root / "repo"
    run(root, env, "git", "init", "-q", str(repo))
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print(0)\n")
    folder = repo / "models"
    folder.mkdir()
    for i in range(models):
        (folder / f"m{i:04d}.bin").write_bytes(os.urandom(64) + i.to_bytes(4, "big"))
    run(repo, env, sys.executable, "-m", "gitmodels", "init", "--remote", str(root / "remote"))
    run(repo, env, sys.executable, "-m", "gitmodels", "add", *(f"models/m{i:04d}.bin" for i in range(models)))
    run(repo, env, "git", "add", "-A")
    run(repo, env, "git", "commit", "-q", "-m", "models")
    hooks = Path(run_out(repo, env, "git", "rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else repo / hooks
    folders = {"none": root / "hooks-none", "without": root / "hooks-without", "all": hooks}
    folders["none"].mkdir()
    shutil.copytree(hooks, folders["without"])
    (folders["without"] / "post-index-change").unlink()
    assert (hooks / "post-index-change").exists(), "gitmodels install did not put post-index-change in"
    run(repo, env, "git", "reset", "-q", "--hard")  # the catch-all writes its record once
    return repo, folders


def run_out(cwd: Path, env: dict, *cmd: str) -> str:
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def measure(repo: Path, env: dict, folder: Path, command: str, counter: list[int]) -> float:
    git = ("git", "-c", f"core.hooksPath={folder}")
    if command == "status":
        return run(repo, env, *git, "status", "--porcelain")
    if command == "add":
        counter[0] += 1
        (repo / "src" / "app.py").write_text(f"print({counter[0]})\n")
        return run(repo, env, *git, "add", "src/app.py")
    if command == "commit":
        counter[0] += 1
        (repo / "src" / "app.py").write_text(f"print({counter[0]})\n")
        run(repo, env, "git", "add", "src/app.py")
        return run(repo, env, *git, "commit", "-q", "-m", f"code {counter[0]}")
    return run(repo, env, *git, "reset", "-q", "--hard")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="rounds per command and hook folder (default 30)")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gm-index-hook-") as tmp:
        root = Path(tmp)
        env = make_env(root / "home")
        repo, folders = setup(root, args.models, env)
        times = {(c, f): [] for c in COMMANDS for f in FOLDERS}
        counter = [0]
        record = repo / ".git" / "gitmodels" / "synced"
        stamp = record.stat().st_mtime_ns
        for _ in range(args.n):
            for command in COMMANDS:
                for name in FOLDERS:
                    times[(command, name)].append(measure(repo, env, folders[name], command, counter))
        python_ran = record.stat().st_mtime_ns != stamp
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    result = {"models": args.models, "rounds": args.n, "python_started": python_ran,
              "commands": {c: {**{f: round(ms[(c, f)], 2) for f in FOLDERS},
                               "post_index_change_adds": round(ms[(c, "all")] - ms[(c, "without")], 2),
                               "all_hooks_add": round(ms[(c, "all")] - ms[(c, "none")], 2)} for c in COMMANDS}}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.models} models, median of {args.n} rounds (ms); hook Python started: {python_ran}")
        print(f"{'command':<14}{'no hooks':>10}{'w/o p-i-c':>11}{'all hooks':>11}{'p-i-c adds':>12}{'all add':>9}")
        for c, row in result["commands"].items():
            print(f"{'git ' + c:<14}{row['none']:>10.2f}{row['without']:>11.2f}{row['all']:>11.2f}"
                  f"{row['post_index_change_adds']:>12.2f}{row['all_hooks_add']:>9.2f}")
    return result


if __name__ == "__main__":
    main()
