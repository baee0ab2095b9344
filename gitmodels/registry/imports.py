"""Models from other git repositories: import, update, get and load by git URL (docs/registry.md).

A source is read through a mirror: a git repository with no checkout under
the gitmodels cache (`sources/<hash of the URL>/`), into which one commit is
fetched with `--depth 1` (the whole history only for revisions like `main~2`).
The mirror is opened as a gitmodels Repo whose model remote is the source's
committed one (or the local override) and whose objects directory is this
repository's cache, so every byte is verified into this cache and nothing
needs the source afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Any

from gitmodels.git import mirrors as gitrepo
from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import (GitModelsError, ModelNotFound, ObjectMissing, PathError, RemoteError, RevisionNotFound, SourceRemoteUnreachable, UsageError)
from gitmodels.storage.pointer import Pointer
from gitmodels.registry import aliases

TABLE = "import"
TABLE_VERSION = 1
SOURCE_REMOTE = "source"
_SHA = re.compile(r"[0-9a-f]{40}\Z")

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]


def normalize_url(url: str) -> str:
    """A local path becomes absolute (a clone elsewhere must find it); any other URL is kept as given."""
    if "://" in url or re.match(r"^[^/]+@[^/:]+:", url) or re.match(r"^[A-Za-z0-9.-]+:(?!/)", url):
        return url
    return os.path.abspath(os.path.expanduser(url))


def _is_local(url: str) -> bool:
    return url.startswith("file://") or os.path.isabs(url)


def _local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def sources_dir(repo=None) -> str:
    if repo is not None:
        return os.path.join(repo.meta_dir, "sources")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gitmodels", "sources")


def source_art(path: str) -> str:
    art = path.strip().strip("/")
    if art.endswith(pointer_mod.SUFFIX):
        art = art[: -len(pointer_mod.SUFFIX)]
    if not art or art.startswith("../") or art == ".." or os.path.isabs(path):
        raise UsageError(f"{path!r} is not a model path inside the source repository",
                         "give the path as the source repository names it, e.g. models/churn")
    return art


class Source:
    """One source repository, read through its mirror."""

    def __init__(self, url: str, consumer=None):
        self.url = normalize_url(url)
        self.consumer = consumer
        self.mirror = os.path.join(sources_dir(consumer), hashlib.sha256(self.url.encode()).hexdigest()[:16])
        self._refs: dict[str, str] | None = None
        self._repo = None

    # -- git -----------------------------------------------------------------------------

    def refs(self) -> dict[str, str]:
        if self._refs is None:
            self._refs = gitrepo.ls_remote(self.url)
        return self._refs

    def resolve(self, art: str, rev: str | None) -> str:
        """The source commit of `rev` for model `art`: its alias in the source, a branch, a tag, a sha, or any
        revision git understands (then the mirror fetches the whole history once)."""
        rev = rev or "HEAD"
        gitrepo.init_mirror(self.mirror)
        if _SHA.match(rev) and self._has_commit(rev):
            return rev  # a pinned commit: no network needed
        refs = self.refs()
        found = aliases.resolve_remote(refs, art, rev)
        if found is None:
            for ref in (rev if rev.startswith("refs/") else None, f"refs/heads/{rev}", f"refs/tags/{rev}",
                        "HEAD" if rev == "HEAD" else None):
                if ref and ref in refs:
                    found = (ref, refs[ref])
                    break
        if found is not None:
            ref, commit = found
            self._fetch(commit, ref)
            return commit
        if _SHA.match(rev) and self._fetch(rev, rev):
            return rev
        self._fetch_all()
        try:
            return self.repo.git.resolve(rev)
        except RevisionNotFound:
            raise RevisionNotFound(f"{rev!r} is neither an alias of {art} nor a revision of {self.url}",
                                   f"list its branches and tags with `git ls-remote {self.url}`") from None

    def _has_commit(self, sha: str) -> bool:
        proc = gitrepo.mirror_git(self.mirror, "cat-file", "-e", f"{sha}^{{commit}}", check=False)
        return proc.returncode == 0

    def _fetch(self, commit: str, ref: str) -> bool:
        if self._has_commit(commit):
            return True
        # Kept under a ref of its own, so a later `git gc` in the mirror does not drop it.
        gitrepo.fetch_into_mirror(self.mirror, self.url, [f"+{ref}:refs/gitmodels/keep/{commit}"])
        self._repo = None
        return self._has_commit(commit)

    def _fetch_all(self) -> None:
        shallow = os.path.exists(os.path.join(self.mirror, ".git", "shallow"))
        specs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        args = ["fetch", "-q", "--update-head-ok", "--no-write-fetch-head"] + (["--unshallow"] if shallow else [])
        gitrepo.mirror_git(self.mirror, *args, "--", self.url, *specs, check=False)
        self._repo = None

    # -- the mirror as a gitmodels repository ---------------------------------------------

    @property
    def repo(self):
        if self._repo is None:
            from gitmodels.repo import Repo

            self._repo = Repo(self.mirror)
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def pointer(self, art: str, commit: str) -> Pointer:
        ppath = pointer_mod.pointer_path_for(art)
        data = self.repo.git.file_at(commit, ppath)
        if data is None:
            raise ModelNotFound(f"{art} is not a model in {self.url} at {commit[:10]}",
                                f"list its models with `gitmodels registry` in a clone of {self.url}")
        return pointer_mod.parse(data, f"{self.url}#{ppath}@{commit[:10]}")

    def configure(self, commit: str) -> dict:
        """Point the mirror at the source's model remote as committed at `commit` (overridden by this repo's
        local `[imports.sources."URL"]`), and at this repository's cache. Returns the remote settings."""
        from gitmodels.config import Config, SHARED_FILE

        settings = dict(self._committed_remote(commit))
        override = {}
        if self.consumer is not None:
            override = ((self.consumer.config.data.get("imports") or {}).get("sources") or {}).get(self.url) or {}
        settings.update(override)
        if "url" not in settings:
            raise SourceRemoteUnreachable(f"{self.url} names no model remote in its {SHARED_FILE} at {commit[:10]}")
        url = str(settings["url"])
        if "://" not in url and not os.path.isabs(os.path.expanduser(url)):
            if not _is_local(self.url):
                raise SourceRemoteUnreachable(f"the model remote of {self.url} is the relative path {url!r}, "
                                              "which only a clone of it can find")
            settings["url"] = os.path.normpath(os.path.join(_local_path(self.url), url))
        meta_dir = os.path.join(self.mirror, ".git", "gitmodels")
        os.makedirs(meta_dir, exist_ok=True)
        config = Config(self.mirror, meta_dir)

        def mutate(doc: dict) -> None:
            doc.clear()
            if self.consumer is not None:
                doc["core"] = {"cache_dir": self.consumer.cache_dir}
            doc.setdefault("core", {})["default_remote"] = SOURCE_REMOTE
            doc["remotes"] = {SOURCE_REMOTE: settings}
        config.update(True, mutate)
        self.close()
        return settings

    def _committed_remote(self, commit: str) -> dict:
        git = self.repo.git
        data = git.file_at(commit, "gitmodels.toml")
        try:
            if data is not None:
                doc = tomllib.loads(data.decode("utf-8"))
            else:
                py = git.file_at(commit, "pyproject.toml")
                doc = tomllib.loads(py.decode("utf-8")).get("tool", {}).get("gitmodels", {}) if py else {}
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            doc = {}
        remotes = doc.get("remotes") if isinstance(doc.get("remotes"), dict) else {}
        name = (doc.get("core") or {}).get("default_remote") or (next(iter(remotes)) if len(remotes) == 1 else None)
        remote = remotes.get(name) if name else None
        return remote if isinstance(remote, dict) else {}

    def fetch_bytes(self, ptr: Pointer, commit: str) -> int:
        """Download the model's objects from the source's model remote into the cache (verified); returns
        how many were downloaded."""
        from gitmodels.storage.pointer import extra_objects

        src = self.repo
        if src.in_cache(ptr) and all(src.store.has(o) for o in extra_objects(ptr)):
            return 0
        settings = self.configure(commit)
        src = self.repo
        where = f"model remote {settings['url']} of {self.url}"
        try:
            result = src.fetch(pointers=[ptr], progress=False)
            extras = extra_objects(ptr) - {o for o in extra_objects(ptr) if src.store.has(o)}
            if extras:
                _, transfer = src.open_transfer()
                with transfer.backend:
                    result.merge(transfer.fetch(extras))
        except RemoteError as exc:
            raise SourceRemoteUnreachable(f"cannot read the {where}: {exc.message}") from None
        if not src.in_cache(ptr):
            why = str(result.failed[0][1]) if result.failed else "it does not have the model"
            raise SourceRemoteUnreachable(f"cannot get {ptr.oid[:12]} from the {where}: {why}")
        return result.moved


