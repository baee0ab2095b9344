"""One adapter per tool, so a workload says *what* to do and the adapter says *how*.

gitmodels is driven only through its command line (SPEC section 3); every operation first
checks that the subcommand exists (`gitmodels CMD --help`), so a workload reports
"n/a: <reason>" until the feature lands instead of failing the whole run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from . import env as benv
from . import servers
from .data import tree_bytes
from .proc import CommandFailed, Result, run

ARTIFACT_GLOB = ":(exclude,glob)**/*.bin"


class NotAvailable(Exception):
    """The tool cannot do this operation here (yet): reported as n/a, not as an error."""


REMOTE_KINDS = ("dir", "s3", "az", "ssh")


@dataclass
class Remote:
    kind: str            # one of REMOTE_KINDS
    url: str             # as gitmodels spells it
    path: str | None = None      # dir and ssh: the folder on this machine
    bucket: str | None = None    # s3: the bucket; az: the container
    endpoint: str | None = None  # s3: the endpoint (maybe a counting proxy)
    dvc_url: str | None = None   # when DVC spells it differently (azure://)

    def held_bytes(self, moto=None, azurite=None) -> tuple[int, int]:
        if self.kind in ("dir", "ssh"):
            return tree_bytes(self.path)
        if self.kind == "az":
            return azurite.container_bytes(self.bucket)
        return moto.bucket_bytes(self.bucket)


class Ctx:
    """Shared run state: the temp folder, the isolated environment, the S3 server."""

    def __init__(self, workdir: str, quick: bool, gm_exe: str | None, dvc_reason: str | None,
                 lfs_reason: str | None, can_drop: bool, annex_reason: str | None = "not selected"):
        self.workdir = workdir
        self.quick = quick
        self.gm_exe = gm_exe
        self.dvc_reason = dvc_reason
        self.lfs_reason = lfs_reason
        self.annex_reason = annex_reason
        self.gm_install = ""  # how the gitmodels under test was installed (run.py: a wheel in a fresh venv)
        self.can_drop = can_drop
        self.moto: servers.MotoServer | None = None
        self.azurite: servers.AzuriteServer | None = None
        self.sshd: servers.SshServer | None = None
        self._server_errors: dict[str, str] = {}
        self._n = 0
        gitconfig = os.path.join(workdir, "gitconfig")
        with open(gitconfig, "w") as f:
            f.write("[user]\n\tname = bench\n\temail = bench@example.invalid\n"
                    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
                    "[commit]\n\tgpgsign = false\n[gc]\n\tauto = 0\n"
                    "[protocol \"file\"]\n\tallow = always\n")
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("GIT_", "DVC_", "AWS_", "GITMODELS_")):
                del e[k]
        e.update({
            "GIT_CONFIG_GLOBAL": gitconfig,
            "GIT_CONFIG_NOSYSTEM": "1",
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": os.path.join(workdir, "dvc-site-cache"),
            "AWS_ACCESS_KEY_ID": benv.S3_KEY,
            "AWS_SECRET_ACCESS_KEY": benv.S3_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "GIT_TERMINAL_PROMPT": "0",
            # DVC's git hooks call `dvc` by name, as in an activated virtualenv
            "PATH": e.get("PATH", "/usr/bin:/bin") + os.pathsep + os.path.dirname(benv.DVC_BIN),
        })
        self.env = e

    # -- folders
    def fresh(self, name: str) -> str:
        self._n += 1
        path = os.path.join(self.workdir, f"{name}-{self._n}")
        os.makedirs(path)
        return path

    @staticmethod
    def rm(*paths: str) -> None:
        for p in paths:
            if p and os.path.lexists(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    # caches are made read-only by the tools: make them writable first
                    for root, dirs, _files in os.walk(p):
                        for d in dirs:
                            try:
                                os.chmod(os.path.join(root, d), 0o755)
                            except OSError:
                                pass
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)

    # -- env and git
    def env_for(self, remote: Remote | None = None) -> dict:
        if remote is not None and remote.kind == "az":
            return dict(self.env, AZURE_STORAGE_CONNECTION_STRING=self.azurite.connection_string)
        if remote is not None and remote.kind == "ssh":
            # the run's own ~/.ssh (key + known_hosts), no agent: both tools log in the same way
            e = dict(self.env, HOME=self.sshd.home)
            e.pop("SSH_AUTH_SOCK", None)
            return e
        if remote is not None and remote.endpoint:
            return dict(self.env, AWS_ENDPOINT_URL_S3=remote.endpoint, AWS_ENDPOINT_URL=remote.endpoint)
        if self.moto is not None:
            return dict(self.env, AWS_ENDPOINT_URL_S3=self.moto.endpoint, AWS_ENDPOINT_URL=self.moto.endpoint)
        return self.env

    def run(self, cmd, cwd=None, remote: Remote | None = None, **kw) -> Result:
        return run(cmd, cwd=cwd, env=self.env_for(remote), **kw)

    def git(self, repo: str, *args: str, **kw) -> Result:
        return self.run(["git", *args], cwd=repo, **kw)

    def git_init(self, path: str) -> str:
        os.makedirs(path, exist_ok=True)
        self.git(path, "init", "-q")
        return path

    # -- remotes
    def _server(self, attr: str, make):
        """The server in `attr`, started on first use; NotAvailable (remembered) when it cannot start."""
        if getattr(self, attr) is None:
            if attr in self._server_errors:
                raise NotAvailable(self._server_errors[attr])
            try:
                setattr(self, attr, make())
            except Exception as exc:  # noqa: BLE001
                self._server_errors[attr] = f"{attr} could not start: {exc}"
                raise NotAvailable(self._server_errors[attr]) from None
        return getattr(self, attr)

    def s3(self) -> servers.MotoServer:
        return self._server("moto", lambda: servers.MotoServer(self.workdir))

    def az(self) -> servers.AzuriteServer:
        return self._server("azurite", lambda: servers.AzuriteServer(self.workdir))

    def ssh(self) -> servers.SshServer:
        return self._server("sshd", lambda: servers.SshServer(self.workdir))

    def server_for(self, kind: str) -> None:
        """Start the server a remote kind needs (NotAvailable when it cannot)."""
        {"s3": self.s3, "az": self.az, "ssh": self.ssh}.get(kind, lambda: None)()

    def stop_servers(self) -> None:
        for attr in ("moto", "azurite", "sshd"):
            server = getattr(self, attr)
            if server is not None:
                server.stop()
                setattr(self, attr, None)

    def close(self, keep: bool) -> None:
        """End of a run: the servers stop, and the temp folder goes unless `keep`."""
        self.stop_servers()
        if keep:
            benv.log(f"kept {self.workdir}")
        else:
            Ctx.rm(self.workdir)

    def new_remote(self, kind: str, tag: str, endpoint: str | None = None) -> Remote:
        self._n += 1
        if kind in ("dir", "ssh"):
            path = os.path.join(self.workdir, f"remote-{tag}-{self._n}")
            os.makedirs(path)
            if kind == "dir":
                return Remote("dir", path, path=path)
            return Remote("ssh", self.ssh().url(path), path=path)
        if kind == "az":
            container = f"bench-{tag}-{self._n}".lower().replace("_", "-")[:63]
            self.az().make_container(container)
            return Remote("az", f"az://{container}/models", bucket=container,
                          dvc_url=f"azure://{container}/models")
        moto = self.s3()
        bucket = f"bench-{tag}-{self._n}".lower().replace("_", "-")
        moto.make_bucket(bucket)
        return Remote("s3", f"s3://{bucket}/models", bucket=bucket, endpoint=endpoint or moto.endpoint)

    def drop_remote(self, remote: Remote) -> None:
        if remote.kind in ("dir", "ssh"):
            self.rm(remote.path)
        elif remote.kind == "az":
            try:
                self.azurite.drop_container(remote.bucket)
            except Exception:  # noqa: BLE001 - best effort; Azurite keeps it in memory until the run ends
                pass
        elif self.moto is not None:
            try:
                c = self.moto.client()
                for page in c.get_paginator("list_objects_v2").paginate(Bucket=remote.bucket):
                    objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if objs:
                        c.delete_objects(Bucket=remote.bucket, Delete={"Objects": objs})
                c.delete_bucket(Bucket=remote.bucket)
            except Exception:  # noqa: BLE001 - best effort; moto is reset between workloads
                pass


class Tool:
    name = "?"
    has_s3 = True
    remote_kinds = REMOTE_KINDS  # the remote kinds the harness sets this tool up against

    def __init__(self, ctx: Ctx):
        self.ctx = ctx

    # availability ------------------------------------------------------------------
    def unavailable(self) -> str | None:
        return None

    def require(self, *ops: str) -> None:
        reason = self.unavailable()
        if reason:
            raise NotAvailable(reason)

    # repo life cycle ---------------------------------------------------------------
    def new_repo(self, name: str, remote: Remote | None = None) -> str:
        repo = self.ctx.git_init(self.ctx.fresh(f"{self.name}-{name}"))
        self.init(repo, remote)
        return repo

    def init(self, repo: str, remote: Remote | None) -> None:
        raise NotImplementedError

    def commit(self, repo: str, msg: str) -> None:
        self.ctx.git(repo, "add", "-A", "--", ".", ARTIFACT_GLOB)
        self.ctx.git(repo, "commit", "-q", "--allow-empty", "-m", msg)

    def track_cmd(self, paths: list[str]):
        raise NotImplementedError

    def track(self, repo: str, paths: list[str], remote: Remote | None = None) -> Result:
        return self.ctx.run(self.track_cmd(paths), cwd=repo, remote=remote)

    def push_cmd(self):
        raise NotImplementedError

    def pull_cmd(self):
        raise NotImplementedError

    def status_cmd(self):
        raise NotImplementedError

    def checkout_cmd(self, rev: str) -> str:
        """Shell command that switches the workspace (git + tool) to rev."""
        raise NotImplementedError

    def version_cmd(self):
        raise NotImplementedError

    def clone(self, src: str, remote: Remote | None, name: str = "clone") -> str:
        dst = self.ctx.fresh(f"{self.name}-{name}")
        os.rmdir(dst)
        self.ctx.run(["git", "clone", "-q", src, dst])
        self.after_clone(dst, remote)
        return dst

    def after_clone(self, repo: str, remote: Remote | None) -> None:
        pass

    def install_hooks(self, repo: str) -> None:
        raise NotAvailable(f"{self.name} has no hooks")


# ------------------------------------------------------------------------------- gitmodels

class GitModels(Tool):
    name = "gitmodels"

    def __init__(self, ctx: Ctx):
        super().__init__(ctx)
        self._help: dict[str, bool] = {}

    def unavailable(self) -> str | None:
        if not self.ctx.gm_exe:
            return "gitmodels CLI not installed (pip install -e .)"
        return None

    def has(self, cmd: str) -> bool:
        """Does `gitmodels CMD --help` exist? (cached)"""
        if self.unavailable():
            return False
        if cmd not in self._help:
            r = run([self.ctx.gm_exe, *cmd.split(), "--help"], env=self.ctx.env, check=False, timeout=60)
            self._help[cmd] = r.rc == 0
        return self._help[cmd]

    def require(self, *ops: str) -> None:
        reason = self.unavailable()
        if reason:
            raise NotAvailable(reason)
        for op in ops:
            if not self.has(op):
                raise NotAvailable(f"`gitmodels {op}` not implemented yet")

    def gm(self, *args: str) -> list[str]:
        return [self.ctx.gm_exe, *args]

    def version_cmd(self):
        return self.gm("--version")

    def init(self, repo: str, remote: Remote | None) -> None:
        self.require("init")
        if remote is None:
            self.ctx.run(self.gm("init"), cwd=repo)
            return
        r = self.ctx.run(self.gm("init", "--remote", remote.url), cwd=repo, remote=remote, check=False)
        if r.rc != 0:
            if remote.kind == "dir" or not self.has("remote add"):
                raise CommandFailed(r)
            self.ctx.run(self.gm("init"), cwd=repo, remote=remote)
            self.ctx.run(self.gm("remote", "add", "bench", remote.url, "--default"), cwd=repo, remote=remote)

    def after_clone(self, repo: str, remote: Remote | None) -> None:
        # the remote may live in committed config (then init is a no-op) or in local config
        r = self.ctx.run(self.gm("init", "--remote", remote.url) if remote else self.gm("init"),
                         cwd=repo, remote=remote, check=False)
        if r.rc != 0:
            self.ctx.run(self.gm("init"), cwd=repo, remote=remote, check=False)
            if remote is not None and self.has("remote add"):
                self.ctx.run(self.gm("remote", "add", "bench", remote.url, "--default"),
                             cwd=repo, remote=remote, check=False)

    def track_cmd(self, paths):
        self.require("add")
        return self.gm("add", *paths)

    def push_cmd(self):
        self.require("push")
        return self.gm("push")

    def pull_cmd(self):
        self.require("pull")
        return self.gm("pull")

    def status_cmd(self):
        self.require("status")
        return self.gm("status")

    def checkout_cmd(self, rev: str) -> str:
        """git checkout with the hooks off, then `gitmodels checkout` (SPEC's explicit path)."""
        self.require("checkout")
        return f"git -c core.hooksPath=/dev/null checkout -q {rev} && {self.ctx.gm_exe} checkout"

    def set_core(self, repo: str, **values) -> None:
        """Set [core] keys in the repo's gitmodels.toml (e.g. chunking=False)."""
        import tomllib
        path = os.path.join(repo, "gitmodels.toml")
        doc = {}
        if os.path.exists(path):
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        doc.setdefault("core", {}).update(values)
        with open(path, "w") as f:
            f.write(_toml(doc))

    def hooks_installed(self, repo: str) -> bool:
        hook = os.path.join(repo, ".git", "hooks", "post-checkout")
        try:
            with open(hook) as f:
                return "gitmodels" in f.read()
        except OSError:
            return False

    def install_hooks(self, repo: str) -> None:
        if not self.hooks_installed(repo) and self.has("install"):
            self.ctx.run(self.gm("install"), cwd=repo, check=False)
        if not self.hooks_installed(repo):
            raise NotAvailable("gitmodels init/install did not install a post-checkout hook yet")


# ------------------------------------------------------------------------------- DVC

class DVC(Tool):
    name = "dvc"

    def unavailable(self) -> str | None:
        return self.ctx.dvc_reason

    def dvc(self, *args: str) -> list[str]:
        return [benv.DVC_BIN, *args]

    def version_cmd(self):
        return self.dvc("--version")

    def init(self, repo: str, remote: Remote | None) -> None:
        self.require()
        self.ctx.run(self.dvc("init", "-q"), cwd=repo)
        self.ctx.run(self.dvc("config", "core.analytics", "false"), cwd=repo)
        if remote is not None:
            self.ctx.run(self.dvc("remote", "add", "-d", "bench", remote.dvc_url or remote.url), cwd=repo)
            if remote.kind == "s3":
                self.ctx.run(self.dvc("remote", "modify", "bench", "endpointurl", remote.endpoint), cwd=repo)
            self._local_settings(repo, remote)
        self.ctx.git(repo, "add", "-A")
        self.ctx.git(repo, "commit", "-q", "-m", "dvc init")

    def _local_settings(self, repo: str, remote: Remote) -> None:
        """Credentials in .dvc/config.local (never committed, so every clone sets them again)."""
        if remote.kind == "az":
            self.ctx.run(self.dvc("remote", "modify", "--local", "bench", "connection_string",
                                  self.ctx.azurite.connection_string), cwd=repo)
        elif remote.kind == "ssh":
            self.ctx.run(self.dvc("remote", "modify", "--local", "bench", "keyfile", self.ctx.sshd.keyfile),
                         cwd=repo)

    def after_clone(self, repo: str, remote: Remote | None) -> None:
        if remote is not None:
            self._local_settings(repo, remote)

    def set_cache_type(self, repo: str, kind: str) -> None:
        self.ctx.run(self.dvc("config", "cache.type", kind), cwd=repo)

    def track_cmd(self, paths):
        self.require()
        return self.dvc("add", "-q", *paths)

    def push_cmd(self):
        return self.dvc("push", "-q")

    def pull_cmd(self):
        return self.dvc("pull", "-q")

    def status_cmd(self):
        return self.dvc("status", "-q")

    def checkout_cmd(self, rev: str) -> str:
        return f"git checkout -q {rev} && {benv.DVC_BIN} checkout -q"

    def install_hooks(self, repo: str) -> None:
        self.ctx.run(self.dvc("install"), cwd=repo)


# ------------------------------------------------------------------------------- Git LFS

class GitLFS(Tool):
    name = "git-lfs"
    has_s3 = False
    remote_kinds = ("dir",)

    def unavailable(self) -> str | None:
        return self.ctx.lfs_reason

    def version_cmd(self):
        return ["git", "lfs", "version"]

    def init(self, repo: str, remote: Remote | None) -> None:
        self.require()
        self.ctx.git(repo, "lfs", "install", "--local")
        self.ctx.git(repo, "lfs", "track", "*.bin")
        if remote is not None:
            if remote.kind != "dir":
                raise NotAvailable("Git LFS has no S3 backend (it needs an LFS server)")
            if not os.path.exists(os.path.join(remote.path, "HEAD")):
                self.ctx.run(["git", "init", "-q", "--bare", remote.path])
            # file:// remotes use git-lfs' built-in standalone file transfer agent
            self.ctx.git(repo, "remote", "add", "origin", "file://" + remote.path)
        self.ctx.git(repo, "add", ".gitattributes")
        self.ctx.git(repo, "commit", "-q", "-m", "lfs init")

    def commit(self, repo: str, msg: str) -> None:
        self.ctx.git(repo, "add", "-A")
        self.ctx.git(repo, "commit", "-q", "--allow-empty", "-m", msg)

    def track_cmd(self, paths):
        self.require()
        return ["git", "add", "--", *paths]

    def push_cmd(self):
        return ["git", "push", "-q", "origin", "HEAD:main"]

    def clone(self, src: str, remote: Remote | None, name: str = "clone") -> str:
        # clone from the bare remote with smudging off, like `git lfs pull` users do
        dst = self.ctx.fresh(f"{self.name}-{name}")
        os.rmdir(dst)
        origin = "file://" + remote.path if remote is not None else src
        run(["git", "clone", "-q", origin, dst], env=dict(self.ctx.env, GIT_LFS_SKIP_SMUDGE="1"))
        self.ctx.git(dst, "lfs", "install", "--local")
        return dst

    def pull_cmd(self):
        return ["git", "lfs", "pull"]

    def status_cmd(self):
        return ["git", "lfs", "status"]

    def checkout_cmd(self, rev: str) -> str:
        return f"git checkout -q {rev}"

    def install_hooks(self, repo: str) -> None:
        pass  # `git lfs install --local` already installed its hooks and filters

    def store_bytes(self, repo: str) -> tuple[int, int]:
        return tree_bytes(os.path.join(repo, ".git", "lfs", "objects"))

    @staticmethod
    def remote_store_bytes(remote: Remote) -> tuple[int, int]:
        return tree_bytes(os.path.join(remote.path, "lfs", "objects"))


# ------------------------------------------------------------------------------- git-annex

class GitAnnex(Tool):
    """git-annex with unlocked files (annex.addunlocked): real files in the working tree, as gitmodels,
    DVC (copy) and Git LFS leave them; the models' remote is a directory special remote."""

    name = "git-annex"
    has_s3 = False  # its S3 special remote is not pointed at the harness's moto server
    remote_kinds = ("dir",)

    def unavailable(self) -> str | None:
        return self.ctx.annex_reason

    def version_cmd(self):
        return ["git", "annex", "version", "--raw"]

    def _setup(self, repo: str, desc: str) -> None:
        self.ctx.git(repo, "annex", "init", "-q", desc)
        self.ctx.git(repo, "config", "annex.addunlocked", "true")

    def init(self, repo: str, remote: Remote | None) -> None:
        self.require()
        self._setup(repo, "bench")
        if remote is not None:
            if remote.kind != "dir":
                raise NotAvailable("git-annex's S3 special remote is not set up against moto here")
            self.ctx.git(repo, "annex", "initremote", "bench", "type=directory", f"directory={remote.path}",
                         "encryption=none")
        self.ctx.git(repo, "commit", "-q", "--allow-empty", "-m", "annex init")

    def after_clone(self, repo: str, remote: Remote | None) -> None:
        self._setup(repo, "clone")
        if remote is not None:
            self.ctx.git(repo, "annex", "enableremote", "bench", f"directory={remote.path}")

    def commit(self, repo: str, msg: str) -> None:
        # `git annex add` staged the models; git's own add stages the rest (the clean filter keeps the
        # models annexed if they are staged again)
        self.ctx.git(repo, "add", "-A")
        self.ctx.git(repo, "commit", "-q", "--allow-empty", "-m", msg)

    def track_cmd(self, paths):
        self.require()
        return ["git", "annex", "add", "--quiet", *paths]

    def push_cmd(self):
        return ["git", "annex", "copy", "--quiet", "--jobs=cpus", "--to", "bench"]

    def pull_cmd(self):
        return ["git", "annex", "get", "--quiet", "--jobs=cpus", "."]

    def status_cmd(self):
        return ["git", "annex", "status"]

    def checkout_cmd(self, rev: str) -> str:
        # git-annex's post-checkout hook puts the cached content of unlocked files in place
        return f"git checkout -q {rev} && git annex get --quiet ."

    def hooks_off_fix(self) -> str:
        """What a checkout with the hooks off needs afterwards to put the models in place."""
        return " && git annex smudge --update && git annex get --quiet ."

    def install_hooks(self, repo: str) -> None:
        pass  # `git annex init` installed its hooks

    @staticmethod
    def local_store_bytes(repo: str) -> tuple[int, int]:
        return tree_bytes(os.path.join(repo, ".git", "annex", "objects"))


def _toml(doc: dict) -> str:
    """A tiny TOML writer for config files of scalars, lists and nested tables."""
    import json

    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return json.dumps(str(v))

    out: list[str] = []

    def table(prefix: str, d: dict) -> None:
        plain = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix and plain:
            out.append(f"[{prefix}]")
        for k, v in plain.items():
            out.append(f"{json.dumps(k) if not k.replace('_', '').replace('-', '').isalnum() else k} = {scalar(v)}")
        if plain:
            out.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                key = k if k.replace('_', '').replace('-', '').isalnum() else json.dumps(k)
                table(f"{prefix}.{key}" if prefix else key, v)

    table("", doc)
    return "\n".join(out) + "\n"
