"""The Python API: save and load models with their provenance, plus the everyday operations.

`save` serializes a model into a directory artifact and tracks it with the
metadata a reader of the pointer needs; `load` gives it back as it was at any
revision, re-hashed against the oid git recorded before anything is deserialized.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from typing import Any, Iterable

from gitmodels.storage import fileio
from gitmodels.errors import PathError
from gitmodels.repo import Repo

log = logging.getLogger("gitmodels")


def _repo_for(path: str | os.PathLike, repo: Repo | None) -> Repo:
    if repo is not None:
        return repo
    folder = os.path.dirname(os.path.abspath(path)) or "."
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return Repo(folder)


def git_provenance(repo: Repo) -> dict[str, Any]:
    """The code the model was trained from: commit, branch, dirty flag, changed files."""
    info: dict[str, Any] = {}
    head = repo.git.head()
    if head:
        info["commit"] = head
    branch = repo.git.branch()
    if branch:
        info["branch"] = branch
    changed = [p for p in repo.git.changed_files() if not p.endswith(".gitmodel")]
    info["dirty"] = bool(changed)
    if changed:
        info["changed"] = changed[:50]
    return info


def save(model: Any, path: str | os.PathLike, *, metrics: dict | None = None, params: dict | None = None,
         tags: dict | None = None, serializer: str | None = None, format: str | None = None,
         repo: Repo | None = None, stage: bool = True, record_environment: bool = True):
    """Serialize `model` to the directory `path` and track it; returns the new Pointer.

    A path (str/PathLike) that exists is tracked as it is: `gitmodels.save("model.onnx")`.
    """
    from gitmodels import metadata, serializers

    own = repo is None
    if isinstance(model, (str, os.PathLike)) and os.path.exists(model):
        repo = _repo_for(model, repo)
        try:
            meta = _user_tables(metrics, params, tags)
            meta["git"] = git_provenance(repo)
            result = repo.add([str(model)], meta=meta, stage=stage)[0]
            return repo.read_pointer(result.pointer_path)
        finally:
            if own:
                repo.close()
    target = os.path.abspath(path)
    repo = _repo_for(target, repo)
    try:
        if os.path.lexists(target) and not os.path.isdir(target):
            raise PathError(f"{path} exists and is not a directory", "save to a new path, or remove the file")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = fileio.tmp_name_for(target)
        followed: list = []
        try:
            with _following(repo, followed):
                tables = serializers.save_to_dir(model, tmp, serializer=serializer, format=format)
            fileio.swap_into_place(tmp, target)
            _trust_followed(repo, target, followed)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        meta: dict[str, Any] = {name: tables[name] for name in ("model", "runtime", "dependencies") if tables.get(name)}
        if record_environment:
            oid = repo.store.add_bytes(metadata.environment_requirements().encode("utf-8"))
            meta["environment"] = {"requirements": "sha256:" + oid}
        meta["git"] = git_provenance(repo)
        described = tables.get("params") or {}
        user = _user_tables(metrics, {**described, **(params or {})} or None, tags)
        meta.update(user)
        result = repo.add([target], meta=meta, stage=stage)[0]
        if serializers.runs_code(tables["model"]):
            _note_unsafe(result.path, tables)
        return repo.read_pointer(result.pointer_path)
    finally:
        if own:
            repo.close()


def _note_unsafe(path: str, tables: dict) -> None:
    """One line, so that a pickle never enters a repository unnoticed."""
    fmt = tables["model"]["format"]
    why = tables.get("fallback") or "as asked"
    log.warning(f"gitmodels: note: {path} was saved as {fmt}, a format that runs code when loaded ({why}); "
                "teammates will have to trust it to load it")


@contextlib.contextmanager
def _following(repo: Repo, followed: list):
    """Let serializers stream large files through FollowedFile: hashed into the cache as written."""
    from gitmodels.hooks.following import FollowedFile
    from gitmodels.serializers.base import OUTPUT_OPENER

    def opener(path: str) -> FollowedFile:
        f = FollowedFile(repo.store, path)
        followed.append(f)
        return f

    token = OUTPUT_OPENER.set(opener)
    try:
        yield
    finally:
        OUTPUT_OPENER.reset(token)


def _trust_followed(repo: Repo, target: str, followed: list) -> None:
    """Record the saved files' oids in the stat cache, so `add` finds them hashed and cached already."""
    by_inode = {f.inode: f for f in followed if f.oid}
    if not by_inode:
        return
    for folder, _, names in os.walk(repo.abspath(repo.artifact_relpath(target))):  # the path `add` will scan
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            f = by_inode.get(st.st_ino)
            if f is not None and st.st_size == f.size:
                repo.state.record(path, st, f.oid)
                repo.workspace.trust_object(f.oid)


def _user_tables(metrics, params, tags) -> dict:
    out = {}
    for name, table in (("metrics", metrics), ("params", params), ("tags", tags)):
        if table:
            out[name] = {str(k): v for k, v in table.items()}
    return out


