#!/usr/bin/env python3
"""One directory of many small files, gitmodels vs DVC vs cp/sha256sum/tar (issue #26).

    python benchmarks/many_files.py [--quick] [--files 10000,100000] [--s3-files 3000] [--editable] [--out DIR]

For each N of --files, `data/` holds N files of 2 KiB of seeded pseudo-random bytes in 100
subfolders. Each tool, in its own repository with a bare git repository as `origin` and a
directory model remote on the same disk, runs once, in order: add, `git commit` of the pointer,
push (the tool's upload, then `git push` timed on its own: gitmodels' pre-push hook runs there),
`git clone` + pull into a fresh clone (the pulled tree is compared file by file, by SHA-256, with
the original), a no-op status (median of 5 after one warm-up), then one file changed: add,
commit, push, and a pull of that change into the clone (verified again). The anchors are
`cp -r data`, `sha256sum` of every file and the pipe `tar c | tar x` (medians of 3).
Then the same push and pull against moto S3 at --s3-files files, counting the HTTP requests
each made: moto's werkzeug server logs one line per request it answered; the lines written to
its log during the step are counted (moto's own /moto-api/ calls left out).

Peak RSS is wait4's ru_maxrss through GNU time (benchlib/proc.py). The page cache is warm
(everything was just written); dirty pages are flushed (sync) before each timed command.
Any failing command or a pulled tree that differs from the original stops the run with exit 1
(the numbers so far are still written). With --check, a FAIL target exits 2.

gitmodels is a wheel of this checkout in a fresh venv (--editable: the gitmodels of this
Python, e.g. with PYTHONPATH set to a checkout); DVC comes from ~/.cache/gitmodels-bench/dvc-venv
(installed on first use). Writes results-many-files.md and .json to --out. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import env as benv  # noqa: E402
from benchlib.proc import CommandFailed, Result  # noqa: E402
from benchlib.report import fmt_value  # noqa: E402
from benchlib.results import Results  # noqa: E402
from benchlib.tools import Ctx  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SUBFOLDERS = 100
FILE_SIZE = 2048
ISSUE = 26
TOOLS = ("gitmodels", "dvc")
STATUS_RUNS = 5
ANCHOR_RUNS = 3


class Mismatch(Exception):
    """A pulled tree is not byte-identical with the original."""


# ------------------------------------------------------------------------------- data

def make_tree(parent: str, n: int, seed: int) -> str:
    """parent/data/dXX/fNNNNNN.bin: n files of FILE_SIZE seeded bytes, file i in folder i % 100."""
    rng = random.Random(seed)
    root = os.path.join(parent, "data")
    for k in range(SUBFOLDERS):
        os.makedirs(os.path.join(root, f"d{k:02d}"))
    for i in range(n):
        with open(os.path.join(root, f"d{i % SUBFOLDERS:02d}", f"f{i:06d}.bin"), "wb") as f:
            f.write(rng.randbytes(FILE_SIZE))
    return root


def digest(root: str) -> dict[str, str]:
    """{relative path: sha256} of every file under root (symlinks followed: a linked workspace is fine)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def verify(expected: dict[str, str], root: str, what: str) -> None:
    got = digest(root)
    if got == expected:
        return
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    raise Mismatch(f"{what}: {root} differs from the original: {len(missing)} missing (e.g. {missing[:3]}), "
                   f"{len(extra)} extra (e.g. {extra[:3]}), {len(differ)} with other bytes (e.g. {differ[:3]})")


def change_one(root: str, seed: int) -> str:
    """Replace one file with new bytes (write + rename, as a training script saving a file does)."""
    path = os.path.join(root, "d00", "f000000.bin")
    with open(path + ".tmp", "wb") as f:
        f.write(random.Random(seed).randbytes(FILE_SIZE))
    os.replace(path + ".tmp", path)
    return path


# ------------------------------------------------------------------------------- requests

REQUEST_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')


