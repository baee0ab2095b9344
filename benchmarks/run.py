#!/usr/bin/env python3
"""gitmodels vs DVC vs Git LFS vs git-annex, side by side, on the same deterministic workloads.

    python benchmarks/run.py [--quick] [--only WORKLOAD,...] [--tools gitmodels,dvc,git-lfs,git-annex]
                             [--remotes dir,s3,az,ssh] [--editable] [--out DIR]

Installs DVC (with dvc-s3, dvc-azure and dvc-ssh) into ~/.cache/gitmodels-bench/dvc-venv, and Git LFS and git-annex from
Debian packages, when they are missing (unless --no-install); builds a wheel of this checkout and
installs it into a fresh venv, so gitmodels runs as users install it (--editable: the gitmodels on
PATH instead); builds the workloads in a temporary folder, runs every tool round-robin, and writes
results.md and results.json to --out. The transfer workloads run against each remote kind of
--remotes: a directory, S3 (moto), Azure Blob (Azurite) and SSH (a throwaway OpenSSH sshd), the
servers started on loopback by the harness.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import env as benv  # noqa: E402
from benchlib import report  # noqa: E402
from benchlib.results import Results  # noqa: E402
from benchlib.tools import REMOTE_KINDS, Ctx  # noqa: E402
from benchlib.workloads import WORKLOADS, Bench, Sizes  # noqa: E402

TOOLS = ("gitmodels", "dvc", "git-lfs", "git-annex")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: the whole run in a few minutes")
    p.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(WORKLOADS))
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS)
                   + " (the anchors sha256sum/cp/hashlib always run)")
    p.add_argument("--remotes", default=",".join(REMOTE_KINDS),
                   help="comma-separated remote kinds the transfer and small workloads use: "
                   + ",".join(REMOTE_KINDS) + " (default: all)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"where results.md/results.json go (default {DEFAULT_OUT})")
    p.add_argument("--workdir", default=None, help="parent of the temporary folder (default: system temp)")
    p.add_argument("--no-install", action="store_true", help="never install DVC, Git LFS or git-annex")
    p.add_argument("--editable", action="store_true",
                   help="time the gitmodels on PATH (e.g. pip install -e .) instead of a wheel in a fresh venv")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--runs", type=int, default=None, help="override the number of runs of every timed case")
    args = p.parse_args(argv)
    args.only = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    bad = [w for w in args.only if w not in WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(WORKLOADS)}")
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in args.tools if t not in TOOLS]
    if bad:
        p.error(f"unknown tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")
    args.remotes = [k.strip() for k in args.remotes.split(",") if k.strip()]
    bad = [k for k in args.remotes if k not in REMOTE_KINDS]
    if bad or not args.remotes:
        p.error(f"unknown remote kind(s) {', '.join(bad)}; choose from {', '.join(REMOTE_KINDS)}")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    t0 = time.time()
    dvc_reason = benv.ensure_dvc(not args.no_install) if "dvc" in args.tools else "not selected"
    lfs_reason = benv.ensure_git_lfs(not args.no_install) if "git-lfs" in args.tools else "not selected"
    annex_reason = benv.ensure_git_annex(not args.no_install) if "git-annex" in args.tools else "not selected"
    parent = args.workdir or tempfile.gettempdir()
    workdir = tempfile.mkdtemp(prefix="gitmodels-bench-", dir=parent)
    gm_install = "editable install on PATH"
    if args.editable:
        benv.compile_bytecode()
        gm_exe = benv.gitmodels_exe()
    else:
        benv.log("building a wheel of this checkout and installing it into a fresh venv")
        gm_exe, gm_install = benv.install_wheel(workdir)
        if gm_exe is None:
            benv.log(f"gitmodels: {gm_install}")
    for name, reason in (("dvc", dvc_reason), ("git-lfs", lfs_reason), ("git-annex", annex_reason)):
        if name in args.tools and reason:
            benv.log(f"{name}: {reason}")
    if "gitmodels" in args.tools and not gm_exe:
        benv.log("gitmodels: CLI not found (pip install -e .); its rows will read n/a")

    free = shutil.disk_usage(workdir).free
    need = (2 if args.quick else 16) << 30
    if free < need:
        benv.log(f"warning: only {free >> 30} GiB free under {parent}; this run may need {need >> 30} GiB")
    big_work = any(w in args.only for w in ("add", "transfer", "switch", "dedup", "rss", "status"))
    if big_work:
        can_drop, drop_msg = benv.probe_drop_caches(workdir)
    else:
        can_drop, drop_msg = False, "not probed (no workload needs it)"
    benv.log(f"work folder {workdir}; dropping the page cache: {drop_msg}")

    ctx = Ctx(workdir, args.quick, gm_exe, dvc_reason, lfs_reason, can_drop, annex_reason)
    ctx.gm_install = gm_install
    res = Results()
    sizes = Sizes.make(args.quick)
    if args.runs:
        sizes.runs_startup = sizes.runs_small = sizes.runs_large = sizes.runs_hooks = max(1, args.runs)
    bench = Bench(ctx, res, sizes, args.tools, args.remotes)
    meta = {
        "quick": args.quick,
        "workloads": args.only,
        "tools": args.tools,
        "remotes": args.remotes,
        "drop_caches": ("dropped before each cold run (sync; echo 3 > /proc/sys/vm/drop_caches): " + drop_msg)
        if can_drop else "not measured: " + drop_msg,
        "machine": benv.machine_info(gm_exe, dvc_reason is None, lfs_reason is None, annex_reason is None,
                                     gm_install),
        "sizes": vars(bench.S),
    }
    try:
        for name in args.only:
            benv.log(f"workload {name}")
            w0 = time.time()
            try:
                WORKLOADS[name](bench)
            except Exception as exc:  # noqa: BLE001 - keep the other workloads' numbers
                import traceback
                traceback.print_exc()
                res.error(name, "(workload)", "harness", f"{type(exc).__name__}: {exc}"[:300])
            benv.log(f"workload {name} done in {time.time() - w0:.0f} s")
            meta["elapsed_s"] = time.time() - t0
            report.write(res, meta, args.out)  # partial results survive a crash later on
    finally:
        ctx.close(args.keep)
    meta["elapsed_s"] = time.time() - t0
    jpath, mpath = report.write(res, meta, args.out)
    benv.log(f"wrote {mpath} and {jpath} ({meta['elapsed_s']:.0f} s)")
    for t in res.targets:
        val = report.fmt_value(t["value"], t["unit"]) if t["value"] is not None else "n/a"
        print(f"{t['result']:4}  {t['target']}: {val}" + (f" ({t['reason']})" if t["reason"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
