"""Everything gitmodels reads from git, through dulwich, in one place.

Writes that git users expect git itself to make (staging a pointer) go
through the git CLI in `stage`, so index extensions are never mishandled.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import subprocess
from typing import Iterable, Iterator

from gitmodels.errors import GitModelsError, NotARepository, RevisionNotFound
from gitmodels.storage.pointer import SUFFIX

ZERO_SHA = "0" * 40
_SUFFIX_B = SUFFIX.encode()
_REV_SUFFIX = re.compile(r"(\^\d*|~\d*)")


def discover(start: str) -> tuple[str, str, str]:
    """(worktree, git dir, common dir) for `start`, found without importing dulwich.

    Start-up matters: `gitmodels status` and the hooks run on every checkout.
    """
    folder = os.path.abspath(start)
    while True:
        dotgit = os.path.join(folder, ".git")
        if os.path.isdir(dotgit):
            git_dir = dotgit
            break
        if os.path.isfile(dotgit):  # a linked worktree or submodule: "gitdir: PATH"
            with open(dotgit, encoding="utf-8") as f:
                line = f.read().strip()
            if not line.startswith("gitdir:"):
                raise NotARepository(f"{dotgit} is not a valid .git file")
            git_dir = os.path.normpath(os.path.join(folder, line[len("gitdir:"):].strip()))
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            raise NotARepository(f"{os.path.abspath(start)} is not inside a git repository")
        folder = parent
    common = git_dir
    commondir_file = os.path.join(git_dir, "commondir")
    if os.path.isfile(commondir_file):
        with open(commondir_file, encoding="utf-8") as f:
            common = os.path.normpath(os.path.join(git_dir, f.read().strip()))
    return folder, git_dir, common


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    """Who made a commit, and what git's own signature check says about it."""

    sha: str
    author: str
    email: str
    signature: str = ""  # git's %G?: G good, U good but unknown validity, N none, B bad, E cannot check, ...
    fingerprints: tuple[str, ...] = ()  # %GF and %GP: the signing key and its primary key
    parents: tuple[str, ...] = ()

    @property
    def good_signature(self) -> bool:
        """The bytes are signed and the signature checks out (validity is the trust list's call)."""
        return self.signature in ("G", "U")


def global_config(key: str, path: bool = False) -> str | None:
    """A key of the user's global git config (~/.gitconfig, or GIT_CONFIG_GLOBAL), as git reads it."""
    args = ["git", "config", "--global", *(["--type=path"] if path else []), "--get", key]
    proc = subprocess.run(args, capture_output=True, cwd=os.path.expanduser("~"))
    value = proc.stdout.decode("utf-8", "surrogateescape").strip()
    return value if proc.returncode == 0 and value else None


def set_global_config(key: str, value: str | None) -> None:
    """Set (or with None, remove) a key of the user's global git config."""
    args = ["git", "config", "--global", key, value] if value is not None else \
        ["git", "config", "--global", "--unset", key]
    proc = subprocess.run(args, capture_output=True, cwd=os.path.expanduser("~"))
    if proc.returncode != 0 and not (value is None and proc.returncode == 5):  # 5: nothing to unset
        message = proc.stderr.decode(errors="replace").strip()
        raise GitModelsError(f"git config --global {key} failed: {message or proc.returncode}")