class MotoRequests:
    """Requests moto answered, from its log: werkzeug writes one line per request, flushed at once."""

    def __init__(self, log_path: str):
        self.path = log_path

    def mark(self) -> int:
        return os.path.getsize(self.path)

    def since(self, offset: int) -> Counter:
        """{method: count} of the requests logged after offset (waits until the log stops growing)."""
        size = -1
        while size != os.path.getsize(self.path):
            size = os.path.getsize(self.path)
            time.sleep(0.3)
        with open(self.path, "rb") as f:
            f.seek(offset)
            text = f.read(size - offset).decode(errors="replace")
        counts: Counter = Counter()
        for m in REQUEST_LINE.finditer(text):
            if not m.group(2).startswith("/moto-api"):
                counts[m.group(1)] += 1
        return counts


def describe_requests(c: Counter) -> str:
    return ", ".join(f"{n} {m}" for m, n in c.most_common()) or "none"


# ------------------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, ctx: Ctx, res: Results, gm_exe: str):
        self.ctx = ctx
        self.res = res
        self.gm_exe = gm_exe

    # -- commands
    def timed(self, workload: str, case: str, tool: str, cmd, cwd: str, **extra) -> Result:
        """Run one timed command (after a sync) and add its row; CommandFailed stops the run."""
        os.sync()
        r = self.ctx.run(cmd, cwd=cwd, timeout=3600)
        self.res.add(workload, case, tool, samples=[r], extra=extra or None)
        benv.log(f"{workload} {tool} {case}: {r.wall:.2f} s, {r.rss_mb:.0f} MiB")
        return r

    def repeat(self, workload: str, case: str, tool: str, cmd, cwd: str, runs: int, warmup: bool = False) -> dict:
        if warmup:
            self.ctx.run(cmd, cwd=cwd)
        samples = []
        for _ in range(runs):
            os.sync()
            samples.append(self.ctx.run(cmd, cwd=cwd, timeout=3600))
        row = self.res.add(workload, case, tool, samples=samples)
        benv.log(f"{workload} {tool} {case}: median {row['median']:.3f} s of {runs}")
        return row

    def git(self, repo: str, *args: str) -> None:
        self.ctx.run(["git", *args], cwd=repo)

    def gm(self, *args: str) -> list[str]:
        return [self.gm_exe, *args]

    @staticmethod
    def dvc(*args: str) -> list[str]:
        return [benv.DVC_BIN, *args]

    def copy_in(self, src: str, repo: str) -> None:
        self.ctx.run(["cp", "-r", src, os.path.join(repo, "data")])

    # -- repositories
    def new_repo(self, tool: str, tag: str, remote_url: str, endpoint: str | None = None) -> tuple[str, str]:
        """(work tree, bare origin) of a repository set up for tool, with its model remote, committed."""
        bare = os.path.join(self.ctx.workdir, f"{tool}-{tag}.git")
        self.ctx.run(["git", "init", "-q", "--bare", bare])
        repo = self.ctx.git_init(os.path.join(self.ctx.workdir, f"{tool}-{tag}"))
        self.git(repo, "remote", "add", "origin", bare)
        if tool == "gitmodels":
            if endpoint is None:
                self.ctx.run(self.gm("init", "--remote", remote_url), cwd=repo)
            else:
                self.ctx.run(self.gm("init"), cwd=repo)
                self.ctx.run(self.gm("remote", "add", "origin", remote_url, "-s", f"endpoint_url={endpoint}",
                                     "--default"), cwd=repo)
        else:
            self.ctx.run(self.dvc("init", "-q"), cwd=repo)
            self.ctx.run(self.dvc("config", "core.analytics", "false"), cwd=repo)
            self.ctx.run(self.dvc("config", "core.autostage", "true"), cwd=repo)
            self.ctx.run(self.dvc("remote", "add", "-d", "bench", remote_url), cwd=repo)
            if endpoint is not None:
                self.ctx.run(self.dvc("remote", "modify", "bench", "endpointurl", endpoint), cwd=repo)
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", f"{tool} set up")
        self.git(repo, "push", "-q", "origin", "HEAD:main")
        return repo, bare

    def add_cmd(self, tool: str):
        return self.gm("add", "data") if tool == "gitmodels" else self.dvc("add", "-q", "data")

    def push_cmd(self, tool: str):
        return self.gm("push") if tool == "gitmodels" else self.dvc("push", "-q")

    def pull_cmd(self, tool: str):
        return self.gm("pull") if tool == "gitmodels" else self.dvc("pull", "-q")

    def status_cmd(self, tool: str):
        return self.gm("status") if tool == "gitmodels" else self.dvc("status")

    def clone(self, tool: str, bare: str, dst: str, workload: str | None = None) -> str:
        cmd = ["git", "clone", "-q", bare, dst]
        if workload:
            self.timed(workload, "git clone", tool, cmd, self.ctx.workdir)
        else:
            self.ctx.run(cmd, cwd=self.ctx.workdir)
        if tool == "gitmodels":
            # hooks for the clone, without restoring the models: the timed pull does that
            self.ctx.run(self.gm("install", "--no-checkout"), cwd=dst)
        return dst

    # -- the workloads
    def anchors(self, w: str, src_parent: str, expected: dict[str, str]) -> list[str]:
        """cp -r, sha256sum and the tar pipe, interleaved, each copy into a folder of its own (nothing is
        deleted between timed runs: on this ext4 with `discard`, deleting 10 000 files slows the next
        writes). Returns the folders to delete once the N is done."""
        runs: dict[str, list[Result]] = {"cp -r": [], "sha256sum": [], "tar pipe": []}
        made = []
        for i in range(ANCHOR_RUNS):
            cp_dst = os.path.join(self.ctx.workdir, f"anchor-cp-{i}")
            tar_dst = os.path.join(self.ctx.workdir, f"anchor-tar-{i}")
            os.makedirs(cp_dst)
            os.makedirs(tar_dst)
            made += [cp_dst, tar_dst]
            for name, cmd in (("cp -r", ["cp", "-r", "data", os.path.join(cp_dst, "data")]),
                              ("sha256sum", "find data -type f -print0 | xargs -0 sha256sum > /dev/null"),
                              ("tar pipe", f"tar c -C {src_parent} data | tar x -C {tar_dst}")):
                os.sync()
                runs[name].append(self.ctx.run(cmd, cwd=src_parent, timeout=3600))
            verify(expected, os.path.join(tar_dst, "data"), "tar pipe")
        for name, rs in runs.items():
            row = self.res.add(w, "push" if name == "tar pipe" else "add", name, samples=rs)
            benv.log(f"{w} {name}: median {row['median']:.3f} s of {ANCHOR_RUNS}")
            if name == "tar pipe":
                self.res.rows.append(dict(row, case="pull", note="the same runs as the push row"))
        return made

    def record(self, w: str, prefix: str, tool: str, repo: str, message: str) -> None:
        """The timed add, `git commit`, push and `git push` of the data as it is now, steps named `prefix`+step."""
        self.timed(w, f"{prefix}add", tool, self.add_cmd(tool), repo)
        self.git(repo, "add", "-A")
        self.timed(w, f"{prefix}git commit", tool, ["git", "commit", "-q", "-m", message], repo)
        self.timed(w, f"{prefix}push", tool, self.push_cmd(tool), repo)
        self.timed(w, f"{prefix}git push", tool, ["git", "push", "-q", "origin", "HEAD:main"], repo)

    def source(self, w: str, name: str, n: int, seed: int) -> tuple[str, str, dict[str, str]]:
        """(parent, its data/ of n seeded files, their digests) in a new folder `name` of the workdir."""
        src_parent = os.path.join(self.ctx.workdir, name)
        benv.log(f"{w}: writing {n} files of {FILE_SIZE} bytes")
        make_tree(src_parent, n, seed)
        src = os.path.join(src_parent, "data")
        return src_parent, src, digest(src)

    def local(self, n: int, seed: int) -> None:
        w = f"dir-{n}"
        src_parent, src, expected = self.source(w, f"src-{n}", n, seed)
        done = self.anchors(w, src_parent, expected)
        for tool in TOOLS:
            remote = os.path.join(self.ctx.workdir, f"remote-{tool}-{n}")
            repo, bare = self.new_repo(tool, f"{n}", remote)
            self.copy_in(src, repo)
            self.record(w, "", tool, repo, "data")
            clone = self.clone(tool, bare, os.path.join(self.ctx.workdir, f"{tool}-{n}-clone"), w)
            self.timed(w, "pull", tool, self.pull_cmd(tool), clone)
            verify(expected, os.path.join(clone, "data"), f"{tool} pull")
            self.repeat(w, "status (no-op)", tool, self.status_cmd(tool), repo, STATUS_RUNS, warmup=True)
            # one file changed
            change_one(os.path.join(repo, "data"), seed + 1)
            changed = digest(os.path.join(repo, "data"))
            self.record(w, "1 file: ", tool, repo, "one file")
            # the change into the clone: git without hooks (gitmodels' post-merge would restore it), then pull
            self.ctx.run(["git", "-c", "core.hooksPath=/dev/null", "pull", "-q", "--ff-only"], cwd=clone)
            self.timed(w, "1 file: pull", tool, self.pull_cmd(tool), clone)
            verify(changed, os.path.join(clone, "data"), f"{tool} pull of the one-file change")
            done += [repo, bare, clone, remote]
        Ctx.rm(src_parent, *done)  # after every tool ran: no tool's timing pays for another's deletes

    def s3(self, n: int, seed: int) -> None:
        w = f"s3-{n}"
        src_parent, src, expected = self.source(w, f"src-s3-{n}", n, seed)
        benv.log(f"{w}: starting moto")
        moto = self.ctx.s3()
        counter = MotoRequests(os.path.join(self.ctx.workdir, "moto.log"))
        done: list[str] = []
        for tool in TOOLS:
            bucket = f"many-files-{tool}-{n}"
            moto.make_bucket(bucket)
            repo, bare = self.new_repo(tool, f"s3-{n}", f"s3://{bucket}/models", endpoint=moto.endpoint)
            self.copy_in(src, repo)
            self.ctx.run(self.add_cmd(tool), cwd=repo)
            self.git(repo, "add", "-A")
            self.git(repo, "commit", "-q", "-m", "data")
            for step, cwd in (("push", repo), ("pull", None)):
                if cwd is None:
                    self.git(repo, "push", "-q", "origin", "HEAD:main")
                    cwd = self.clone(tool, bare, os.path.join(self.ctx.workdir, f"{tool}-s3-{n}-clone"))
                mark = counter.mark()
                r = self.timed(w, step, tool, self.push_cmd(tool) if step == "push" else self.pull_cmd(tool), cwd)
                reqs = counter.since(mark)
                row = self.res.rows[-1]
                row["requests"] = sum(reqs.values())
                row["requests_by_method"] = dict(reqs)
                row["note"] = describe_requests(reqs)
                benv.log(f"{w} {tool} {step}: {row['requests']} requests ({row['note']}), {r.wall:.2f} s")
            verify(expected, os.path.join(cwd, "data"), f"{tool} S3 pull")
            done += [repo, bare, cwd]
        Ctx.rm(src_parent, *done)


