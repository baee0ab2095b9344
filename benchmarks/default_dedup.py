#!/usr/bin/env python3
"""What a default install stores: two versions of a model that differ in one region, pushed with the CLI.

A fresh repository with a directory remote and the default config (no chunking setting,
no extra); v1 is --size seeded random bytes, v2 the same file with --change bytes rewritten
in the middle ("replace") or inserted there ("insert"). Each version is added, committed
and pushed with `gitmodels`; the script prints how much the remote grew with v2.

With --fresh-venv, gitmodels is first installed into a new virtualenv from this checkout
exactly as `pip install gitmodels` would (no extras: dedup must come with the core
dependencies), and that install runs the commands.

Target (issue 14): 256 MiB, 10 MiB changed: the remote grows by at most 16 MiB.

    python benchmarks/default_dedup.py [--size 256MiB] [--change 10MiB] [--fresh-venv] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib.data import MiB, insert_region, overwrite_region, write_random  # noqa: E402

TARGET = 16 * MiB


def parse_size(text: str) -> int:
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for unit, mult in units.items():
        if text.endswith(unit):
            return int(float(text[:-len(unit)]) * mult)
    return int(text)


def make_env(home: Path, keep_pythonpath: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITMODELS_"))}
    if not keep_pythonpath:
        env.pop("PYTHONPATH", None)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env.update({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def fresh_venv(where: Path, env: dict[str, str]) -> str:
    """A new virtualenv with this checkout installed the way a user installs it: no extras."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = str(where / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(HERE.parent)], check=True, env=env)
    shown = subprocess.run([python, "-m", "pip", "show", "pyfastcdc"], env=env, capture_output=True, text=True)
    print("venv: " + "; ".join(line for line in shown.stdout.splitlines() if line.startswith(("Version", "Required-by"))),
          file=sys.stderr)
    return python


def dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def run_case(python: str, env: dict[str, str], work: Path, v1: str, v2: str) -> dict:
    repo, remote = work / "repo", work / "remote"
    remote.mkdir()
    repo.mkdir()

    def sh(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True)

    def gm(*args: str) -> subprocess.CompletedProcess:
        return sh(python, "-m", "gitmodels", *args)

    sh("git", "init", "-q")
    gm("init", "--no-hooks", "--remote", str(remote))
    warnings = []
    sizes = []
    for n, src in enumerate((v1, v2), 1):
        shutil.copyfile(src, repo / "model.bin")
        added = gm("add", "model.bin")
        sh("git", "add", "-A")
        sh("git", "commit", "-qm", f"v{n}")
        t0 = time.perf_counter()
        pushed = gm("push")
        push_s = time.perf_counter() - t0
        warnings += [line for line in (added.stderr + pushed.stderr).splitlines() if "warning" in line]
        sizes.append((dir_bytes(remote), pushed.stdout.strip(), push_s))
    return {"remote_after_v1": sizes[0][0], "remote_after_v2": sizes[1][0],
            "growth": sizes[1][0] - sizes[0][0], "push_v2": sizes[1][1], "push_v2_s": round(sizes[1][2], 2),
            "recipes": len(list(remote.glob("recipes/*/*"))), "warnings": warnings}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="256MiB")
    ap.add_argument("--change", default="10MiB")
    ap.add_argument("--fresh-venv", action="store_true", help="pip install this checkout (no extras) into a new venv")
    ap.add_argument("--workdir", help="parent of the temporary folder (default: system temp)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    size, change = parse_size(args.size), parse_size(args.change)
    tmp = Path(tempfile.mkdtemp(prefix="gm-default-dedup-", dir=args.workdir))
    try:
        env = make_env(tmp / "home", keep_pythonpath=not args.fresh_venv)
        python = fresh_venv(tmp / "venv", env) if args.fresh_venv else sys.executable
        probe = subprocess.run([python, "-c", "import gitmodels; from gitmodels.chunking import unavailable_reason as r\n"
                                "print(gitmodels.__file__, '; dedup: ', r() or 'available', sep='')"],
                               env=env, capture_output=True, text=True, cwd=tmp)  # not this checkout by accident
        v1 = str(tmp / "v1.bin")
        write_random(v1, size, seed=1)
        out = {"size": size, "change": change, "python": python,
               "gitmodels": probe.stdout.strip() or probe.stderr.strip().splitlines()[-1], "cases": {}}
        for case, make in (("replace", overwrite_region), ("insert", insert_region)):
            v2 = str(tmp / f"v2-{case}.bin")
            make(v1, v2, size // 2, change, 2)
            work = tmp / case
            work.mkdir()
            out["cases"][case] = run_case(python, env, work, v1, v2)
            shutil.rmtree(work)
            os.unlink(v2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = all(c["growth"] <= TARGET for c in out["cases"].values()) if size == 256 * MiB else None
    out["target"] = {"max_growth": TARGET, "pass": ok}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"gitmodels from {out['gitmodels']} ({python})")
        for case, c in out["cases"].items():
            print(f"{case:8} {size / MiB:.0f} MiB, {change / MiB:.0f} MiB changed: remote {c['remote_after_v1'] / MiB:.1f}"
                  f" -> {c['remote_after_v2'] / MiB:.1f} MiB, grew {c['growth'] / MiB:.2f} MiB"
                  f" ({c['recipes']} recipes); v2 push {c['push_v2_s']} s: {c['push_v2']}")
            for w in sorted(set(c["warnings"])):
                print(f"         {c['warnings'].count(w)} command(s): {w}")
        if ok is not None:
            print(f"target: growth <= {TARGET / MiB:.0f} MiB: {'PASS' if ok else 'FAIL'}")
    return 1 if ok is False else 0


if __name__ == "__main__":
    sys.exit(main())
