"""Aliases (`prod`, `staging`) of a model's versions, stored as annotated git tags (docs/registry.md).

Each move is a new tag `alias/<path>#<name>#<N>` (N counts up per model and
alias; a removal is `alias/<path>#<name>!#<N>`), so an alias's history is the
tags' history: who (tagger), when, why (message), and the tags travel with
`git push --follow-tags` and `git fetch` like any tag. The highest N is the
current state. Two people moving the same alias at once make the same tag
name, and git refuses the second push: a conflict, never a silent overwrite.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re

from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import AliasNotFound, ModelNotFound, UsageError

PREFIX = "alias/"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_TAG_RE = re.compile(r"alias/(?P<path>.+)#(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<removed>!)?#(?P<n>[1-9][0-9]*)\Z")
_SAFE = re.compile(r"[A-Za-z0-9._/+=,-]")


def encode_path(art: str) -> str:
    """A model path as a valid ref-name part: every other byte %XX, and what git forbids in a component
    (a leading '.', a '.lock' end, '..') escaped too, so any path maps to one tag name and back."""
    out = []
    for part in art.split("/"):
        enc = "".join(c if _SAFE.match(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in part)
        if enc.startswith("."):
            enc = "%2E" + enc[1:]
        if enc.endswith(".lock"):
            enc = enc[:-5] + "%2Elock"
        enc = enc.replace("..", ".%2E")
        if enc.endswith("."):
            enc = enc[:-1] + "%2E"
        out.append(enc)
    return "/".join(out)


def decode_path(enc: str) -> str:
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  enc.encode("utf-8")).decode("utf-8", "surrogateescape")


def tag_name(art: str, name: str, number: int, removed: bool = False) -> str:
    return f"{PREFIX}{encode_path(art)}#{name}{'!' if removed else ''}#{number}"


def parse_tag(tag: str) -> tuple[str, str, int, bool] | None:
    """(model path, alias name, N, is a removal) of an alias tag name, or None for any other tag."""
    m = _TAG_RE.match(tag)
    if not m:
        return None
    return decode_path(m.group("path")), m.group("name"), int(m.group("n")), bool(m.group("removed"))


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a valid alias name",
                         "use letters, digits, '.', '_' and '-', starting with a letter or digit (e.g. prod)")


@dataclasses.dataclass
class AliasEvent:
    """One move of an alias: a tag."""

    path: str
    name: str
    number: int
    action: str               # set | remove
    commit: str               # the version aliased (for a removal: the version it pointed at)
    tagger: str
    email: str
    date: str                 # ISO 8601 with the tagger's UTC offset
    message: str
    tag: str
    previous: str | None = None   # the commit the alias pointed at before this move (None: it was not set)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _date(time: int, tz: int) -> str:
    return _dt.datetime.fromtimestamp(time, _dt.timezone(_dt.timedelta(seconds=tz))).isoformat()


def events(repo, art: str | None = None) -> list[AliasEvent]:
    """Every alias tag (of one model, or all), oldest first per model and alias, with `previous` filled in."""
    prefix = PREFIX + (encode_path(art) + "#" if art is not None else "")
    out = []
    for t in repo.git.annotated_tags(prefix):
        parsed = parse_tag(t["name"])
        if parsed is None or (art is not None and parsed[0] != art):
            continue
        path, name, number, removed = parsed
        out.append(AliasEvent(path, name, number, "remove" if removed else "set", t["commit"], t["tagger"],
                              t["email"], _date(t["time"], t["tz"]), t["message"], t["name"]))
    out.sort(key=lambda e: (e.path, e.name, e.number))
    last: dict[tuple[str, str], str | None] = {}
    for e in out:
        e.previous = last.get((e.path, e.name))
        last[(e.path, e.name)] = e.commit if e.action == "set" else None
    return out


def current(repo, art: str | None = None) -> dict[str, dict[str, AliasEvent]]:
    """model path -> alias name -> the event that set it, for the aliases set now (removed ones left out).

    The function a UI or a script lists aliases with."""
    state: dict[str, dict[str, AliasEvent]] = {}
    for e in events(repo, art):  # oldest first: the last one wins
        names = state.setdefault(e.path, {})
        if e.action == "set":
            names[e.name] = e
        else:
            names.pop(e.name, None)
    return {p: dict(sorted(n.items())) for p, n in sorted(state.items()) if n}


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


def resolve(repo, art: str, name: str) -> str | None:
    """The commit alias `name` of model `art` points at; None when the model never had that alias.

    Raises AliasNotFound when the alias existed and was removed (saying by whom)."""
    if not NAME_RE.match(name):
        return None
    evs = [e for e in events(repo, art) if e.name == name]
    if not evs:
        return None
    last = evs[-1]
    if last.action == "remove":
        raise AliasNotFound(f"alias {name!r} of {art} was removed by {last.tagger} on {last.date[:10]}",
                            f"see its history with `gitmodels alias log {art}`")
    return last.commit


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
