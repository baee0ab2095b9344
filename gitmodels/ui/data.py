"""The documents the page shows, as plain JSON-ready dicts, built from `gitmodels.history`.

A model's versions are the union of `history.log` from HEAD and from every local branch, each
marked with the branches whose history holds it and the refs (branches, tags) whose tip has it as
the current version, so the page can tell branches apart and say "which branch holds what".
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re

from gitmodels import history
from gitmodels.errors import ModelNotFound, PathError, RevisionNotFound
from gitmodels.storage.hashing import prefixed

BRANCH = "refs/heads/"
TAG = "refs/tags/"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def aliases(repo) -> dict[str, dict[str, str]]:
    """Hook for the model registry: model path -> {alias name: commit}.

    The repository has no alias feature yet; when it has one, return its aliases here and the page
    shows them next to branch and tag names (the model list and each version's names).
    """
    return {}


def _short(ref: str) -> str:
    for prefix in (BRANCH, TAG):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _abs(repo, path: str) -> str:
    """A repo-relative model path made absolute (history resolves paths against the cwd), refusing
    anything that is not a plain relative path inside the repository."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise PathError(f"{path!r} is not a model path of this repository")
    return "/".join([repo.root.rstrip("/"), path])


def _framework(ptr) -> str | None:
    model = ptr.meta.get("model")
    return model.get("framework") if isinstance(model, dict) else None


def index(repo) -> dict:
    """The repository: HEAD, its refs and every model at HEAD or at a branch tip."""
    head = repo.git.head()
    refs = repo.git.refs()
    models: dict[str, dict] = {}
    tips = ([("HEAD", head)] if head else []) + sorted((_short(r), s) for r, s in refs.items() if r.startswith(BRANCH))
    seen_tips: dict[str, dict] = {}
    for name, sha in tips:
        if sha not in seen_tips:
            seen_tips[sha] = repo.pointers(sha, errors=[])
        for art, ptr in seen_tips[sha].items():
            row = models.get(art)
            if row is None:
                row = models[art] = {"path": art, "oid": prefixed(ptr.oid), "size": ptr.size, "kind": ptr.kind,
                                     "files": ptr.files, "framework": _framework(ptr), "in_cache": repo.in_cache(ptr),
                                     "at_head": False, "branches": [], "aliases": {}}
            if name == "HEAD":
                row["at_head"] = True
            else:
                row["branches"].append(name)
    for art, names in aliases(repo).items():
        if art in models:
            models[art]["aliases"] = dict(names)
    return {"root": repo.root, "head": head, "branch": repo.git.branch(),
            "refs": {_short(r): s for r, s in sorted(refs.items())},
            "models": [models[k] for k in sorted(models)]}


def _timestamp(iso: str) -> float:
    return _dt.datetime.fromisoformat(iso).timestamp()


def model(repo, path: str) -> dict:
    """Every version of one model on HEAD's and each branch's history, oldest first (x = commit order)."""
    where = _abs(repo, path)
    head = repo.git.head()
    refs = repo.git.refs()
    branches = sorted((_short(r), s) for r, s in refs.items() if r.startswith(BRANCH))
    current = repo.git.branch()
    lines = ([(current or "HEAD", head)] if head else []) + [(n, s) for n, s in branches if n != current]
    logs: dict[str, list] = {}
    for _, sha in lines:
        if sha not in logs:
            try:
                logs[sha] = history.log(repo, where, rev=sha)
            except ModelNotFound:
                logs[sha] = []
    if not any(logs.values()):
        raise ModelNotFound(f"{path} is not a tracked model on any branch")
    versions: dict[str, dict] = {}
    order: list[str] = []
    for name, sha in lines:
        for v in reversed(logs[sha]):  # oldest first: the first line seen (HEAD's) sets the order of shared versions
            row = versions.get(v.commit)
            if row is None:
                row = versions[v.commit] = {**v.to_json(), "branches": [], "on_head": False, "refs": [], "aliases": []}
                order.append(v.commit)
            if name not in row["branches"]:
                row["branches"].append(name)
            if sha == head:
                row["on_head"] = True
    # The refs whose tip has this version as the model's current one.
    for ref, sha in sorted(refs.items()):
        got = logs.get(sha)
        if got is None:
            try:
                got = history.log(repo, where, rev=sha, limit=1)
            except (ModelNotFound, RevisionNotFound):
                got = []
        if got and got[0].commit in versions:
            versions[got[0].commit]["refs"].append(_short(ref))
    for name, commit in aliases(repo).get(path, {}).items():
        if commit in versions:
            versions[commit]["aliases"].append(name)
    rank = {c: i for i, c in enumerate(order)}
    rows = sorted(versions.values(), key=lambda r: (_timestamp(r["date"]), rank[r["commit"]]))
    metrics: list[str] = []
    params: list[str] = []
    for r in rows:
        metrics += [m for m in r["metrics"] if m not in metrics]
        params += [p for p in r["params"] if p not in params]
    return {"path": path, "head": head, "branch": current, "lines": [n for n, _ in lines],
            "metrics": metrics, "params": params, "versions": rows}


def version(repo, path: str, commit: str) -> dict:
    """One version's pointer (metadata tables, provenance) as `gitmodels show PATH@COMMIT --json` has it."""
    if not _SHA.match(commit):
        raise RevisionNotFound(f"{commit!r} is not a full commit id")
    info = history.show(repo, _abs(repo, path), commit)
    return {**info, "path": path, "oid": prefixed(info["oid"])}


def dumps(doc, **kwargs) -> str:
    """JSON a browser's JSON.parse accepts: a NaN or infinite metric (TOML allows them) becomes the string
    "nan", "inf" or "-inf", shown as text and left out of plots."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(doc), default=str, allow_nan=False, **kwargs)


def everything(repo) -> dict:
    """Every document of the page at once, for the static report."""
    idx = index(repo)
    models: dict[str, dict] = {}
    versions: dict[str, dict] = {}
    for row in idx["models"]:
        doc = models[row["path"]] = model(repo, row["path"])
        for v in doc["versions"]:
            if v["error"] is None:
                versions[f"{v['path']}@{v['commit']}"] = version(repo, v["path"], v["commit"])
    return {"index": idx, "models": models, "versions": versions}


__all__ = ["aliases", "index", "model", "version", "everything", "dumps"]
