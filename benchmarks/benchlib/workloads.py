"""The workloads of issue 7, and the targets of issues 2, 3, 4, 5 and 8 they measure.

Each workload builds its data and repositories in the run's temp folder, runs the tools
round-robin through `alternate`, adds rows and targets, and deletes what it made.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass

from . import data as D
from . import env as benv
from .data import GiB, MiB
from .proc import CommandFailed, Result, run
from .results import Contender, Meter, Results, alternate
from .tools import DVC, REMOTE_KINDS, Ctx, GitAnnex, GitLFS, GitModels, NotAvailable, Remote, Tool

HERE = os.path.dirname(os.path.abspath(__file__))

HASHLIB = ("import hashlib,sys\nh=hashlib.sha256()\nb=bytearray(8<<20);v=memoryview(b)\n"
           "with open(sys.argv[1],'rb',buffering=0) as f:\n"
           " while (n:=f.readinto(b)): h.update(v[:n])\nprint(h.hexdigest())\n")


@dataclass
class Sizes:
    big: int
    s3_big: int
    region: int
    small_n: int
    small_size: int
    status_n: int
    status_size: int
    status_big_n: int   # the second status row: this many small models
    hook_models: int
    hook_model_size: int
    hook_big: int
    log_commits: int
    diff_models: int
    torch_bytes: int
    runs_startup: int
    runs_small: int
    runs_large: int
    runs_hooks: int
    cold: bool          # also measure with the page cache dropped (when the machine allows it)

    @classmethod
    def make(cls, quick: bool) -> "Sizes":
        if quick:
            return cls(big=64 * MiB, s3_big=128 * MiB, region=1 * MiB, small_n=100, small_size=100_000,
                       status_n=1000, status_size=16 * 1024, status_big_n=10_000, hook_models=100, hook_model_size=16 * 1024,
                       hook_big=10 * MiB, log_commits=1000, diff_models=1000, torch_bytes=50_000_000,
                       runs_startup=5, runs_small=3, runs_large=2, runs_hooks=4, cold=False)
        return cls(big=1 * GiB, s3_big=2 * GiB, region=10 * MiB, small_n=500, small_size=100_000,
                   status_n=1000, status_size=1 * MiB, status_big_n=10_000, hook_models=100, hook_model_size=64 * 1024,
                   hook_big=10 * MiB, log_commits=1000, diff_models=1000, torch_bytes=500_000_000,
                   runs_startup=10, runs_small=5, runs_large=3, runs_hooks=20, cold=True)


def human(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{int(n)} B"


class Bench:
    def __init__(self, ctx: Ctx, res: Results, sizes: Sizes, tools: list[str],
                 kinds: list[str] | tuple[str, ...] = REMOTE_KINDS):
        self.ctx = ctx
        self.kinds = list(kinds)  # the remote kinds the transfer workloads run against (--remotes)
        self.res = res
        self.S = sizes
        self.gm = GitModels(ctx)
        self.dvc = DVC(ctx)
        self.lfs = GitLFS(ctx)
        self.annex = GitAnnex(ctx)
        self.selected = [t for t in (self.gm, self.dvc, self.lfs, self.annex) if t.name in tools]
        self.datadir = os.path.join(ctx.workdir, "data")
        os.makedirs(self.datadir, exist_ok=True)
        self._big: dict[str, tuple[str, str]] = {}

    # data ------------------------------------------------------------------------------
    def big(self, name: str = "v1", size: int | None = None) -> tuple[str, str]:
        """(path, sha256) of a deterministic big file, built once per run."""
        size = size or self.S.big
        key = f"{name}-{size}"
        if key not in self._big:
            path = os.path.join(self.datadir, f"big-{key}.bin")
            if name == "v1":
                benv.log(f"writing {human(size)} of seeded random bytes")
                digest = D.write_random(path, size, seed=1 + size)
            elif name == "region":
                src, _ = self.big("v1", size)
                digest = D.overwrite_region(src, path, size // 2, self.S.region, seed=2)
            elif name == "insert":
                src, _ = self.big("v1", size)
                digest = D.insert_region(src, path, size // 2, self.S.region, seed=3)
            else:
                raise ValueError(name)
            self._big[key] = (path, digest)
        return self._big[key]

    def drop_big(self) -> None:
        for path, _ in self._big.values():
            self.ctx.rm(path)
        self._big.clear()

    def on(self, tool: Tool) -> bool:
        return tool in self.selected

    def tracked_repo(self, tool: Tool, name: str, files: dict[str, str], remote: Remote | None = None,
                     msg: str = "models") -> str:
        """A repo where `files` (relative path -> source file) are tracked and committed."""
        repo = tool.new_repo(name, remote)
        for rel, src in files.items():
            D.copy(src, os.path.join(repo, rel))
        self._track_all(tool, repo, list(files), remote)
        tool.commit(repo, msg)
        return repo

    @staticmethod
    def _track_all(tool: Tool, repo: str, paths: list[str], remote=None) -> None:
        for k in range(0, len(paths), 500):
            tool.track(repo, paths[k:k + 500], remote)

    def hashlib_cmd(self, path: str) -> list[str]:
        return [sys.executable, "-c", HASHLIB, path]

    def anchors(self, src: str, *, which=("hashlib", "sha256sum", "cp")) -> list[Contender]:
        ctx = self.ctx
        dst = os.path.join(ctx.workdir, "anchor-copy.bin")
        out = []
        if "hashlib" in which:
            out.append(Contender("hashlib.sha256", lambda i, m: m.run(self.hashlib_cmd(src))))
        if "sha256sum" in which:
            out.append(Contender("sha256sum", lambda i, m: m.run(["sha256sum", src])))
        if "cp" in which:
            def cp(i, m):
                r = m.run(["cp", src, dst])
                ctx.rm(dst)
                return r
            out.append(Contender("cp", cp))
        if "cp+fsync" in which:
            def cpf(i, m):
                r = m.run(f"cp {src} {dst} && sync {dst}")  # coreutils `sync FILE` fsyncs that file
                ctx.rm(dst)
                return r
            out.append(Contender("cp + fsync", cpf))
        if "cp+hashlib" in which:
            def cph(i, m):
                r = m.run(f"cp {src} {dst} && {sys.executable} -c {shlex.quote(HASHLIB)} {dst}")
                ctx.rm(dst)
                return r
            out.append(Contender("cp + hashlib", cph))
        return out


# =========================================================================== 1. start-up

def w_startup(B: Bench) -> None:
    W, ctx, res, n = "startup", B.ctx, B.res, B.S.runs_startup
    small = os.path.join(B.datadir, "startup-model.bin")
    D.write_random(small, 64 * 1024, seed=11)
    repos: dict[str, str] = {}

    def version(tool: Tool):
        return Contender(tool.name, lambda i, m: m.run(tool.version_cmd()), prepare=lambda: tool.require())

    cs = [version(t) for t in B.selected]
    cs += [Contender("git --version", lambda i, m: m.run(["git", "--version"])),
           Contender("python -c pass", lambda i, m: m.run([sys.executable, "-c", "pass"]))]
    alternate(res, ctx, W, "--version", cs, n)

    def status(tool: Tool):
        def prep():
            tool.require("status")
            repos[tool.name] = B.tracked_repo(tool, "startup", {"model.bin": small})
        return Contender(tool.name, lambda i, m: m.run(tool.status_cmd(), cwd=repos[tool.name]),
                         prepare=prep, cleanup=lambda: ctx.rm(repos.get(tool.name, "")))

    cs = [status(t) for t in B.selected]
    git_repo = os.path.join(ctx.workdir, "plain-startup")

    def git_prep():
        ctx.git_init(git_repo)
        D.copy(small, os.path.join(git_repo, "model.bin"))
        ctx.git(git_repo, "add", "-A")
        ctx.git(git_repo, "commit", "-q", "-m", "m")
    cs.append(Contender("git status", lambda i, m: m.run(["git", "status", "--short"], cwd=git_repo),
                        prepare=git_prep, cleanup=lambda: ctx.rm(git_repo)))
    alternate(res, ctx, W, "status (1 small model)", cs, n)
    ctx.rm(small)
    if B.on(B.gm):
        for case in ("--version", "status (1 small model)"):
            v = res.med(W, case, "gitmodels")
            res.target(f"startup {case.split()[0]}", 2, f"`gitmodels {case}` start-up < 150 ms",
                       v, 0.150, "s", reason=res.why(W, case, "gitmodels"))


# =========================================================================== 2. hooks

def w_hooks(B: Bench) -> None:
    W, ctx, res, S = "hooks", B.ctx, B.res, B.S
    n = S.runs_hooks
    mdir = os.path.join(B.datadir, "hook-models")
    names = D.small_files(mdir, S.hook_models, S.hook_model_size, seed=21)
    big1 = os.path.join(B.datadir, "hook-big1.bin")
    big2 = os.path.join(B.datadir, "hook-big2.bin")
    h1 = D.write_random(big1, S.hook_big, seed=22)
    h2 = D.write_random(big2, S.hook_big, seed=23)
    expect = {"main": h1, "model2": h2}
    repos: dict[str, str] = {}
    state: dict[str, str] = {}
    made: list[str] = []

    def build(tool: Tool | None) -> str:
        key = tool.name if tool else "git"
        remote = ctx.new_remote("dir", f"hooks-{key}")
        bare = ctx.fresh(f"hooks-{key}-origin.git")
        made.extend([remote.path, bare])
        files = {f"models/{nm}": os.path.join(mdir, nm) for nm in names}
        files["big.bin"] = big1
        if tool is None:
            repo = ctx.git_init(ctx.fresh("git-hooks"))
            for rel, src in files.items():
                D.copy(src, os.path.join(repo, rel))
            with open(os.path.join(repo, "code.py"), "w") as f:
                f.write("print('v1')\n")
            ctx.git(repo, "add", "-A")
            ctx.git(repo, "commit", "-q", "-m", "models")
        else:
            if isinstance(tool, GitLFS):
                remote = Remote("dir", bare, path=bare)   # LFS objects go to the bare repo
            repo = tool.new_repo("hooks", remote)
            for rel, src in files.items():
                D.copy(src, os.path.join(repo, rel))
            with open(os.path.join(repo, "code.py"), "w") as f:
                f.write("print('v1')\n")
            B._track_all(tool, repo, list(files), remote)
            tool.commit(repo, "models")
        made.append(repo)
        # branch code2: only code changes; branch model2: the 10 MB model changes
        ctx.git(repo, "checkout", "-q", "-b", "code2")
        with open(os.path.join(repo, "code.py"), "w") as f:
            f.write("print('v2')\n")
        ctx.git(repo, "commit", "-q", "-am", "code only")
        ctx.git(repo, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "main")
        ctx.git(repo, "checkout", "-q", "-b", "model2")
        D.copy(big2, os.path.join(repo, "big.bin"))
        if tool is None:
            ctx.git(repo, "add", "big.bin")
        else:
            tool.track(repo, ["big.bin"], remote)
        if isinstance(tool, GitLFS) or tool is None:
            ctx.git(repo, "commit", "-q", "-am", "model v2")
        else:
            tool.commit(repo, "model v2")
        ctx.git(repo, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "main")
        if tool is not None and not isinstance(tool, GitLFS):
            ctx.run(tool.checkout_cmd("main"), cwd=repo)
        if not isinstance(tool, GitLFS):
            ctx.git(repo, "remote", "add", "origin", bare)
            ctx.git(bare, "init", "-q", "--bare")
        ctx.git(repo, "push", "-q", "origin", "main", "code2", "model2")  # uploads models via tools
        if tool is not None and not isinstance(tool, GitLFS):
            ctx.run(tool.push_cmd(), cwd=repo)
        state[key] = "main"
        return repo

    hooks_ok: dict[str, str | None] = {}

    def prep(tool: Tool | None):
        def f():
            key = tool.name if tool else "git"
            if key in repos:
                return
            if tool is not None:
                tool.require("init", "add", "checkout", "push")
            repos[key] = build(tool)
            if tool is not None:
                try:
                    tool.install_hooks(repos[key])
                    hooks_ok[key] = None
                except NotAvailable as exc:
                    hooks_ok[key] = str(exc)
        return f

    def switch(key: str, label: str, pair: tuple[str, str], hooks: bool, extra: str = "", verify=False):
        def step(i, m: Meter):
            if hooks and hooks_ok.get(key):
                raise NotAvailable(hooks_ok[key])
            repo = repos[key]
            target = pair[1] if state[key] == pair[0] else pair[0]
            git = "git" if hooks else "git -c core.hooksPath=/dev/null"
            # git-annex's unlocked files look modified to git until the index's stat data is refreshed
            # (what `git status` does first); without it the checkout refuses "local changes".
            refresh = "git update-index -q --refresh; " if key == "git-annex" else ""
            r = m.run(f"{refresh}{git} checkout -q {target}{extra}", cwd=repo)
            state[key] = target
            if verify and D.sha256_file(os.path.join(repo, "big.bin")) != expect[target]:
                bad[label] = bad.get(label, 0) + 1
            return r
        return step

    def verify(label: str):
        return lambda: (f"the 10 MiB model in the workspace was wrong after {bad[label]} of {n} switches"
                        if label in bad else "")

    bad: dict[str, int] = {}
    tools = list(B.selected)

    def contenders(pair, check):
        cs = []

        def add(label, key, hooks, extra="", tool=None):
            cs.append(Contender(label, switch(key, label, pair, hooks, extra, verify=check), prepare=prep(tool),
                                verify=verify(label)))
        for t in tools:
            add(f"{t.name} + hooks", t.name, True, tool=t)
            # with a model change and the hooks off, gitmodels and DVC need their own checkout
            if check and isinstance(t, GitModels):
                add("gitmodels repo, hooks off", t.name, False, f" && {ctx.gm_exe} checkout", t)
            elif check and isinstance(t, DVC):
                add("dvc repo, hooks off", t.name, False, f" && {benv.DVC_BIN} checkout -q", t)
            elif check and isinstance(t, GitAnnex):
                add("git-annex repo, hooks off", t.name, False, t.hooks_off_fix(), t)
            else:
                add(f"{t.name} repo, hooks off", t.name, False, tool=t)
        add("plain git (models in git)", "git", False)
        return cs

    try:
        alternate(res, ctx, W, "git checkout, no model changes", contenders(("main", "code2"), False), n)
        for key, repo in repos.items():
            tool = next((t for t in tools if t.name == key), None)
            ctx.run(tool.checkout_cmd("main") if tool else "git checkout -q main", cwd=repo, check=False)
            state[key] = "main"
        alternate(res, ctx, W, "git checkout, one 10 MiB model changes", contenders(("main", "model2"), True), n)

        # push with nothing new for the model store: one commit of code, then `git push`
        def push(key: str, hooks: bool):
            def step(i, m: Meter):
                if hooks and hooks_ok.get(key):
                    raise NotAvailable(hooks_ok[key])
                repo = repos[key]
                with open(os.path.join(repo, "code.py"), "a") as f:
                    f.write(f"# {i} {hooks}\n")
                ctx.git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", f"code {i}")
                git = ["git"] if hooks else ["git", "-c", "core.hooksPath=/dev/null"]
                return m.run([*git, "push", "-q", "origin", "HEAD:main"], cwd=repo)
            return step

        for t in tools:
            if t.name in repos:
                ctx.run("git -c core.hooksPath=/dev/null checkout -q main", cwd=repos[t.name], check=False)
        cs = []
        for t in tools:
            cs.append(Contender(f"{t.name} + hooks", push(t.name, True), prepare=prep(t)))
            cs.append(Contender(f"{t.name} repo, hooks off", push(t.name, False), prepare=prep(t)))
        cs.append(Contender("plain git (models in git)", push("git", False), prepare=prep(None)))
        alternate(res, ctx, W, "git push, no model changes", cs, n)
    finally:
        ctx.rm(*made, mdir, big1, big2)

    # overhead rows: hooks minus the same repo with hooks off
    for case in ("git checkout, no model changes", "git push, no model changes"):
        for t in tools:
            a, b = res.med(W, case, f"{t.name} + hooks"), res.med(W, case, f"{t.name} repo, hooks off")
            if a is not None and b is not None:
                res.add(W, case + ": hook overhead", f"{t.name} + hooks", value=a - b, unit="s",
                        note="median with hooks minus median of the same repo with hooks off")
    if B.on(B.gm):
        for case, limit, tid in (("git checkout, no model changes", 0.020, "hook overhead: checkout"),
                                 ("git push, no model changes", 0.100, "hook overhead: push")):
            v = res.med(W, case + ": hook overhead", "gitmodels + hooks")
            res.target(tid, 3, f"{case}: hooks add at most {limit * 1000:.0f} ms", v, limit, "s",
                       reason=res.why(W, case, "gitmodels + hooks") or res.why(W, case, "gitmodels repo, hooks off"))


# =========================================================================== 3. add

def w_add(B: Bench) -> None:
    W, ctx, res, S = "add", B.ctx, B.res, B.S
    src, digest = B.big("v1")
    repos: dict[str, str] = {}

    def add(tool: Tool, label: str | None = None, tweak=None):
        def step(i, m: Meter):
            repo = tool.new_repo("add")
            repos[tool.name] = repo
            if tweak:
                tweak(repo)
            D.copy(src, os.path.join(repo, "model.bin"))
            try:
                return m.run(tool.track_cmd(["model.bin"]), cwd=repo)
            finally:
                ctx.rm(repo)
        return Contender(label or tool.name, step, prepare=lambda: tool.require("init", "add"))

    case = f"add one {human(S.big)} file"
    variants = [False, True] if ctx.can_drop and S.cold else [False]
    for cold in variants:
        cs = [add(t) for t in B.selected] + B.anchors(src, which=("hashlib", "sha256sum", "cp", "cp+fsync"))
        if B.on(B.gm):  # gitmodels chunks at add: the same add with whole-file hashing only
            cs.insert(1, add(B.gm, "gitmodels (chunking off)", lambda repo: B.gm.set_core(repo, chunking=False)))
        alternate(res, ctx, W, case, cs, S.runs_large, cold=cold)
    if B.on(B.gm):
        res.ratio_target("add vs hashlib", 2, f"`gitmodels add` {human(S.big)} ≤ 1.4x hashlib.sha256 (warm)",
                         (W, case, "gitmodels"), (W, case, "hashlib.sha256"), 1.4)
        res.ratio_target("chunking cost", 8,
                         f"chunking adds ≤ 30% to `gitmodels add` {human(S.big)}: core.chunking on vs off "
                         "(whole-file hashing only), same run", (W, case, "gitmodels"),
                         (W, case, "gitmodels (chunking off)"), 1.3)
        if ctx.can_drop and S.cold:
            res.ratio_target("add vs hashlib (cold)", 2,
                             f"`gitmodels add` {human(S.big)} ≤ 1.4x hashlib.sha256 (cold cache)",
                             (W, case, "gitmodels", "cold"), (W, case, "hashlib.sha256", "cold"), 1.4)
        row = res.get(W, case, "gitmodels")
        res.target("peak RSS: add", 2, f"peak RSS of `gitmodels add` {human(S.big)} < 150 MB",
                   row.get("peak_rss_mb") if row and row["status"] == "ok" else None, 150, "MB",
                   reason=res.why(W, case, "gitmodels"))


# =========================================================================== 4. status

def w_status(B: Bench) -> None:
    S = B.S
    _status_case(B, S.status_n, S.status_size, 41, target=("status 1000 models", 0.1))
    _status_case(B, S.status_big_n, 4096, 43, target=("status 10 000 models", 0.3))


def _status_case(B: Bench, n: int, size: int, seed: int, target: tuple[str, float]) -> None:
    W, ctx, res, S = "status", B.ctx, B.res, B.S
    mdir = os.path.join(B.datadir, f"status-models-{n}")
    names = D.small_files(mdir, n, size, seed=seed)
    total = n * size
    repos: dict[str, str] = {}

    def prep(tool: Tool):
        def f():
            tool.require("init", "add", "status")
            benv.log(f"status: tracking {n} models with {tool.name}")
            repos[tool.name] = B.tracked_repo(tool, f"status{n}", {f"models/{nm}": os.path.join(mdir, nm)
                                                                   for nm in names})
            time.sleep(1.1)  # past every tool's racy-timestamp window, as a repo is between two commands
            ctx.run(tool.status_cmd(), cwd=repos[tool.name])  # warm-up: fills any stat cache
        return f

    def status(tool: Tool):
        return Contender(tool.name, lambda i, m: m.run(tool.status_cmd(), cwd=repos[tool.name]),
                         prepare=prep(tool), cleanup=lambda: ctx.rm(repos.get(tool.name, "")))

    case = f"status, {n} models ({human(total)}) unchanged"
    cs = [status(t) for t in B.selected]
    git_repo = os.path.join(ctx.workdir, f"plain-status-{n}")

    def git_prep():
        ctx.git_init(git_repo)
        shutil.copytree(mdir, os.path.join(git_repo, "models"))
        ctx.git(git_repo, "-c", "core.compression=0", "-c", "core.looseCompression=0", "add", "-A")
        ctx.git(git_repo, "commit", "-q", "-m", "m")
        ctx.git(git_repo, "status")
    cs.append(Contender("git status (models in git)",
                        lambda i, m: m.run(["git", "status", "--short"], cwd=git_repo),
                        prepare=git_prep, cleanup=lambda: ctx.rm(git_repo)))
    try:
        alternate(res, ctx, W, case, cs, max(5, B.S.runs_small))
    finally:
        ctx.rm(mdir)
    for row in res.rows:
        if row["workload"] == W and row["case"] == case and row.get("rchar_median") is not None:
            row["read_mib"] = round(row["rchar_median"] / MiB, 1)
            row["rehashed"] = row["rchar_median"] >= 0.5 * total
    if B.on(B.gm):
        tid, limit = target
        res.target(tid, 21, f"`gitmodels status`, {n} unchanged models ≤ {limit * 1000:.0f} ms "
                   f"({ctx.gm_install or 'installed'} gitmodels, start-up included)",
                   res.med(W, case, "gitmodels"), limit, "s", reason=res.why(W, case, "gitmodels"))
        row = res.get(W, case, "gitmodels")
        if n == S.status_n and row and row["status"] == "ok" and row.get("rchar_median") is not None:
            res.target("status does not re-hash", 2,
                       f"`gitmodels status` reads < 50% of the {human(total)} of models (no re-hash)",
                       row["rchar_median"] / MiB, 0.5 * total / MiB, "MiB read",
                       detail="bytes read by the process (rchar, includes page-cache hits)")
        elif n == S.status_n:
            res.target("status does not re-hash", 2, "`gitmodels status` does not re-hash", None, 0, "MiB",
                       reason=res.why(W, case, "gitmodels") or "rchar unavailable")


# =========================================================================== 5 and 7. transfers

def _transfer(B: Bench, W: str, case: str, files: dict[str, str], digests: dict[str, str],
              kinds: list[str], runs: int, cold_pull: bool) -> None:
    ctx, res = B.ctx, B.res
    made: list[str] = []
    lfs_linked: list[bool] = []

    def contender(tool: Tool, kind: str, label: str | None = None, tweak=None) -> Contender:
        def prep():
            tool.require("init", "add", "push", "pull")
            if kind == "s3" and not tool.has_s3:
                raise NotAvailable(f"{tool.name} has no S3 remote (needs an LFS server)")
            if kind not in tool.remote_kinds:
                raise NotAvailable(f"{tool.name} is not set up against a {kind} remote here")
            ctx.server_for(kind)

        def step(i, m: Meter):
            remote = ctx.new_remote(kind, f"{tool.name}-{W}")
            out: dict[str, Result] = {}
            repo = clone = clone2 = ""
            try:
                repo = B.tracked_repo(tool, f"{W}-{kind}", files, remote)
                if tweak:
                    tweak(repo)
                out["push"] = m.run(tool.push_cmd(), cwd=repo, remote=remote)
                if isinstance(tool, GitLFS) and _lfs_hardlinked(remote):
                    lfs_linked.append(True)
                clone = tool.clone(repo, remote)
                out["pull"] = m.run(tool.pull_cmd(), cwd=clone, remote=remote)
                _check_files(clone, digests, sample=(i == 0))
                if cold_pull and ctx.can_drop and B.S.cold:
                    clone2 = tool.clone(repo, remote, name="clone-cold")
                    benv.drop_caches()
                    out["pull@cold"] = ctx.run(tool.pull_cmd(), cwd=clone2, remote=remote)
                return out
            finally:
                ctx.rm(repo, clone, clone2)
                ctx.drop_remote(remote)
        subs = ("push", "pull") + (("pull@cold",) if cold_pull and ctx.can_drop and B.S.cold else ())
        return Contender(label or tool.name, step, prepare=prep, subs=subs)

    for kind in kinds:
        cs = [contender(t, kind) for t in B.selected]
        if B.on(B.gm) and kind == "dir" and len(files) == 1:
            cs.insert(1, contender(B.gm, kind, "gitmodels (chunking off)",
                                   tweak=lambda repo: B.gm.set_core(repo, chunking=False)))
        if kind == "dir" and len(files) == 1:
            src = next(iter(files.values()))
            cs += B.anchors(src, which=("cp", "hashlib", "cp+hashlib"))
        try:
            alternate(res, ctx, W, f"{case} [{kind} remote]", cs, runs)
        except NotAvailable as exc:
            for t in B.selected:
                res.na(W, f"{case} [{kind} remote]", t.name, str(exc))
        if ctx.moto is not None:
            ctx.moto.reset()
    ctx.rm(*made)
    if lfs_linked:
        for row in res.rows:
            if row["workload"] == W and row["tool"] == "git-lfs" and row["case"].endswith("push") \
                    and "[dir remote]" in row["case"] and row["status"] == "ok":
                row["note"] = (row["note"] + "; " if row["note"] else "") + LFS_LINK_NOTE


LFS_LINK_NOTE = ("Git LFS hardlinks objects into a file:// remote on the same filesystem instead of "
                 "copying them, so its push here moves no bytes")


def _lfs_hardlinked(remote: Remote) -> bool:
    for root, _dirs, files in os.walk(os.path.join(remote.path, "lfs", "objects")):
        for name in files:
            return os.stat(os.path.join(root, name)).st_nlink > 1
    return False


def _check_files(repo: str, digests: dict[str, str], sample: bool) -> None:
    """After a pull the artifacts must be there and byte-identical (all of them on the first run)."""
    items = list(digests.items())
    if not sample:
        items = items[:1]
    for rel, want in items:
        path = os.path.join(repo, rel)
        if not os.path.exists(path):
            raise RuntimeError(f"pull left no {rel}")
        if D.sha256_file(path) != want:
            raise RuntimeError(f"pull wrote wrong bytes for {rel}")


def w_transfer(B: Bench) -> None:
    W, res, S = "transfer", B.res, B.S
    src, digest = B.big("v1")
    case = f"one {human(S.big)} model"
    _transfer(B, W, case, {"model.bin": src}, {"model.bin": digest}, B.kinds, S.runs_large,
              cold_pull=True)
    if not B.on(B.gm):
        return
    d, s = f"{case} [dir remote]", f"{case} [s3 remote]"
    if "dir" in B.kinds:
        _transfer_dir_targets(B, W, d)
    if "s3" not in B.kinds:
        return
    for op in ("push", "pull"):
        res.ratio_target(f"S3 {op} vs DVC (large)", 4,
                         f"`gitmodels {op}` {human(S.big)} to moto S3 no slower than `dvc {op}` (≤ 1.0x)",
                         (W, f"{s} {op}", "gitmodels"), (W, f"{s} {op}", "dvc"), 1.0)


def _transfer_dir_targets(B: Bench, W: str, d: str) -> None:
    res, S = B.res, B.S
    res.ratio_target("pull dir vs cp+hashlib", 2,
                     f"`gitmodels pull` {human(S.big)} from a directory remote ≤ 1.3x (cp + hashlib.sha256)",
                     (W, d + " pull", "gitmodels"), [(W, d, "cp"), (W, d, "hashlib.sha256")], 1.3)
    for op, limit in (("push", 150), ("pull", 150)):
        row = res.get(W, f"{d} {op}", "gitmodels")
        res.target(f"peak RSS: {op}", 2, f"peak RSS of `gitmodels {op}` {human(S.big)} (directory) < 150 MB",
                   row.get("peak_rss_mb") if row and row["status"] == "ok" else None, limit, "MB",
                   reason=res.why(W, f"{d} {op}", "gitmodels"))
    res.ratio_target("chunking cost at push", 8,
                     f"a chunked push costs ≤ 1.3x a whole-file push: `gitmodels push` {human(S.big)} (dir), "
                     "core.chunking on vs off", (W, d + " push", "gitmodels"),
                     (W, d + " push", "gitmodels (chunking off)"), 1.3)


def w_small(B: Bench) -> None:
    W, res, S = "small", B.res, B.S
    mdir = os.path.join(B.datadir, "small-models")
    names = D.small_files(mdir, S.small_n, S.small_size, seed=71)
    files = {f"models/{nm}": os.path.join(mdir, nm) for nm in names}
    digests = {rel: D.sha256_file(p) for rel, p in files.items()}
    case = f"{S.small_n} models of {S.small_size // 1000} KB"
    try:
        _transfer(B, W, case, files, digests, B.kinds, S.runs_large, cold_pull=False)
    finally:
        B.ctx.rm(mdir)
    if not B.on(B.gm) or "s3" not in B.kinds:
        return
    s = f"{case} [s3 remote]"
    for op in ("push", "pull"):
        res.ratio_target(f"S3 {op} vs DVC (500 small)", 4,
                         f"`gitmodels {op}` of {S.small_n} small models to moto S3: ≥ 2x DVC's throughput (≤ 0.5x time)",
                         (W, f"{s} {op}", "gitmodels"), (W, f"{s} {op}", "dvc"), 0.5)


# =========================================================================== 6. switch versions

def w_switch(B: Bench) -> None:
    W, ctx, res, S = "switch", B.ctx, B.res, B.S
    v1, h1 = B.big("v1")
    v2, h2 = B.big("region")
    want = {"v1": h1, "v2": h2}
    repos: dict[str, str] = {}
    state: dict[str, str] = {}
    wrong: dict[str, int] = {}

    def build(tool: Tool) -> None:
        if tool.name in repos:
            return
        tool.require("init", "add", "checkout")
        repo = B.tracked_repo(tool, "switch", {"model.bin": v1}, msg="v1")
        repos[tool.name] = repo
        ctx.git(repo, "tag", "v1")
        D.copy(v2, os.path.join(repo, "model.bin"))
        tool.track(repo, ["model.bin"])
        tool.commit(repo, "v2")
        ctx.git(repo, "tag", "v2")
        state[tool.name] = "v2"

    def contender(tool: Tool, label: str, cache_type: str | None = None, hooks: bool = False) -> Contender:
        def step(i, m: Meter):
            repo = repos[tool.name]
            if cache_type:
                tool.set_cache_type(repo, cache_type)
            target = "v1" if state[tool.name] == "v2" else "v2"
            if hooks:
                if not B.gm.hooks_installed(repo):
                    raise NotAvailable("gitmodels hooks are not installed")
                r = m.run(["git", "checkout", "-q", target], cwd=repo)
            else:
                r = m.run(tool.checkout_cmd(target), cwd=repo)
            state[tool.name] = target
            if D.sha256_file(os.path.join(repo, "model.bin")) != want[target]:
                wrong[label] = wrong.get(label, 0) + 1
            return r

        def verify():
            return f"workspace model wrong after {wrong[label]} switches" if label in wrong else ""
        return Contender(label, step, prepare=lambda: build(tool), verify=verify)

    cs = []
    for t in B.selected:
        if isinstance(t, DVC):
            cs.append(contender(t, "dvc (copy)", "copy"))
            cs.append(contender(t, "dvc (hardlink)", "hardlink"))
        elif isinstance(t, GitModels):
            cs.append(contender(t, "gitmodels"))
            cs.append(contender(t, "gitmodels (git checkout, post-checkout hook)", hooks=True))
        else:
            cs.append(contender(t, t.name))
    cs += B.anchors(v1, which=("cp",))
    case = f"switch a {human(S.big)} model between two cached versions"
    try:
        for cold in ([False, True] if ctx.can_drop and S.cold else [False]):
            alternate(res, ctx, W, case, cs, S.runs_small, cold=cold)
    finally:
        ctx.rm(*repos.values())
    if B.on(B.gm):
        res.ratio_target("switch vs cp", 2, f"switch {human(S.big)} (git checkout + gitmodels checkout) ≤ 1.3x cp",
                         (W, case, "gitmodels"), (W, case, "cp"), 1.3)


# =========================================================================== 8. dedup

def w_dedup(B: Bench) -> None:
    W, ctx, res, S = "dedup", B.ctx, B.res, B.S
    v1, _ = B.big("v1")
    limit_total = 1.05 * S.big
    limit_delta = S.region + 0.6 * S.region  # 16 MiB for a 10 MiB change, scaled for --quick
    for change in ("region", "insert"):
        v2, d2 = B.big(change)
        what = (f"{human(S.big)} model, {human(S.region)} region rewritten" if change == "region"
                else f"{human(S.big)} model, {human(S.region)} inserted")
        case = what
        for kind in ("dir", "s3"):
            for tool in B.selected:
                if kind == "s3" and not tool.has_s3:
                    continue
                if ctx.quick and change == "insert" and not isinstance(tool, GitModels):
                    continue  # --quick: competitors store whole files either way; region case shows it
                label = f"{case} [{kind}]"
                try:
                    _dedup_one(B, tool, kind, label, v1, v2, d2)
                except NotAvailable as exc:
                    res.na(W, label + ": remote bytes held", tool.name, str(exc))
                except Exception as exc:  # noqa: BLE001
                    res.error(W, label + ": remote bytes held", tool.name, str(exc)[:300])
        if B.on(B.gm):
            for kind in ("dir", "s3"):
                label = f"{case} [{kind}]"
                held = res.med(W, label + ": remote bytes held", "gitmodels")
                res.target(f"dedup {change} [{kind}]: remote total", 8,
                           f"{what}: remote holds ≤ 1.05x one version ({human(limit_total)}) [{kind}]",
                           held / MiB if held is not None else None, limit_total / MiB, "MiB",
                           reason=res.why(W, label + ": remote bytes held", "gitmodels"))
            label = f"{case} [s3]"
            for metric, desc in (("second push: bytes sent", "second push sends"),
                                 ("pull of v2 with v1 cached: bytes received", "pull of v2 with v1 cached downloads")):
                v = res.med(W, f"{label}: {metric}", "gitmodels")
                res.target(f"dedup {change}: {desc.split(' ')[0]} bytes", 8,
                           f"{what}: {desc} ≤ {human(limit_delta)} (S3, counted on the wire)",
                           v / MiB if v is not None else None, limit_delta / MiB, "MiB",
                           reason=res.why(W, f"{label}: {metric}", "gitmodels"))
        ctx.rm(v2)
        B._big.pop(f"{change}-{S.big}", None)
    w_dedup_torch(B)


def _dedup_one(B: Bench, tool: Tool, kind: str, label: str, v1: str, v2: str, d2: str) -> None:
    W, ctx, res = "dedup", B.ctx, B.res
    tool.require("init", "add", "push", "pull")
    proxy = None
    if kind == "s3":
        moto = ctx.s3()
        proxy = benv.CountingProxy(moto.port)
        remote = ctx.new_remote("s3", f"dd-{tool.name}", endpoint=proxy.endpoint)
    elif isinstance(tool, GitLFS):
        path = ctx.fresh("lfs-dedup-origin.git")
        remote = Remote("dir", path, path=path)
    else:
        remote = ctx.new_remote("dir", f"dd-{tool.name}")
    repo = clone = ""
    try:
        repo = B.tracked_repo(tool, "dedup", {"model.bin": v1}, remote, msg="v1")
        r1 = ctx.run(tool.push_cmd(), cwd=repo, remote=remote)
        held1 = _held(B, tool, remote)
        D.copy(v2, os.path.join(repo, "model.bin"))
        tool.track(repo, ["model.bin"], remote)
        tool.commit(repo, "v2")
        if proxy:
            proxy.reset()
        os.sync()
        r2 = ctx.run(tool.push_cmd(), cwd=repo, remote=remote)
        sent = proxy.up if proxy else None
        held2 = _held(B, tool, remote)
        res.add(W, label + ": remote bytes held", tool.name, value=held2, unit="bytes",
                note=f"after v1 only: {human(held1)}")
        res.add(W, label + ": second push added to remote", tool.name, value=held2 - held1, unit="bytes")
        linked = isinstance(tool, GitLFS) and _lfs_hardlinked(remote)
        res.add(W, label + ": second push time", tool.name, samples=[r2],
                note=f"first push {r1.wall:.2f} s" + (f"; {LFS_LINK_NOTE}" if linked else ""))
        if isinstance(tool, GitLFS):
            local, _ = tool.store_bytes(repo)
            res.add(W, label + ": local .git/lfs bytes", tool.name, value=local, unit="bytes",
                    note="Git LFS keeps every version in .git/lfs/objects as well as the workspace copy")
        if isinstance(tool, GitAnnex):
            local, _ = tool.local_store_bytes(repo)
            res.add(W, label + ": local .git/annex bytes", tool.name, value=local, unit="bytes",
                    note="git-annex keeps every version whole in .git/annex/objects as well as the unlocked "
                         "workspace copy; numcopies (default 1) keeps `git annex drop` from losing the last copy")
        if proxy:
            res.add(W, label + ": second push: bytes sent", tool.name, value=sent, unit="bytes",
                    note="client->S3 bytes on the wire incl. HTTP overhead")
            # a teammate who has v1 pulls v2
            clone = tool.clone(repo, remote)
            ctx.git(clone, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "HEAD~1")
            ctx.run(tool.pull_cmd(), cwd=clone, remote=remote)
            proxy.reset()
            r3 = ctx.run(f"git checkout -q main && {' '.join(tool.pull_cmd())}", cwd=clone, remote=remote)
            got = proxy.down
            ok = D.sha256_file(os.path.join(clone, "model.bin")) == d2
            res.add(W, label + ": pull of v2 with v1 cached: bytes received", tool.name, value=got,
                    unit="bytes", status="ok" if ok else "error",
                    note=f"{r3.wall:.2f} s" + ("" if ok else "; pulled file has the wrong bytes"))
    finally:
        ctx.rm(repo, clone)
        if remote.kind == "dir":
            ctx.rm(remote.path)
        else:
            ctx.drop_remote(remote)
        if proxy:
            proxy.close()


def _held(B: Bench, tool: Tool, remote: Remote) -> int:
    if isinstance(tool, GitLFS):
        return GitLFS.remote_store_bytes(remote)[0]
    return remote.held_bytes(B.ctx.moto)[0]


TORCH_FT = r'''
import sys, torch
torch.manual_seed(0)
out, nbytes, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
width = 1024
layers = max(2, nbytes // (width * width * 4))
model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)], torch.nn.Linear(width, 1000))
if step == "v2":   # fine-tune: retrain only the last layer
    torch.manual_seed(1)
    with torch.no_grad():
        model[-1].weight.copy_(torch.randn_like(model[-1].weight))
        model[-1].bias.copy_(torch.randn_like(model[-1].bias))
torch.save(model.state_dict(), out)
last = model[-1].weight.numel() * 4 + model[-1].bias.numel() * 4
print(last)
'''


def w_dedup_torch(B: Bench) -> None:
    W, ctx, res, S = "dedup", B.ctx, B.res, B.S
    nbytes = S.big // 4
    # Both versions saved under one file name, as a training script does: torch.save names the
    # archive's records after the file ("model/data/0"), so two names would change every record.
    p1 = os.path.join(B.datadir, "ft-v1", "model.pt")
    p2 = os.path.join(B.datadir, "ft-v2", "model.pt")
    for p in (p1, p2):
        os.makedirs(os.path.dirname(p), exist_ok=True)
    try:
        changed = int(run([sys.executable, "-c", TORCH_FT, p1, str(nbytes), "v1"], timeout=900).stdout)
        run([sys.executable, "-c", TORCH_FT, p2, str(nbytes), "v2"], timeout=900)
    except Exception as exc:  # noqa: BLE001
        res.na(W, "fine-tuned PyTorch model", "gitmodels", f"torch unavailable: {exc}")
        return
    case = f"{human(os.path.getsize(p1))} PyTorch state_dict, last layer retrained [dir]"
    for tool in B.selected:
        try:
            _dedup_one(B, tool, "dir", case, p1, p2, D.sha256_file(p2))
        except NotAvailable as exc:
            res.na(W, case + ": remote bytes held", tool.name, str(exc))
        except Exception as exc:  # noqa: BLE001
            res.error(W, case + ": remote bytes held", tool.name, str(exc)[:300])
    ctx.rm(os.path.dirname(p1), os.path.dirname(p2))
    if B.on(B.gm):
        v = res.med(W, case + ": second push added to remote", "gitmodels")
        res.target("dedup fine-tuned torch", 8,
                   f"fine-tuned PyTorch model: v2 adds ≤ changed tensors ({human(changed)}) + 5%",
                   v / MiB if v is not None else None, changed * 1.05 / MiB, "MiB",
                   reason=res.why(W, case + ": remote bytes held", "gitmodels"))


# =========================================================================== 9. peak RSS, S3 large

def w_rss(B: Bench) -> None:
    W, ctx, res, S = "rss", B.ctx, B.res, B.S
    src, digest = B.big("v1", S.s3_big)
    case = f"one {human(S.s3_big)} model"
    for tool in B.selected:
        if not tool.has_s3:
            continue
        label = f"{case} [s3]"
        remote = None
        repo = clone = ""
        try:
            tool.require("init", "add", "push", "pull")
            remote = ctx.new_remote("s3", f"rss-{tool.name}")
            repo = B.tracked_repo(tool, "rss", {"model.bin": src}, remote)
            r = ctx.run(tool.push_cmd(), cwd=repo, remote=remote)
            res.add(W, label + " push", tool.name, samples=[r])
            res.add(W, label + " push: peak RSS", tool.name, value=r.rss_mb, unit="MB")
            clone = tool.clone(repo, remote)
            r = ctx.run(tool.pull_cmd(), cwd=clone, remote=remote)
            ok = D.sha256_file(os.path.join(clone, "model.bin")) == digest
            res.add(W, label + " pull", tool.name, samples=[r], status="ok" if ok else "error",
                    note="" if ok else "pulled file has the wrong bytes")
            res.add(W, label + " pull: peak RSS", tool.name, value=r.rss_mb, unit="MB")
        except NotAvailable as exc:
            res.na(W, label + " push", tool.name, str(exc))
            res.na(W, label + " pull", tool.name, str(exc))
        except Exception as exc:  # noqa: BLE001
            res.error(W, label + " push", tool.name, str(exc)[:300])
        finally:
            ctx.rm(repo, clone)
            if remote is not None:
                ctx.drop_remote(remote)
            if ctx.moto is not None:
                ctx.moto.reset()
    if S.s3_big != S.big:
        ctx.rm(src)
        B._big.pop(f"v1-{S.s3_big}", None)
    # a summary of the largest operations measured anywhere in this run
    for row in list(res.rows):
        if row.get("peak_rss_mb") is not None and row["status"] == "ok" and row["workload"] in (
                "add", "transfer", "switch") and row["variant"] == "warm" and row["tool"] in (
                "gitmodels", "dvc", "git-lfs", "dvc (copy)", "dvc (hardlink)"):
            res.add(W, f"{row['workload']}: {row['case']}", row["tool"], value=row["peak_rss_mb"], unit="MB")
    if B.on(B.gm):
        for op in ("push", "pull"):
            row = res.get(W, f"{case} [s3] {op}", "gitmodels")
            res.target(f"peak RSS: S3 {op} {human(S.s3_big)}", 4,
                       f"peak RSS of `gitmodels {op}` of {human(S.s3_big)} to S3 < 200 MB",
                       row.get("peak_rss_mb") if row and row["status"] == "ok" else None, 200, "MB",
                       reason=res.why(W, f"{case} [s3] {op}", "gitmodels"))


# =========================================================================== 10. log / diff

POINTER = ('# Managed by gitmodels: the model\'s bytes are in the model store, not in git.\n'
           'version = 1\noid = "sha256:{oid}"\nsize = {size}\nkind = "file"\n')


def _pointer_template(B: Bench, repo: str) -> str:
    """A real pointer written by `gitmodels add` when it works, else SPEC section 2's form."""
    path = os.path.join(repo, "tmpl.bin")
    with open(path, "wb") as f:
        f.write(b"template")
    r = B.ctx.run(B.gm.gm("add", "tmpl.bin"), cwd=repo, check=False)
    text = POINTER
    ptr = path + ".gitmodel"
    if r.rc == 0 and os.path.exists(ptr):
        import re
        raw = open(ptr).read()
        raw2 = re.sub(r'oid = "sha256:[0-9a-f]{64}"', 'oid = "sha256:{oid}"', raw)
        raw2 = re.sub(r"(?m)^size = \d+$", "size = {size}", raw2)
        if "{oid}" in raw2 and "{size}" in raw2:
            text = raw2.replace("{", "{{").replace("}", "}}").replace("{{oid}}", "{oid}").replace(
                "{{size}}", "{size}")
    B.ctx.run(["git", "rm", "-q", "--cached", "-f", "--ignore-unmatch", "tmpl.bin.gitmodel"], cwd=repo, check=False)
    B.ctx.rm(path, ptr)
    return text


