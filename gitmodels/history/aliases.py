"""Reading aliases (`prod`, `staging`) of a model's versions, stored as annotated git tags (docs/registry.md).

Here, below the registry, because `log`, `show` and `get` accept an alias
wherever they accept a revision; gitmodels.registry.aliases moves them.

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

from gitmodels.errors import AliasNotFound, UsageError

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
