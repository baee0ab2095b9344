"""Directory artifacts: one object per file plus a manifest object naming them.

The manifest is canonical JSON (docs/formats.md): sorted by path, one entry a
line, so the same directory always gives the same bytes and so the same oid.
Entries that could escape the directory are refused when read, not just when
written, since a manifest can come from a remote.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re

from gitmodels.errors import BadManifest, UnsafeEntry
from gitmodels.storage.hashing import hash_bytes
from gitmodels.storage.hashing import is_hex_oid

VERSION = 1
MAX_MANIFEST = 256 * 1024 * 1024
# A path JSON writes as it is (ensure_ascii off): no quote, backslash or control character to escape.
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*\Z')
# An entry line as dumps writes it for such a path: read without the JSON decoder (a 100,000-file
# manifest is parsed on every pull); any other spelling of the same JSON goes through json.loads.
_LINE = re.compile(r'\{"path":"([^"\\\x00-\x1f]*)","oid":"([0-9a-f]{64})","size":(0|[1-9][0-9]{0,18}),'
                   r'"x":(true|false)\}\Z')


@dataclasses.dataclass(frozen=True, slots=True)  # slots: a manifest of 100,000 files holds 100,000 of these
class Entry:
    path: str  # relative, '/'-separated
    oid: str
    size: int
    executable: bool = False


@dataclasses.dataclass(frozen=True)
class Manifest:
    entries: tuple[Entry, ...]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def dumps(self) -> bytes:
        lines = [json.dumps({"gitmodels_manifest": VERSION}, separators=(",", ":"))]
        for e in self.entries:
            if _PLAIN.match(e.path) and type(e.size) is int:  # what json.dumps writes, without its cost per entry
                lines.append(f'{{"path":"{e.path}","oid":"{e.oid}","size":{e.size},'
                             f'"x":{"true" if e.executable else "false"}}}')
            else:
                lines.append(json.dumps({"path": e.path, "oid": e.oid, "size": e.size, "x": e.executable},
                                        separators=(",", ":"), ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode("utf-8")

    @property
    def oid(self) -> str:
        return hash_bytes(self.dumps())


def check_relpath(path: str, where: str = "manifest") -> str:
    """Refuse paths that are absolute, empty, contain '..' or are not normalized."""
    if not isinstance(path, str) or not path:
        raise UnsafeEntry(f"{where}: empty path in entry")
    if "\\" in path or "\x00" in path or "\n" in path:
        raise UnsafeEntry(f"{where}: unsafe characters in path {path!r}")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise UnsafeEntry(f"{where}: absolute path {path!r} refused")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(path) != path:
        raise UnsafeEntry(f"{where}: path {path!r} escapes or is not normalized; refused")
    if parts[0] == ".git":
        raise UnsafeEntry(f"{where}: path {path!r} refused")
    return path


def build(entries: list[Entry], where: str = "manifest") -> Manifest:
    ordered = sorted(entries, key=lambda e: e.path.encode("utf-8"))
    seen = set()
    for e in ordered:
        check_relpath(e.path, where)
        if e.path in seen:
            raise BadManifest(f"manifest: duplicate path {e.path!r}")
        seen.add(e.path)
    _check_no_file_dir_clash(ordered)
    return Manifest(tuple(ordered))


def _check_no_file_dir_clash(entries) -> None:
    files = {e.path for e in entries}
    for e in entries:
        parent = e.path.rsplit("/", 1)[0] if "/" in e.path else ""
        while parent:
            if parent in files:
                raise UnsafeEntry(f"manifest: {parent!r} is both a file and a directory")
            parent = parent.rsplit("/", 1)[0] if "/" in parent else ""


def parse(data: bytes, where: str = "manifest") -> Manifest:
    try:
        lines = data.decode("utf-8").split("\n")  # not splitlines(): a file name may hold U+2028 or U+0085
        if lines and not lines[-1]:
            lines.pop()
        head = json.loads(lines[0]) if lines else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadManifest(f"{where}: not a gitmodels manifest") from None
    if not isinstance(head, dict) or "gitmodels_manifest" not in head:
        raise BadManifest(f"{where}: not a gitmodels manifest")
    if head["gitmodels_manifest"] != VERSION:
        raise BadManifest(f"{where}: manifest version {head['gitmodels_manifest']} is not supported",
                          "upgrade gitmodels: pip install -U gitmodels")
    entries = []
    line_match = _LINE.match
    for line in lines[1:]:
        m = line_match(line)
        if m is not None:
            entries.append(Entry(m[1], m[2], int(m[3]), m[4] == "true"))
            continue
        try:
            raw = json.loads(line)
            entry = Entry(path=raw["path"], oid=raw["oid"], size=int(raw["size"]), executable=bool(raw.get("x")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise BadManifest(f"{where}: malformed entry {line[:80]!r}") from None
        if not isinstance(entry.oid, str) or not is_hex_oid(entry.oid) or entry.size < 0:
            raise BadManifest(f"{where}: bad oid or size in entry for {entry.path!r}")
        entries.append(entry)
    return build(entries, where)  # checks every path (check_relpath), once


def manifest_entries(store, oid: str) -> list[Entry]:
    """The entries of the cached manifest `oid` of `store` (BadManifest when it is not one): what a push,
    fetch or checkout of a directory model moves besides the manifest itself."""
    return list(parse(store.read_bytes(oid), f"manifest {oid[:12]}").entries)