def _fast_import(B: Bench, repo: str, commits: list[dict[str, str | None]]) -> None:
    """Append commits to main: each a {path: content or None (delete)}."""
    parts = []
    head = B.ctx.git(repo, "rev-parse", "HEAD").stdout.strip()
    for k, changes in enumerate(commits):
        msg = f"commit {k}".encode()
        parts.append(b"commit refs/heads/main\n")
        parts.append(b"committer bench <bench@example.invalid> %d +0000\n" % (1700000000 + k))
        parts.append(b"data %d\n%s\n" % (len(msg), msg))
        if k == 0:
            parts.append(b"from %s\n" % head.encode())
        for path, content in changes.items():
            if content is None:
                parts.append(b"D %s\n" % path.encode())
            else:
                data = content.encode()
                parts.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
        parts.append(b"\n")
    B.ctx.run(["git", "fast-import", "--quiet", "--force"], cwd=repo, stdin_data=b"".join(parts))
    B.ctx.git(repo, "-c", "core.hooksPath=/dev/null", "reset", "-q", "--hard", "main")


def w_logdiff(B: Bench) -> None:
    W, ctx, res, S = "logdiff", B.ctx, B.res, B.S
    import hashlib
    gm, dvc = B.gm, B.dvc
    repos = []

    def oid(k):
        return hashlib.sha256(str(k).encode()).hexdigest()

    def dvcfile(k, name):
        return f"outs:\n- md5: {oid(k)[:32]}\n  size: {1000 + k}\n  hash: md5\n  path: {name}\n"

    def gm_repo(name: str, command: str, commits) -> str:
        """A gitmodels repo whose history is `commits(pointer template)`, written with fast-import."""
        gm.require("init", "add", command)
        repo = ctx.git_init(ctx.fresh(f"gm-{name}"))
        repos.append(repo)
        gm.init(repo, None)
        tmpl = _pointer_template(B, repo)
        ctx.git(repo, "add", "-A")
        ctx.git(repo, "commit", "-q", "--allow-empty", "-m", "init")
        _fast_import(B, repo, commits(tmpl))
        return repo

    def dvc_repo(name: str, commits: list) -> str:
        dvc.require()
        repo = dvc.new_repo(name)
        repos.append(repo)
        _fast_import(B, repo, commits)
        return repo

    try:
        # ---- log: one model changed by N commits
        case = f"log of one model through {S.log_commits} commits"
        cs = []
        lrepo: dict[str, str] = {}
        if B.on(gm):
            def prep_gm():
                lrepo["gm"] = gm_repo("log", "log", lambda tmpl: [
                    {"models/m.bin.gitmodel": tmpl.format(oid=oid(k), size=1000 + k)
                     + f"\n[metrics]\nauc = {0.5 + k / 10000:.4f}\n"} for k in range(S.log_commits)])

            def log_step(i, m):
                r = m.run(gm.gm("log", "models/m.bin"), cwd=lrepo["gm"], check=False)
                if r.rc != 0:
                    r = m.run(gm.gm("log", "models/m.bin.gitmodel"), cwd=lrepo["gm"])
                return r
            cs.append(Contender("gitmodels", log_step, prepare=prep_gm))
        if B.on(dvc):
            def prep_dvc():
                lrepo["dvc"] = dvc_repo("log", [{"m.bin.dvc": dvcfile(k, "m.bin")} for k in range(S.log_commits)])
            cs.append(Contender("git log -- m.bin.dvc (DVC repo)",
                                lambda i, m: m.run(["git", "log", "--oneline", "--", "m.bin.dvc"], cwd=lrepo["dvc"]),
                                prepare=prep_dvc))
        alternate(res, ctx, W, case, cs, B.S.runs_large)

        # ---- diff: N models, a second revision changing 10, adding 5, removing 5
        case2 = f"diff of two revisions with {S.diff_models} models"
        cs = []
        drepo: dict[str, str] = {}

        def revs(fmt, suffix):
            first = {f"models/m{k:04d}.bin{suffix}": fmt(k, f"m{k:04d}.bin") for k in range(S.diff_models)}
            second: dict[str, str | None] = {}
            for k in range(10):
                second[f"models/m{k * 37:04d}.bin{suffix}"] = fmt(100000 + k, f"m{k * 37:04d}.bin")
            for k in range(5):
                second[f"models/new{k}.bin{suffix}"] = fmt(200000 + k, f"new{k}.bin")
                second[f"models/m{999 - k * 3:04d}.bin{suffix}"] = None
            return [first, second]

        if B.on(gm):
            def prep_gm2():
                drepo["gm"] = gm_repo("diff", "diff", lambda tmpl: revs(
                    lambda k, name: tmpl.format(oid=oid(k), size=1000 + k), ".gitmodel"))
            cs.append(Contender("gitmodels", lambda i, m: m.run(gm.gm("diff", "HEAD~1", "HEAD"), cwd=drepo["gm"]),
                                prepare=prep_gm2))
        if B.on(dvc):
            def prep_dvc2():
                drepo["dvc"] = dvc_repo("diff", revs(dvcfile, ".dvc"))
            cs.append(Contender("dvc", lambda i, m: m.run(dvc.dvc("diff", "HEAD~1", "HEAD"), cwd=drepo["dvc"]),
                                prepare=prep_dvc2))
        alternate(res, ctx, W, case2, cs, B.S.runs_large)
    finally:
        ctx.rm(*repos)
    if B.on(gm):
        res.target("log 1000 commits", 5, f"`gitmodels log` through {S.log_commits} commits < 1 s",
                   res.med(W, case, "gitmodels"), 1.0, "s", reason=res.why(W, case, "gitmodels"))
        res.target("diff 1000 models", 5, f"`gitmodels diff` of two revisions with {S.diff_models} models < 0.5 s",
                   res.med(W, case2, "gitmodels"), 0.5, "s", reason=res.why(W, case2, "gitmodels"))