# -- the import table of a pointer ------------------------------------------------------------


def import_table(ptr: Pointer) -> dict | None:
    """The [import] table, or None for a model that is not imported (or whose table is newer than this reader)."""
    table = ptr.meta.get(TABLE)
    if not isinstance(table, dict) or "url" not in table or "path" not in table:
        return None
    version = table.get("version", 1)
    return table if isinstance(version, int) and version <= TABLE_VERSION else None


def _imported_pointer(src: Pointer, url: str, art: str, rev: str | None, commit: str) -> Pointer:
    meta = {k: v for k, v in src.meta.items() if k != TABLE}
    meta[TABLE] = {"version": TABLE_VERSION, "url": url, "path": art, "rev": rev or "HEAD", "commit": commit,
                   "oid": "sha256:" + src.oid}
    return Pointer(oid=src.oid, size=src.size, kind=src.kind, files=src.files, meta=meta)


@dataclasses.dataclass
class ImportResult:
    path: str                 # the model's path in this repository
    url: str
    source_path: str
    rev: str
    commit: str
    oid: str
    size: int
    kind: str
    fetched: int
    updated: bool = True      # False: it already was at that commit
    old_commit: str | None = None
    change: Any = None        # a history.ModelChange for an update that moved

    def to_json(self) -> dict:
        return {"path": self.path, "url": self.url, "source_path": self.source_path, "rev": self.rev,
                "commit": self.commit, "old_commit": self.old_commit, "oid": "sha256:" + self.oid,
                "size": self.size, "kind": self.kind, "fetched": self.fetched, "updated": self.updated,
                "change": self.change.to_json() if self.change is not None else None}


