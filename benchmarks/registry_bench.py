"""How fast `gitmodels registry` reads every model, its latest version, aliases and metrics from git alone.

    python benchmarks/registry_bench.py [--commits 1000] [--models 100] [--repeat 5] [--keep DIR]

Builds a repository with `git fast-import`: N commits, each retraining one of
M models (round robin, except models/m0000, trained in the first commit only,
so finding its latest version walks the whole history), plus three moves of
`prod` and one of `staging` for every other model (M/2 * 4 annotated alias
tags). Times `gitmodels.registry.views.registry` in this process (cold: the
first call on a fresh Repo; warm: best of --repeat) and `gitmodels registry
--json` through the command line. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from history_bench import EPOCH, Stream, _env, best, cli, pointer_text  # noqa: E402


def build(path: str, commits: int, models: int, env: dict) -> None:
    import subprocess

    from gitmodels.registry.aliases import tag_name

    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    s = Stream()
    names = [f"models/group{i // 20}/m{i:04d}.bin" for i in range(models)]
    first = {n + ".gitmodel": pointer_text(n, 0) for n in names}
    first["gitmodels.toml"] = b"version = 1\n"
    s.commit("first", first)
    marks = {}
    for i in range(1, commits):
        n = names[1 + (i % (models - 1))]
        s.commit(f"train {n} run {i}", {n + ".gitmodel": pointer_text(n, i), "src/train.py": f"R = {i}\n".encode()})
        marks.setdefault(n, []).append(s.mark)
    for k, n in enumerate(names[1::2]):
        history = marks.get(n, [1])
        for number, (alias, mark) in enumerate([("prod", history[0]), ("prod", history[len(history) // 2]),
                                                ("prod", history[-1])], start=1):
            s.parts.append(f"tag {tag_name(n, alias, number)}\nfrom :{mark}\n"
                           f"tagger Bench <bench@example.com> {EPOCH + 10 * k + number} +0000\n".encode())
            s.data(f"move {alias}".encode())
        s.parts.append(f"tag {tag_name(n, 'staging', 1)}\nfrom :{history[-1]}\n"
                       f"tagger Bench <bench@example.com> {EPOCH + 10 * k} +0000\n".encode())
        s.data(b"staging")
    s.run(path, env)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="Build in DIR and keep it (default: a temp dir, removed).")
    args = ap.parse_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="gm-registry-bench-")
    try:
        env = _env(os.path.join(root, "home"))
        repo_path = os.path.join(root, "registry-repo")
        build(repo_path, args.commits, args.models, env)
        from gitmodels.registry import views
        from gitmodels.repo import Repo

        with Repo(repo_path) as repo:
            cold, warm, entries = best(lambda: views.registry(repo), args.repeat)
        with_aliases = sum(1 for e in entries if e.aliases)
        assert len(entries) == args.models and all(e.commit for e in entries), "a model has no latest version"
        cli_s = cli(repo_path, env, "registry", "--json")
        print(json.dumps({"commits": args.commits, "models": args.models, "models_with_aliases": with_aliases,
                          "alias_tags": (args.models // 2) * 4, "registry_cold_s": round(cold, 3),
                          "registry_warm_s": round(warm, 3), "cli_registry_json_s": round(cli_s, 3)}, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