def _config_files(git_dir: str, common_dir: str) -> list[str]:
    """The files git reads its configuration from for this repository, system to local."""
    env = os.environ
    files = []
    if env.get("GIT_CONFIG_NOSYSTEM", "") in ("", "0", "false"):
        files.append(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig")
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(env["GIT_CONFIG_GLOBAL"])
    else:
        xdg = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        files += [os.path.join(xdg, "git", "config"), os.path.join(os.path.expanduser("~"), ".gitconfig")]
    files += [os.path.join(common_dir, "config"), os.path.join(git_dir, "config.worktree")]
    return files


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # what a first commit is compared against


class GitRepo:
    """One git repository, as gitmodels sees it: the only door to git (dulwich reads, the git CLI for the rest).

    Keeping every git call here means one place decides how git is asked
    (dulwich for speed, the CLI where only git knows the answer: GIT_INDEX_FILE,
    core.hooksPath, reflogs), and the rest of gitmodels asks questions, not
    command lines.
    """

    def __init__(self, path: str = "."):
        self.worktree, self.git_dir, self.common_dir = discover(path)
        self._repo = None

    @property
    def repo(self):
        """The dulwich Repo, opened on first use."""
        if self._repo is None:
            from dulwich.repo import NotGitRepository, Repo

            try:
                self._repo = Repo(self.worktree)
            except NotGitRepository:
                raise NotARepository(f"{self.worktree} is not a git repository") from None
        return self._repo

    def default_hooks_dir(self) -> str | None:
        """The hooks folder git uses, read without starting git: the common dir's hooks/ when no
        config file can set core.hooksPath. None when one might (or includes another file): ask git."""
        if os.environ.get("GIT_CONFIG_PARAMETERS") or os.environ.get("GIT_CONFIG_COUNT"):
            return None
        for path in _config_files(self.git_dir, self.common_dir):
            try:
                with open(path, "rb") as f:
                    text = f.read().lower()
            except OSError:
                continue
            if b"hookspath" in text or b"include" in text:
                return None
        return os.path.join(self.common_dir, "hooks")

    def index_path(self) -> str:
        return os.path.join(self.git_dir, "index")

    # -- revisions --------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit HEAD points at, or None on an unborn branch."""
        try:
            return self.repo.refs[b"HEAD"].decode()
        except KeyError:
            return None

    def branch(self) -> str | None:
        try:
            target = self.repo.refs.read_ref(b"HEAD")
        except KeyError:
            return None
        if target and target.startswith(b"ref: refs/heads/"):
            return target[len(b"ref: refs/heads/"):].decode()
        return None

    def resolve(self, rev: str) -> str:
        """A commit sha for `rev`: names, tags, (short) shas, with ~N and ^N suffixes."""
        from dulwich import objectspec

        match = re.match(r"^(.*?)((?:\^\d*|~\d*)*)$", rev)
        base, suffixes = (match.group(1), match.group(2)) if match else (rev, "")
        try:
            commit = objectspec.parse_commit(self.repo, (base or "HEAD").encode())
        except (KeyError, ValueError, TypeError, NotImplementedError):
            commit = None
        if commit is None:
            raise RevisionNotFound(f"unknown revision {rev!r}")
        for op in _REV_SUFFIX.findall(suffixes):
            n = int(op[1:]) if len(op) > 1 else 1
            if op[0] == "~":
                for _ in range(n):
                    commit = self._parent(commit, 0, rev)
            elif n:
                commit = self._parent(commit, n - 1, rev)
        return commit.id.decode()

    def _parent(self, commit, index: int, rev: str):
        if len(commit.parents) <= index:
            raise RevisionNotFound(f"revision {rev!r} goes past the start of history")
        return self.repo[commit.parents[index]]

    def commit(self, sha: str):
        return self.repo[sha.encode()]

    def tree_of(self, sha: str) -> bytes:
        return self.repo[sha.encode()].tree

    # -- pointers in history ----------------------------------------------------------

    def pointers_at(self, sha: str) -> dict[str, str]:
        """pointer path -> blob sha, for every pointer in the commit's tree."""
        out: dict[str, str] = {}
        store = self.repo.object_store
        stack = [(b"", self.tree_of(sha))]
        while stack:
            prefix, tree_id = stack.pop()
            for entry in store[tree_id].iteritems():
                path = prefix + entry.path
                if stat.S_ISDIR(entry.mode):
                    stack.append((path + b"/", entry.sha))
                elif entry.path.endswith(_SUFFIX_B) and stat.S_ISREG(entry.mode):
                    out[path.decode("utf-8", "surrogateescape")] = entry.sha.decode()
        return out

    def changed_pointers(self, old: str | None, new: str) -> dict[str, tuple[str | None, str | None]]:
        """pointer path -> (old blob, new blob) for pointers that differ between two commits."""
        from dulwich.diff_tree import tree_changes

        old_tree = self.tree_of(old) if old and old != ZERO_SHA else None
        new_tree = self.tree_of(new) if new and new != ZERO_SHA else None
        out: dict[str, tuple[str | None, str | None]] = {}
        for change in tree_changes(self.repo.object_store, old_tree, new_tree):
            for side, entry in (("old", change.old), ("new", change.new)):
                if entry is None or entry.path is None or not entry.path.endswith(_SUFFIX_B):
                    continue
                path = entry.path.decode("utf-8", "surrogateescape")
                before, after = out.get(path, (None, None))
                if side == "old":
                    before = entry.sha.decode()
                else:
                    after = entry.sha.decode()
                out[path] = (before, after)
        return out

    def blob(self, blob_sha: str) -> bytes:
        return self.repo[blob_sha.encode()].as_raw_string()

    def file_at(self, sha: str, path: str) -> bytes | None:
        """The bytes of `path` in commit `sha`, or None when it is not there."""
        from dulwich.object_store import tree_lookup_path

        try:
            _mode, blob_id = tree_lookup_path(self.repo.object_store.__getitem__, self.tree_of(sha),
                                              path.encode("utf-8"))
        except KeyError:
            return None
        obj = self.repo[blob_id]
        return obj.as_raw_string() if obj.type_name == b"blob" else None

    def walk(self, include: Iterable[str], exclude: Iterable[str] = (), paths: list[str] | None = None,
             max_entries: int | None = None) -> Iterator:
        """Commits reachable from `include` but not from `exclude`, newest first."""
        include = [s.encode() for s in include if s and s != ZERO_SHA]
        exclude = [s.encode() for s in exclude if s and s != ZERO_SHA and s.encode() in self.repo.object_store]
        if not include:
            return iter(())
        kwargs = {}
        if paths:
            kwargs["paths"] = [p.encode() for p in paths]
        return (e.commit for e in self.repo.get_walker(include=include, exclude=exclude,
                                                       max_entries=max_entries, **kwargs))

    def introducing_commit(self, start: str, path: str, needle: str, signature: bool = False) -> "CommitInfo | None":
        """The newest commit reachable from `start` that put `needle` into `path` (None: none did).

        `git log -S` finds the commits that change how often `needle` occurs in
        `path`; from a commit whose file holds it, the newest such commit is the
        one that introduced it. Merges are not diffed, so a merge that takes one
        side unchanged is followed to the commit that made the change, not
        credited to whoever merged. `signature=True` also asks git to verify the
        commit's signature (gpg, or ssh with gpg.ssh.allowedSignersFile; when
        that is not configured, an empty list is used, so a good ssh signature
        reads "U" with its key's fingerprint).
        """
        fields = ["%H", "%P", "%an", "%ae"] + (["%G?", "%GF", "%GP"] if signature else [])
        config = ["--literal-pathspecs", "-c", "log.showSignature=false"]
        if signature and not self._run("config", "--get", "gpg.ssh.allowedSignersFile", check=False).stdout.strip():
            config += ["-c", f"gpg.ssh.allowedSignersFile={os.devnull}"]
        proc = self._run(*config, "log", "-1", "--no-color", f"-S{needle}", "--format=" + "%x00".join(fields),
                        start, "--", path, check=False)
        if proc.returncode != 0:  # (not check=True: its message would name the first option, not `log`)
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise GitModelsError(f"git log failed: {message[-1] if message else proc.returncode}")
        line = proc.stdout.decode("utf-8", "replace").strip("\n")
        if not line:
            return None
        parts = line.split("\0") + [""] * 3
        return CommitInfo(sha=parts[0], parents=tuple(parts[1].split()), author=parts[2], email=parts[3],
                          signature=(parts[4] or "N") if signature else "",
                          fingerprints=tuple(f for f in parts[5:7] if f))

    def refs(self, prefixes: tuple[bytes, ...] = (b"refs/heads/", b"refs/tags/")) -> dict[str, str]:
        """ref name -> commit sha (tags peeled)."""
        out = {}
        for name in self.repo.refs.allkeys():
            if not name.startswith(prefixes):
                continue
            try:
                obj = self.repo[self.repo.refs[name]]
                while obj.type_name == b"tag":
                    obj = self.repo[obj.object[1]]
                if obj.type_name == b"commit":
                    out[name.decode()] = obj.id.decode()
            except KeyError:
                continue
        return out

    def annotated_tags(self, prefix: str) -> list[dict]:
        """Every annotated tag under refs/tags/<prefix>: name (without refs/tags/), commit, tagger, email,
        time, tz (seconds east of UTC), message. Lightweight tags are skipped: they carry no who/when."""
        out = []
        start = b"refs/tags/" + prefix.encode("utf-8")
        for name in self.repo.refs.allkeys():
            if not name.startswith(start):
                continue
            try:
                obj = self.repo[self.repo.refs[name]]
            except KeyError:
                continue
            if obj.type_name != b"tag":
                continue
            tag = obj
            target = obj
            while target.type_name == b"tag":
                target = self.repo[target.object[1]]
            tagger = (tag.tagger or b"").decode("utf-8", "replace")
            who, _, email = tagger.partition(" <")
            out.append({"name": name[len(b"refs/tags/"):].decode("utf-8", "surrogateescape"),
                        "commit": target.id.decode(), "tagger": who.strip(), "email": email.rstrip(">").strip(),
                        "time": tag.tag_time or 0, "tz": tag.tag_timezone or 0,
                        "message": (tag.message or b"").decode("utf-8", "replace").strip()})
        return out

    def remote_tracking(self, remote: str) -> list[str]:
        return list(self.refs((f"refs/remotes/{remote}/".encode(),)).values())

    def is_shallow(self) -> bool:
        return os.path.exists(os.path.join(self.common_dir, "shallow"))

    # -- history walks and roots (git/trees.py, git/roots.py): for log and gc ---------

    def trees(self):
        """A fresh memoised reader of commits, trees and pointer blobs (git/trees.py)."""
        from gitmodels.git.trees import Trees

        return Trees(self)

    def roots(self, trees=None):
        """Every ref, reflog, stash entry, worktree HEAD, index and workspace pointer (git/roots.py)."""
        from gitmodels.git.roots import gather

        return gather(self, trees)

    def team_tips(self):
        """Every ref of every git remote, fetched with its history into a private, removed namespace (roots.py);
        the dulwich handle is reopened so the fetched packs are seen."""
        from gitmodels.git.roots import team_tips

        tips = team_tips(self.worktree or self.common_dir)
        self._repo = None
        return tips

    # -- index and working tree -------------------------------------------------------

    def index_entries(self) -> dict[str, str]:
        """Every staged path -> blob sha (stage 0 only; conflicted entries map to '')."""
        from dulwich.index import ConflictedIndexEntry

        out = {}
        for path, entry in self.repo.open_index().items():
            out[path.decode("utf-8", "surrogateescape")] = "" if isinstance(entry, ConflictedIndexEntry) \
                else entry.sha.decode()
        return out

    def index_pointers(self) -> list[str]:
        out = []
        for path in self.repo.open_index().paths():
            if path.endswith(_SUFFIX_B):
                out.append(path.decode("utf-8", "surrogateescape"))
        return out

    def sparse_split_pointers(self) -> tuple[list[str], list[str]]:
        """(pointers in the working tree, pointers a sparse checkout leaves out: skip-worktree in the index)."""
        from dulwich.index import EXTENDED_FLAG_SKIP_WORKTREE, ConflictedIndexEntry

        inside, outside = [], []
        for path, entry in self.repo.open_index().items():
            if path.endswith(_SUFFIX_B):
                skip = not isinstance(entry, ConflictedIndexEntry) and \
                    bool(entry.extended_flags & EXTENDED_FLAG_SKIP_WORKTREE)
                (outside if skip else inside).append(path.decode("utf-8", "surrogateescape"))
        return inside, outside

    def is_tracked(self, relpath: str) -> bool:
        """True when git tracks `relpath` itself or files under it."""
        files, folders = self._tracked_sets()
        key = relpath.encode("utf-8").rstrip(b"/")
        return key in files or key in folders

    def _tracked_sets(self) -> tuple[frozenset[bytes], frozenset[bytes]]:
        """The index's paths and every folder above them, read once per version of the index file
        (`gitmodels add` of thousands of models asks once per model)."""
        try:
            st = os.stat(self.index_path())
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        cached = getattr(self, "_tracked_cache", None)
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        files = frozenset(self.repo.open_index().paths())
        folders = set()
        for path in files:
            parts = path.split(b"/")[:-1]
            for i in range(1, len(parts) + 1):
                folders.add(b"/".join(parts[:i]))
        sets = (files, frozenset(folders))
        self._tracked_cache = (stamp, sets)
        return sets

    def changed_files(self) -> list[str]:
        """Tracked files whose content differs from HEAD (staged or not), for provenance."""
        from dulwich import porcelain

        status = porcelain.status(self.repo, untracked_files="no")
        changed = set()
        for group in status.staged.values():
            changed.update(p.decode("utf-8", "surrogateescape") for p in group)
        changed.update(p.decode("utf-8", "surrogateescape") for p in status.unstaged)
        return sorted(changed)

    def relpath(self, path: str) -> str:
        """Repo-relative '/'-separated path; raises when outside the working tree."""
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, self.worktree)
        if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir or os.path.isabs(rel):
            from gitmodels.errors import PathError

            raise PathError(f"{path} is outside the repository {self.worktree}",
                            "models must live inside the git working tree")
        return rel.replace(os.sep, "/")

    # -- writes through the git CLI ---------------------------------------------------

    def _run(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        """git itself, in the working tree; GITMODELS_SKIP keeps our own hooks out of the commands we start.
        Private: code outside git/ asks one of the questions below instead of composing git command lines."""
        env = dict(os.environ, GITMODELS_SKIP="1")
        proc = subprocess.run(["git", *args], cwd=self.worktree, capture_output=True, input=input, env=env)
        if check and proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise GitModelsError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
        return proc

    def stage(self, paths: list[str]) -> None:
        if paths:
            self._run("add", "--", *paths)

    # -- questions the hooks and the registry ask (answered by the git CLI) -----------

    def has_commit(self, sha: str) -> bool:
        """True when the object `sha` is in this repository (pre-push: does the remote's tip exist here?)."""
        try:
            return sha.encode() in self.repo.object_store
        except Exception:  # noqa: BLE001 - a malformed sha is simply unknown
            return False

    def rev_parse(self, rev: str) -> str | None:
        """The commit `rev` names (ORIG_HEAD, a branch...), or None; git's own answer, reflogs and all."""
        proc = self._run("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)
        out = proc.stdout.decode().strip()
        return out if proc.returncode == 0 and out else None

    def staged_changes(self) -> list[tuple[str, str, str]]:
        """(mode, blob sha, path) of every file added, modified or retyped in the index against HEAD.

        Asked of the git CLI, not dulwich: it honours GIT_INDEX_FILE, the temporary
        index that `git commit -a` and `git commit PATH` hand their pre-commit hook.
        """
        against = EMPTY_TREE if self.head() is None else "HEAD"
        out = self._run("diff-index", "--cached", "-z", "--no-renames", "--diff-filter=AMT", against).stdout
        fields = out.split(b"\0")
        staged = []
        for meta, raw_path in zip(fields[0::2], fields[1::2]):
            parts = meta.decode().lstrip(":").split()
            if len(parts) >= 5:
                staged.append((parts[1], parts[3], raw_path.decode("utf-8", "surrogateescape")))
        return staged

    def blob_sizes(self, shas: Iterable[str]) -> dict[str, int]:
        """blob sha -> size, in one git process, without reading the blobs (pre-commit's big-file check)."""
        shas = sorted(set(shas))
        if not shas:
            return {}
        proc = self._run("cat-file", "--batch-check=%(objectname) %(objectsize)", check=False,
                         input=("\n".join(shas) + "\n").encode())
        sizes = {}
        for line in proc.stdout.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                sizes[parts[0]] = int(parts[1])
        return sizes

    def hooks_dir(self) -> str:
        """Where git looks for hooks: core.hooksPath if set, else the common dir's hooks (shared by worktrees).
        git's answer, so every config file and include it reads counts (default_hooks_dir is the cheap guess)."""
        out = self._run("rev-parse", "--git-path", "hooks").stdout.decode("utf-8", "surrogateescape").strip()
        return os.path.normpath(os.path.join(self.worktree, os.path.expanduser(out)))

    def operation_in_progress(self) -> bool:
        """A merge, cherry-pick, revert or rebase stopped for conflicts (the user is committing its result)."""
        names = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
        return any(os.path.exists(os.path.join(self.git_dir, n)) for n in names)

    def create_tag(self, name: str, commit: str, message: str) -> None:
        """An annotated tag: it records who made it and when, which the registry's alias history reads back."""
        self._run("tag", "-a", "-m", message, name, commit)

    def staged_removals(self, pattern: str) -> dict[str, str]:
        """path -> blob sha at HEAD of the files matching `pattern` that the index removes (a `git mv` or
        `git rm` about to be committed); honours GIT_INDEX_FILE like `staged_changes`."""
        against = EMPTY_TREE if self.head() is None else "HEAD"
        out = self._run("diff-index", "--cached", "-z", "--no-renames", "--diff-filter=D", against,
                        "--", pattern).stdout
        fields = out.split(b"\0")
        removed = {}
        for meta, raw_path in zip(fields[0::2], fields[1::2]):
            parts = meta.decode().lstrip(":").split()
            if len(parts) >= 5:
                removed[raw_path.decode("utf-8", "surrogateescape")] = parts[2]
        return removed

    def tracked(self, *pathspecs: str) -> list[str]:
        """The index's files matching `pathspecs` (of the index the running git command uses)."""
        out = self._run("ls-files", "-z", "--", *pathspecs).stdout
        return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})

    def unstage_removed(self, paths: list[str]) -> None:
        """Record in the index that `paths` are gone (files already deleted from the working tree)."""
        self._run("rm", "-q", "--cached", "--ignore-unmatch", "--", *paths)

    def move(self, src: str, dst: str) -> None:
        """`git mv`: the index and the working tree."""
        self._run("mv", "--", src, dst)

    def remove(self, path: str) -> None:
        """`git rm -f`: the index and the working tree."""
        self._run("rm", "-q", "-f", "--", path)

    def differs_from_index(self, path: str) -> bool:
        """Whether the working-tree file has edits the index does not have."""
        return self._run("diff", "--quiet", "--", path, check=False).returncode != 0

    def index_listing(self, pattern: str, nul: bool = False) -> bytes:
        """`git ls-files -s -t` of `pattern`: what the post-index-change script hashes, byte for byte."""
        return self._run("ls-files", "-s", "-t", *(["-z"] if nul else []), "--", pattern).stdout

    def unstaged_files(self, pattern: str) -> list[str]:
        """Files matching `pattern` whose working-tree content differs from the index."""
        out = self._run("diff-files", "--name-only", "-z", "--", pattern, check=False).stdout
        return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