def import_model(repo, url: str, path: str, rev: str | None = None, out: str | None = None,
                 force: bool = False) -> ImportResult:
    """Bring the model `path` of the repository at `url`, as of `rev`, into this repository (docs/registry.md)."""
    from gitmodels.history import destination

    art_src = source_art(path)
    source = Source(url, repo)
    try:
        commit = source.resolve(art_src, rev)
        ptr = source.pointer(art_src, commit)
        fetched = source.fetch_bytes(ptr, commit)
    finally:
        source.close()
    dest = repo.artifact_relpath(destination(out or os.curdir, os.path.basename(art_src)))
    ppath = pointer_mod.pointer_path_for(dest)
    if os.path.lexists(repo.abspath(ppath)) and not force:
        try:
            existing = import_table(repo.read_pointer(ppath))
        except GitModelsError:
            existing = None
        if existing is None or (existing["url"], existing["path"]) != (source.url, art_src):
            raise PathError(f"{dest} is already a model of this repository",
                            "import to another path with -o, or pass --force to replace it")
    new = _imported_pointer(ptr, source.url, art_src, rev, commit)
    _write(repo, dest, new, force)
    return ImportResult(dest, source.url, art_src, rev or "HEAD", commit, ptr.oid, ptr.size, ptr.kind, fetched)


def _write(repo, dest: str, ptr: Pointer, force: bool) -> None:
    from gitmodels.storage import fileio
    from gitmodels.workspace import ignore

    if os.path.isdir(repo.abspath(dest)) and not ptr.is_dir and not force:
        raise PathError(f"{dest} is a directory", "import to another path with -o")
    ppath = pointer_mod.pointer_path_for(dest)
    os.makedirs(os.path.dirname(repo.abspath(ppath)), exist_ok=True)
    fileio.write_bytes_atomic(repo.abspath(ppath), ptr.dumps().encode("utf-8"), fsync=False)
    staged = [ppath]
    gi = ignore.ensure_ignored(repo.root, dest)
    if gi:
        staged.append(gi)
    repo.git.stage(staged)
    repo.checkout([dest], force=force, fetch=False, progress=False)