# ------------------------------------------------------------------------------- targets and report

def targets(res: Results, sizes: list[int], s3n: int | None) -> None:
    for n in sizes:
        w = f"dir-{n}"
        res.ratio_target(f"add-{n}", ISSUE, f"N={n}: add ≤ 2× (cp -r + sha256sum)",
                         (w, "add", "gitmodels"), [(w, "add", "cp -r"), (w, "add", "sha256sum")], 2.0)
        for step in ("push", "pull"):
            res.ratio_target(f"{step}-tar-{n}", ISSUE, f"N={n}: {step} ≤ 3× tar pipe",
                             (w, step, "gitmodels"), (w, step, "tar pipe"), 3.0)
            res.ratio_target(f"{step}-dvc-{n}", ISSUE, f"N={n}: {step} ≤ 0.5× DVC",
                             (w, step, "gitmodels"), (w, step, "dvc"), 0.5)
        for case in ("git commit", "1 file: git commit"):
            res.target(f"{case}-{n}", ISSUE, f"N={n}: {case} ≤ 0.2 s", res.med(w, case, "gitmodels"), 0.2, "s",
                       reason=res.why(w, case, "gitmodels"))
        res.target(f"status-{n}", ISSUE, f"N={n}: no-op status ≤ 0.5 s", res.med(w, "status (no-op)", "gitmodels"),
                   0.5, "s", reason=res.why(w, "status (no-op)", "gitmodels"))
        for step in ("add", "push", "pull"):
            row = res.get(w, step, "gitmodels")
            rss = row.get("peak_rss_mb") if row and row["status"] == "ok" else None
            res.target(f"rss-{step}-{n}", ISSUE, f"N={n}: peak RSS of {step} ≤ 256 MiB", rss, 256, "MiB",
                       reason=res.why(w, step, "gitmodels"))
    if s3n:
        w = f"s3-{s3n}"
        for step in ("push", "pull"):
            row = res.get(w, step, "gitmodels")
            val = row.get("requests") if row and row["status"] == "ok" else None
            res.target(f"s3-requests-{step}", ISSUE, f"S3, N={s3n}: requests of {step} ≤ 40", val, 40, "requests",
                       reason=res.why(w, step, "gitmodels"), detail=row.get("note", "") if row else "")