def load(path: str | os.PathLike, rev: str | None = None, *, repo: Repo | None = None, remote: str | None = None,
         trust: bool = False, source: str | None = None, example: Any = None, **kwargs: Any) -> Any:
    """The model at `path` (in the workspace, or at git revision `rev`), verified against its pointer.

    A load that can run code from the files (joblib, a whole torch module) goes ahead only when the
    bytes are trusted (saved here, or committed by a trusted author or key: gitmodels/trust.py), or
    with `trust=True` for this call; otherwise UntrustedModel is raised before anything is read.
    `source=GIT_URL` (or a path "GIT_URL#models/churn") loads from another repository (docs/registry.md);
    `example=X` first checks X against the recorded [model.signature].
    """
    from gitmodels import history, metadata, serializers, trust as trust_mod

    path, rev = history.parse_spec(str(path), rev)
    if source is not None or _is_url_spec(path):
        return _load_from_source(source, path, rev, repo, example, kwargs, trust)
    own = repo is None
    repo = _repo_for(path, repo)
    try:
        art, sha, ptr = history.pointer_at(repo, path, rev)
        if example is not None:
            from gitmodels.registry import signature

            signature.check(ptr.meta, example, f"{art}@{rev}" if rev else art)
        model_meta = ptr.meta.get("model") if isinstance(ptr.meta.get("model"), dict) else None
        for warning in metadata.check_runtime(ptr.meta):
            warnings.warn(warning, RuntimeWarning, stacklevel=2)
        if not ptr.is_dir:
            _refuse_plain_file()
        os.makedirs(repo.store.tmp_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="load-", dir=repo.store.tmp_dir) as tmp:
            dest = os.path.join(tmp, "model")
            repo.export(ptr, dest, remote=remote, where=art)
            ser, meta = serializers.resolve(dest, model_meta)
            load_args = {k: v for k, v in kwargs.items() if k != "allow_pickle"}
            if not trust and kwargs.get("allow_pickle", True) and ser.uses_pickle(meta, **load_args):
                trust_mod.require(repo, art, ptr, sha, meta)
            return serializers.load_from_dir(dest, model_meta, **kwargs)
    finally:
        if own:
            repo.close()


def _is_url_spec(path: str) -> bool:
    from gitmodels.registry.imports import is_url_spec

    return is_url_spec(path)


def _load_from_source(source: str | None, path: str, rev: str | None, repo: Repo | None, example: Any,
                      kwargs: dict, trust: bool) -> Any:
    """load() from another repository: its mirror in this repository's cache (or the user cache outside one)."""
    from gitmodels.errors import NotARepository
    from gitmodels.registry import imports

    if source is None:
        source, _, path = path.partition("#")
    consumer, own = repo, False
    if consumer is None:
        try:
            consumer, own = Repo("."), True
        except NotARepository:
            consumer = None
    try:
        src, abs_path, commit, _ = imports.open_model(source, path, rev, consumer)
        try:
            return load(abs_path, commit, repo=src.repo, trust=trust, example=example, **kwargs)
        finally:
            src.close()
    finally:
        if own and consumer is not None:
            consumer.close()


def _refuse_plain_file() -> None:
    from gitmodels.errors import SerializerError

    raise SerializerError("this model is a plain file tracked with `gitmodels add`, not one written by "
                          "gitmodels.save, so there is no serializer to load it with",
                          "write it out with `gitmodels get PATH@REV -o OUT`, or open the workspace file")


def show(path: str | os.PathLike, rev: str | None = None, *, repo: Repo | None = None) -> dict:
    """The metadata of a model at a revision (the workspace pointer when rev is None), as a dict."""
    from gitmodels import history

    path, rev = history.parse_spec(str(path), rev)
    own = repo is None
    repo = _repo_for(path, repo)
    try:
        return history.show(repo, path, rev)
    finally:
        if own:
            repo.close()


@contextlib.contextmanager
def _opened(repo: Repo | None, path: str = "."):
    if repo is not None:
        yield repo
        return
    with Repo(path) as r:
        yield r


def add(paths: str | Iterable[str], *, repo: Repo | None = None, stage: bool = True):
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    with _opened(repo) as r:
        return r.add([str(p) for p in paths], stage=stage)


def push(*, rev: str | None = None, all_refs: bool = False, remote: str | None = None, repo: Repo | None = None):
    """Upload the models of the working tree (or of `rev`, or of every ref) to the model remote.

    What the pre-push hook does on `git push`, for pipelines that push without
    git hooks; returns a TransferResult whose `failed` lists what did not go.
    """
    with _opened(repo) as r:
        return r.push(rev, all_refs, remote)


def pull(*, remote: str | None = None, force: bool = False, repo: Repo | None = None):
    """Fetch the models the working tree's pointers name and check them out; returns a CheckoutResult.

    For a clone made without the hooks (CI, a notebook): afterwards every model
    matches its pointer. `force` replaces local changes that were never added.
    """
    with _opened(repo) as r:
        return r.pull(remote, force=force)


def status(paths: Iterable[str] | None = None, *, remote: str | bool | None = None, repo: Repo | None = None):
    """One ModelStatus per model: `state` is a name of gitmodels.workspace.status.STATES; `pushed` is None unless `remote`.

    Lets a script check, before it trains or ships, that every model matches
    its pointer (and with `remote`, that teammates can fetch it).
    """
    with _opened(repo) as r:
        return r.status(paths, remote=remote)


def move(src: str | os.PathLike, dst: str | os.PathLike, *, repo: Repo | None = None):
    """Move a tracked model: its bytes, its pointer (staged as `git mv`) and its ignore rule (a MoveResult)."""
    from gitmodels.workspace import moves

    with _opened(repo) as r:
        return moves.move(r, str(src), str(dst))


def remove(path: str | os.PathLike, *, keep: bool = False, force: bool = False, repo: Repo | None = None):
    """Stop tracking a model (or an orphan whose pointer git removed): pointer, ignore rule, and its bytes
    unless `keep`; bytes the cache lacks only with `force` (a RemoveResult)."""
    from gitmodels.workspace import moves

    with _opened(repo) as r:
        return moves.remove(r, str(path), keep=keep, force=force)
