"""How fast `gitmodels ui` answers its first page (target: < 1 s for 1000 commits and 100 models).

    python benchmarks/ui_bench.py [--commits 1000] [--models 100] [--repeat 3] [--keep DIR]

Builds a repository with `git fast-import` (history_bench's stream and pointer form): N commits on
main, each retraining one of M models in turn (so every model has N/M versions spread over the
whole history), a branch `exp` forked 50 commits back with 5 commits of its own, and a tag every
100 commits. Then starts the real server (`gitmodels.ui.server`, in a thread of this process) on a
free port and times over HTTP, cold (a fresh server and Repo) and warm (best of --repeat):

- `first_page`: everything the browser asks for to draw the model list: `/`, `/static/app.css`,
  `/static/app.js`, `/data.js`, `/api/index`;
- `model_page`: `/api/model` of one model (every version on main and exp, the refs of each);
- `version`: `/api/version` of that model's newest version (the diff view asks for two).

Also `gitmodels report` (every page embedded) over the same repository, for information.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from history_bench import Stream, _env, pointer_text  # noqa: E402

FIRST_PAGE = ["/", "/static/app.css", "/static/app.js", "/data.js", "/api/index"]


def build(path: str, commits: int, models: int, env: dict) -> list[str]:
    subprocess.run(["git", "init", "-q", "-b", "main", path], env=env, check=True)
    s = Stream()
    names = [f"models/group{i // 20}/m{i:03d}.bin.gitmodel" for i in range(models)]
    for i in range(commits):
        files = {names[i % models]: pointer_text(f"m{i % models}", i), "src/train.py": f"RUN = {i}\n".encode()}
        if i == 0:
            files.update({n: pointer_text(f"m{k}", k) for k, n in enumerate(names)})
            files["gitmodels.toml"] = b"version = 1\n"
        s.commit(f"train run {i}", files)
    s.run(path, env)
    git = lambda *a: subprocess.run(["git", *a], cwd=path, env=env, check=True, capture_output=True)  # noqa: E731
    for i in range(100, commits + 1, 100):
        git("tag", f"v{i // 100}", f"main~{commits - i}")
    git("switch", "-q", "-c", "exp", "main~50")
    for i in range(5):
        with open(os.path.join(path, names[0]), "wb") as f:
            f.write(pointer_text("exp", i))
        git("commit", "-qam", f"exp {i}")
    git("switch", "-q", "main")
    return [n[: -len(".gitmodel")] for n in names]


def fetch(port: int, paths: list[str]) -> tuple[float, int]:
    """Seconds for the requests one after another (as the page makes them), and bytes received."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    total = 0
    t = time.perf_counter()
    for p in paths:
        conn.request("GET", p)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (p, resp.status, body[:200])
        total += len(body)
    took = time.perf_counter() - t
    conn.close()
    return took, total


def timed(paths: list[str], repeat: int) -> dict:
    from gitmodels.repo import Repo
    from gitmodels.ui import server

    httpd = server.serve(Repo("."))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        cold, size = fetch(port, paths)
        warm = min(fetch(port, paths)[0] for _ in range(repeat))
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {"cold_s": round(cold, 4), "warm_s": round(warm, 4), "bytes": size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="Build in DIR and keep it (default: a temp dir, removed).")
    args = ap.parse_args(argv)

    root = args.keep or tempfile.mkdtemp(prefix="gm-ui-bench-")
    os.makedirs(root, exist_ok=True)
    env = _env(os.path.join(root, "home"))
    os.environ.update({k: env[k] for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
    repo = os.path.join(root, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    out: dict = {"commits": args.commits, "models": args.models}
    here = os.getcwd()
    try:
        t = time.perf_counter()
        names = build(repo, args.commits, args.models, env)
        out["build_seconds"] = round(time.perf_counter() - t, 2)
        os.chdir(repo)
        from urllib.parse import quote

        from gitmodels.repo import Repo
        from gitmodels.ui import data

        with Repo(".") as r:
            assert len(data.index(r)["models"]) == args.models
            doc = data.model(r, names[0])
        newest = doc["versions"][-1]["commit"]
        out["first_page"] = {**timed(FIRST_PAGE, args.repeat), "target_s": 1.0}
        out["model_page"] = {"versions": len(doc["versions"]),
                             **timed([f"/api/model?path={quote(names[0])}"], args.repeat)}
        out["version"] = timed([f"/api/version?path={quote(doc['versions'][-1]['path'])}&commit={newest}"],
                               args.repeat)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gitmodels", "report", "-o", os.path.join(root, "site")], check=True,
                       stdout=subprocess.DEVNULL)
        out["report_cli_s"] = round(time.perf_counter() - t, 2)
    finally:
        os.chdir(here)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