LOCAL_STEPS = ("add", "git commit", "push", "git push", "git clone", "pull", "status (no-op)",
               "1 file: add", "1 file: git commit", "1 file: push", "1 file: git push", "1 file: pull")
ANCHOR_OF = {"add": ("cp -r", "sha256sum"), "push": ("tar pipe",), "pull": ("tar pipe",)}


def _value(t: dict) -> str:
    if t["unit"] == "requests":
        return f"{t['value']:.0f} requests"
    return fmt_value(t["value"], t["unit"])


def _s(v) -> str:
    return fmt_value(v, "s") if v is not None else "—"


def _rss(res: Results, w: str, case: str, tool: str) -> str:
    row = res.get(w, case, tool)
    return f"{row['peak_rss_mb']:.0f}" if row and row.get("peak_rss_mb") is not None else "—"


def markdown(res: Results, meta: dict) -> str:
    m = meta["machine"]
    v = m["versions"]
    L = ["# Directories of many small files (issue #26)", ""]
    L.append(f"- date: {m['date']}; wall time of the run: {meta.get('elapsed_s', 0):.0f} s; status: {meta['status']}")
    L.append(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, {m['filesystem']} filesystem, "
             f"Python {m['python']}")
    L.append(f"- versions: {v['gitmodels']}; DVC {v['dvc']} ({v['dvc plugins']}); {v['git']}; moto {v['moto']}")
    L.append(f"- commit measured: {meta['commit']}")
    L.append(f"- workload: `data/` of N files × {FILE_SIZE} bytes of seeded random bytes in {SUBFOLDERS} folders; "
             "directory remote and bare `origin` on the same disk; warm page cache (sync before each timed "
             "command); one run per step, medians of "
             f"{STATUS_RUNS} (status, after a warm-up) and {ANCHOR_RUNS} (anchors); RSS in MiB (ru_maxrss)")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | limit | result | detail |")
    L.append("|---|---|---|---|---|")
    for t in res.targets:
        meas = _value(t) if t["value"] is not None else "n/a"
        detail = (t["detail"] or t["reason"] or "").replace("|", "\\|")
        L.append(f"| {t['target']} | {meas} | ≤ {_value(dict(t, value=t['limit']))} | **{t['result']}** | {detail} |")
    L.append("")
    for n in meta["files"]:
        w = f"dir-{n}"
        if not any(r["workload"] == w for r in res.rows):
            continue
        L.append(f"## N = {n:,} files, directory remote")
        L.append("")
        L.append("| step | anchor | gitmodels | DVC | gitmodels ÷ anchor | gitmodels ÷ DVC | RSS gitmodels | RSS DVC |")
        L.append("|---|---|---|---|---|---|---|---|")
        for case in LOCAL_STEPS:
            gm, dv = res.med(w, case, "gitmodels"), res.med(w, case, "dvc")
            names = ANCHOR_OF.get(case, ())
            anchor = anchor_txt = None
            if names and all(res.med(w, case, a) is not None for a in names):
                anchor = sum(res.med(w, case, a) for a in names)
                anchor_txt = f"{_s(anchor)} ({' + '.join(names)})"
            r_anchor = f"{gm / anchor:.2f}" if gm is not None and anchor else ""
            r_dvc = f"{gm / dv:.2f}" if gm is not None and dv else ""
            L.append(f"| {case} | {anchor_txt or ''} | {_s(gm)} | {_s(dv)} | {r_anchor} | {r_dvc} | "
                     f"{_rss(res, w, case, 'gitmodels')} | {_rss(res, w, case, 'dvc')} |")
        L.append("")
    s3 = meta.get("s3_files")
    w = f"s3-{s3}"
    if s3 and any(r["workload"] == w for r in res.rows):
        L.append(f"## N = {s3:,} files, moto S3: time and HTTP requests")
        L.append("")
        L.append("| step | gitmodels | requests | DVC | requests | gitmodels ÷ DVC | RSS gitmodels | RSS DVC |")
        L.append("|---|---|---|---|---|---|---|---|")
        for case in ("push", "pull"):
            g, d = res.get(w, case, "gitmodels") or {}, res.get(w, case, "dvc") or {}
            gm, dv = res.med(w, case, "gitmodels"), res.med(w, case, "dvc")
            L.append(f"| {case} | {_s(gm)} | {g.get('requests', '—')} ({g.get('note', '')}) | {_s(dv)} | "
                     f"{d.get('requests', '—')} ({d.get('note', '')}) | "
                     f"{f'{gm / dv:.2f}' if gm is not None and dv else ''} | {_rss(res, w, case, 'gitmodels')} | "
                     f"{_rss(res, w, case, 'dvc')} |")
        L.append("")
        L.append("Requests: lines moto's werkzeug server logged while the step ran (one per request answered; "
                 "moto's /moto-api/ left out).")
        L.append("")
    if meta.get("error"):
        L.append(f"**The run stopped:** {meta['error']}")
        L.append("")
    return "\n".join(L) + "\n"


