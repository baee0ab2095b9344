"""Moving aliases (`prod`, `staging`) of a model's versions: each move is a new annotated tag (docs/registry.md).

The tag format and the reading side live in gitmodels.history.aliases (log,
show and get resolve aliases too); this module sets and removes them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt

from gitmodels.errors import AliasNotFound, ModelNotFound
from gitmodels.history.aliases import (NAME_RE, PREFIX, AliasEvent, check_name, current, decode_path,  # noqa: F401
                                       encode_path, events, parse_tag, resolve, tag_name)
from gitmodels.storage import pointer as pointer_mod


def with_versions(repo, art: str | None = None) -> dict[str, dict[str, dict]]:
    """model path -> alias -> {commit, oid, size, date, tagger}: `current` plus the version each alias names."""
    out: dict[str, dict[str, dict]] = {}
    for path, names in current(repo, art).items():
        for name, e in names.items():
            ptr = _pointer(repo, path, e.commit)
            out.setdefault(path, {})[name] = {"commit": e.commit, "oid": ptr.oid if ptr else None,
                                              "size": ptr.size if ptr else None, "date": e.date, "tagger": e.tagger}
    return out


def _pointer(repo, art: str, commit: str):
    data = repo.git.file_at(commit, pointer_mod.pointer_path_for(art))
    if data is None:
        return None
    try:
        return pointer_mod.parse_fast(data, pointer_mod.pointer_path_for(art) + "@" + commit[:8])
    except Exception:  # noqa: BLE001 - an unreadable pointer has no oid to show
        return None


@dataclasses.dataclass
class AliasChange:
    event: AliasEvent | None   # None: nothing changed (the alias already pointed there)
    path: str
    name: str
    commit: str
    previous: str | None

    def to_json(self) -> dict:
        return {"path": self.path, "name": self.name, "commit": self.commit, "previous": self.previous,
                "changed": self.event is not None, "tag": self.event.tag if self.event else None,
                "number": self.event.number if self.event else None}


def set_alias(repo, path: str, name: str, rev: str | None = None, message: str | None = None) -> AliasChange:
    """Point alias `name` of the model at `path` at the version of `rev` (default HEAD): a new tag."""
    from gitmodels.history import resolve_for

    check_name(name)
    art = repo.artifact_relpath(path)
    commit = resolve_for(repo, art, rev or "HEAD")
    if repo.git.file_at(commit, pointer_mod.pointer_path_for(art)) is None:
        raise ModelNotFound(f"{art} is not a tracked model at {rev or 'HEAD'}",
                            f"see its versions with `gitmodels log {art}`")
    evs = [e for e in events(repo, art) if e.name == name]
    previous = evs[-1].commit if evs and evs[-1].action == "set" else None
    if previous == commit:
        return AliasChange(None, art, name, commit, previous)
    number = max((e.number for e in evs), default=0) + 1
    text = message or f"{name} of {art} -> {commit[:10]}" + (f" (was {previous[:10]})" if previous else "")
    tag = tag_name(art, name, number)
    repo.git.create_tag(tag, commit, text)
    event = next(e for e in events(repo, art) if e.tag == tag)
    return AliasChange(event, art, name, commit, previous)


def remove_alias(repo, path: str, name: str, message: str | None = None) -> AliasChange:
    """Unset an alias; recorded as a removal tag, so the history keeps who removed it and when."""
    check_name(name)
    art = repo.artifact_relpath(path)
    evs = [e for e in events(repo, art) if e.name == name]
    if not evs or evs[-1].action == "remove":
        raise AliasNotFound(f"{art} has no alias {name!r}", f"list its aliases with `gitmodels alias list {art}`")
    last = evs[-1]
    tag = tag_name(art, name, last.number + 1, removed=True)
    repo.git.create_tag(tag, last.commit, message or f"remove {name} of {art} (was {last.commit[:10]})")
    event = next(e for e in events(repo, art) if e.tag == tag)
    return AliasChange(event, art, name, last.commit, last.commit)


def log(repo, path: str, name: str | None = None) -> list[AliasEvent]:
    """Every move of the model's aliases (or of one), newest first."""
    art = repo.artifact_relpath(path)
    out = [e for e in events(repo, art) if name is None or e.name == name]
    if name is not None and not out:
        raise AliasNotFound(f"{art} has no alias {name!r}", f"list its aliases with `gitmodels alias list {art}`")
    return sorted(out, key=lambda e: (_dt.datetime.fromisoformat(e.date), e.number), reverse=True)


def resolve_remote(refs: dict[str, str], art: str, name: str) -> tuple[str, str] | None:
    """(tag ref, commit) of alias `name` of `art` in another repository's ls-remote listing, or None."""
    if not NAME_RE.match(name):
        return None
    best = None
    for ref, sha in refs.items():
        if not ref.startswith("refs/tags/" + PREFIX):
            continue
        parsed = parse_tag(ref[len("refs/tags/"):])
        if parsed is None or parsed[0] != art or parsed[1] != name:
            continue
        if best is None or parsed[2] > best[0]:
            best = (parsed[2], parsed[3], ref, sha)
    if best is None:
        return None
    if best[1]:
        raise AliasNotFound(f"alias {name!r} of {art} was removed in the source repository")
    return best[2], best[3]


__all__ = ["AliasEvent", "AliasChange", "events", "current", "with_versions", "resolve", "set_alias",
           "remove_alias", "log", "tag_name", "parse_tag", "encode_path", "decode_path", "resolve_remote"]