def imported(repo, paths=None) -> dict[str, Pointer]:
    """artifact path -> pointer, for the imported models of the workspace."""
    return {a: p for a, p in repo.pointers(None, paths).items() if import_table(p) is not None}


def update(repo, paths=None, frozen: bool = False, force: bool = False) -> list[ImportResult]:
    """Move imported models to the newest commit of the revision each follows (a branch, tag or alias).

    frozen: stay at the recorded commit, only bring the bytes into the cache from the source (a clone of a
    repository whose pre-push does not copy imported models)."""
    from gitmodels.history import _changed

    found = imported(repo, paths)
    if paths is not None:
        for p in paths:
            art = repo.artifact_relpath(p)
            if art not in found:
                raise ModelNotFound(f"{art} is not an imported model", "import one with `gitmodels import`")
    out = []
    for art, old in sorted(found.items()):
        table = import_table(old)
        source = Source(table["url"], repo)
        try:
            commit = table["commit"] if frozen else source.resolve(table["path"], table.get("rev"))
            if commit == table.get("commit") and repo.in_cache(old):
                out.append(ImportResult(art, source.url, table["path"], table.get("rev", "HEAD"), commit,
                                        old.oid, old.size, old.kind, 0, updated=False, old_commit=commit))
                continue
            if frozen:
                source.resolve(table["path"], commit)
            ptr = source.pointer(table["path"], commit)
            fetched = source.fetch_bytes(ptr, commit)
        finally:
            source.close()
        new = _imported_pointer(ptr, source.url, table["path"], table.get("rev"), commit)
        moved = commit != table.get("commit")
        if moved:
            _write(repo, art, new, force)
        else:
            repo.checkout([art], force=force, fetch=False, progress=False)
        change = _changed(pointer_mod.pointer_path_for(art), old, new) if moved else None
        out.append(ImportResult(art, source.url, table["path"], table.get("rev", "HEAD"), commit, ptr.oid,
                                ptr.size, ptr.kind, fetched, updated=moved, old_commit=table.get("commit"),
                                change=change))
    return out


def open_model(url: str, path: str, rev: str | None = None, consumer=None) -> tuple[Source, str, str, Pointer]:
    """(source, absolute path of the model in the mirror, commit, pointer) with the bytes in the cache."""
    art = source_art(path)
    source = Source(url, consumer)
    try:
        commit = source.resolve(art, rev)
        ptr = source.pointer(art, commit)
        source.fetch_bytes(ptr, commit)
    except BaseException:
        source.close()
        raise
    return source, os.path.join(source.mirror, *art.split("/")), commit, ptr


def get(url: str, path: str, rev: str | None, out: str, *, force: bool = False, consumer=None):
    """`gitmodels get GIT_URL PATH[@REV] -o OUT`: the model's bytes, verified, without importing it."""
    from gitmodels import history

    source, abs_art, commit, ptr = open_model(url, path, rev, consumer)
    try:
        art = source_art(path)
        dest = history.destination(out, os.path.basename(art))
        if consumer is not None:
            history._refuse_workspace_target(consumer, dest)
        if os.path.lexists(dest) and not force:
            raise PathError(f"{dest} already exists", "choose another output path, or pass --force to replace it")
        history._write(source.repo, ptr, dest)
        if not os.path.lexists(dest):
            raise ObjectMissing(f"{art}: nothing was written to {dest}")
        return history.GetResult(art, dest, commit, ptr.oid, ptr.kind, ptr.size, ptr.files, 0)
    finally:
        source.close()


def is_url_spec(spec: str) -> bool:
    """'URL#path' names a model of another repository when URL is clearly a git URL (scheme://, user@host:,
    or a path ending in .git); use load(..., source=URL) for a plain directory."""
    url, hash_, _ = spec.partition("#")
    return bool(hash_) and ("://" in url or re.match(r"^[^/]+@[^/:]+:", url) is not None or url.endswith(".git"))


__all__ = ["Source", "ImportResult", "import_model", "update", "imported", "import_table", "get", "open_model",
           "normalize_url", "is_url_spec", "TABLE", "TABLE_VERSION"]