def write(res: Results, meta: dict, out: str) -> tuple[str, str]:
    os.makedirs(out, exist_ok=True)
    jpath = os.path.join(out, "results-many-files.json")
    with open(jpath, "w") as f:
        json.dump({"meta": meta, "targets": res.targets, "rows": res.rows}, f, indent=1)
    mpath = os.path.join(out, "results-many-files.md")
    with open(mpath, "w") as f:
        f.write(markdown(res, meta))
    return jpath, mpath


# ------------------------------------------------------------------------------- main

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", default="10000,100000", help="comma-separated file counts (default 10000,100000)")
    p.add_argument("--s3-files", type=int, default=None,
                   help="files of the S3 push/pull with request counts (default 3000; --quick: 2000; 0: skip)")
    p.add_argument("--quick", action="store_true", help="2000 files only (directory and S3)")
    p.add_argument("--editable", action="store_true",
                   help="time the gitmodels of this Python (pip install -e ., or PYTHONPATH) instead of a wheel")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"where results-many-files.md/.json go (default {DEFAULT_OUT})")
    p.add_argument("--workdir", default=None, help="parent of the temporary folder (default: system temp)")
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--check", action="store_true", help="exit 2 when a target FAILs")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    try:
        args.files = [int(x) for x in args.files.replace("_", "").split(",") if x.strip()]
    except ValueError:
        p.error("--files takes comma-separated integers, e.g. 10000,100000")
    if args.quick:
        args.files = [2000]
    if args.s3_files is None:
        args.s3_files = 2000 if args.quick else 3000
    if any(n < 1 for n in args.files) or args.s3_files < 0:
        p.error("file counts must be positive")
    return args