# =========================================================================== 11. torch save

def w_torchsave(B: Bench) -> None:
    W, ctx, res, S = "torchsave", B.ctx, B.res, B.S
    case = f"save a {S.torch_bytes / 1e6:.0f} MB PyTorch model"
    if not B.on(B.gm):
        return
    script = os.path.join(HERE, "torch_save.py")
    repo = ""
    try:
        B.gm.require("init")
        probe = run([sys.executable, "-c", "import gitmodels; print(hasattr(gitmodels, 'save'))"],
                    env=ctx.env, check=False)
        if probe.stdout.strip() != "True":
            raise NotAvailable("gitmodels.save does not exist yet")
        repo = ctx.git_init(ctx.fresh("gm-torch"))
        B.gm.init(repo, None)
        ctx.git(repo, "commit", "-q", "--allow-empty", "-m", "init")
        r = ctx.run([sys.executable, script, str(S.torch_bytes), str(B.S.runs_large)], cwd=repo, timeout=3600)
        import json
        out = json.loads(r.stdout.strip().splitlines()[-1])
        for tool, walls in (("torch.save", out["torch"]), ("gitmodels.save", out["gitmodels"])):
            import statistics
            res.add(W, case, tool, value=statistics.median(walls),
                    extra={"samples": [round(w, 3) for w in walls], "n": len(walls)})
    except NotAvailable as exc:
        res.na(W, case, "gitmodels.save", str(exc))
    except CommandFailed as exc:
        res.error(W, case, "gitmodels.save", str(exc)[:300])
    finally:
        ctx.rm(repo)
    res.ratio_target("gitmodels.save vs torch.save", 5,
                     f"gitmodels.save of a {S.torch_bytes / 1e6:.0f} MB PyTorch model ≤ 1.3x torch.save",
                     (W, case, "gitmodels.save"), (W, case, "torch.save"), 1.3)


WORKLOADS = {
    "startup": w_startup,
    "hooks": w_hooks,
    "add": w_add,
    "status": w_status,
    "transfer": w_transfer,
    "switch": w_switch,
    "small": w_small,
    "dedup": w_dedup,
    "rss": w_rss,
    "logdiff": w_logdiff,
    "torchsave": w_torchsave,
}