def local_gitmodels() -> str | None:
    """The gitmodels console script of this Python (not a pyenv shim, which adds a shell per call)."""
    cand = os.path.join(os.path.dirname(sys.executable), "gitmodels")
    return cand if os.path.exists(cand) else benv.gitmodels_exe()


def commit_of_checkout() -> str:
    import subprocess
    try:
        out = subprocess.run(["git", "-C", benv.REPO_ROOT, "log", "-1", "--format=%h %s"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", benv.REPO_ROOT, "status", "--porcelain", "--", "gitmodels"],
                               capture_output=True, text=True).stdout.strip()
        return out[:90] + (" (gitmodels/ modified)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv=None) -> int:
    args = parse(argv)
    t0 = time.time()
    dvc_reason = benv.ensure_dvc(True)
    if dvc_reason:
        benv.log(f"DVC: {dvc_reason}")
        return 1
    workdir = tempfile.mkdtemp(prefix="gitmodels-many-files-", dir=args.workdir)
    if args.editable:
        benv.compile_bytecode()
        gm_exe, gm_install = local_gitmodels(), "editable / PYTHONPATH"
    else:
        benv.log("building a wheel of this checkout and installing it into a fresh venv")
        gm_exe, gm_install = benv.install_wheel(workdir)
    if not gm_exe:
        benv.log(f"gitmodels: {gm_install}")
        return 1
    benv.log(f"work folder {workdir}; gitmodels {gm_exe} ({gm_install}); DVC {benv.DVC_BIN}")
    ctx = Ctx(workdir, args.quick, gm_exe, None, "not selected", False)
    res = Results()
    meta = {"files": args.files, "s3_files": args.s3_files, "quick": args.quick, "status": "running",
            "commit": commit_of_checkout(),
            "machine": benv.machine_info(gm_exe, True, False, False, gm_install)}
    bench = Bench(ctx, res, gm_exe)
    rc = 0
    try:
        for i, n in enumerate(args.files):
            bench.local(n, args.seed + 10 * i)
            meta["elapsed_s"] = time.time() - t0
            write(res, meta, args.out)
        if args.s3_files:
            bench.s3(args.s3_files, args.seed + 1000)
        meta["status"] = "complete"
    except (CommandFailed, Mismatch) as exc:
        detail = exc.result.stderr.strip()[-2000:] if isinstance(exc, CommandFailed) else ""
        meta["status"] = "FAILED"
        meta["error"] = str(exc)
        benv.log(f"FAILED: {exc}\n{detail}")
        rc = 1
    finally:
        ctx.close(args.keep)
    targets(res, args.files, args.s3_files or None)
    meta["elapsed_s"] = time.time() - t0
    jpath, mpath = write(res, meta, args.out)
    with open(mpath) as f:
        print(f.read())
    benv.log(f"wrote {mpath} and {jpath} ({meta['elapsed_s']:.0f} s)")
    if rc == 0 and args.check and any(t["result"] == "FAIL" for t in res.targets):
        return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
