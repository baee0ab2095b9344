"""The pointer file: `<artifact>.gitmodel`, the small TOML file git versions.

Format (docs/formats.md): version, oid, size, kind, files, then optional
metadata tables that later tools fill in and that must round-trip untouched.
Parsing is strict, and tells "not a pointer" apart from "a broken pointer".
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from gitmodels.storage import tomlwriter
from gitmodels.errors import BadPointer, SizeMismatch
from gitmodels.storage.hashing import OID_PREFIX
from gitmodels.storage.hashing import is_hex_oid

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

SUFFIX = ".gitmodel"
VERSION = 1
MAX_SIZE = 64 * 1024
HEADER = "# Managed by gitmodels: the model's bytes are in the model store, not in git."
MAX_INT = 2**63 - 1  # every integer core field (and every size gitmodels compares) fits in a signed 64-bit int
MAX_DEPTH = 32       # tables and arrays nested deeper are no metadata gitmodels writes
KINDS = ("file", "dir")
CORE_KEYS = ("version", "oid", "size", "kind", "files")
# Known metadata tables, in the order they are written; unknown ones follow.
TABLE_ORDER = ("model", "runtime", "dependencies", "environment", "git", "metrics", "params", "tags")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Pointer:
    oid: str  # 64 lowercase hex digits, no prefix
    size: int
    kind: str = "file"
    files: int | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: int = VERSION

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    def with_meta(self, **tables: Any) -> "Pointer":
        meta = dict(self.meta)
        meta.update({k: v for k, v in tables.items() if v is not None})
        return dataclasses.replace(self, meta=meta)

    def dumps(self) -> str:
        doc: dict[str, Any] = {
            "version": self.version,
            "oid": OID_PREFIX + self.oid,
            "size": self.size,
            "kind": self.kind,
        }
        if self.files is not None:
            doc["files"] = self.files
        for name in _ordered_tables(self.meta):
            doc[name] = self.meta[name]
        return tomlwriter.dumps(doc, CORE_KEYS, header=HEADER)


def _ordered_tables(meta: dict) -> list[str]:
    return [t for t in TABLE_ORDER if t in meta] + [t for t in meta if t not in TABLE_ORDER]


def pointer_path_for(artifact: str) -> str:
    return artifact.rstrip("/") + SUFFIX


def artifact_path_for(pointer_path: str) -> str:
    if not pointer_path.endswith(SUFFIX):
        raise ValueError(f"{pointer_path} is not a pointer path")
    return pointer_path[: -len(SUFFIX)]


def parse(data: bytes | str, where: str = "pointer") -> Pointer:
    """Parse pointer text; raise BadPointer naming `where` and how to fix it."""
    if isinstance(data, bytes):
        if len(data) > MAX_SIZE:
            raise BadPointer(f"{where}: {len(data)} bytes is too large for a pointer (max {MAX_SIZE})",
                             "a model file may have been committed in place of its pointer; "
                             "restore the pointer with `git checkout -- " + where + "`")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadPointer(f"{where}: not a pointer (binary content)",
                             f"restore it with `git checkout -- {where}`") from None
    else:
        text = data
    if _CONFLICT.search(text):
        raise BadPointer(f"{where}: unresolved merge conflict markers",
                         f"keep one version: `git checkout --ours {where}` or `--theirs`, "
                         f"then `gitmodels checkout {artifact_hint(where)}`")
    try:
        doc = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, an integer too long to convert, deep nesting
        why = "nested too deeply" if isinstance(exc, RecursionError) else _clip(str(exc).splitlines()[0], 120)
        raise BadPointer(f"{where}: not valid TOML ({why})",
                         f"restore it with `git checkout -- {where}` or re-run `gitmodels add`") from None
    return from_dict(doc, where)


def artifact_hint(where: str) -> str:
    return where[: -len(SUFFIX)] if where.endswith(SUFFIX) else where


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _int_field(doc: dict, key: str, where: str, fix: str) -> int | None:
    """An integer core field in 0..MAX_INT (a bool is not an integer here), or None when absent."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadPointer(f"{where}: `{key}` must be an integer, not {_clip(repr(value))}", fix)
    if not 0 <= value <= MAX_INT:
        shown = _clip(str(value), 24) if value.bit_length() < 10000 else "a huge number"
        raise BadPointer(f"{where}: `{key}` = {shown} is out of range (0 to 2**63-1)", fix)
    return value


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests tables/arrays no deeper than `limit`."""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > limit:
                return False
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return True


def from_dict(doc: dict, where: str = "pointer") -> Pointer:
    fix = f"restore it with `git checkout -- {where}` or re-run `gitmodels add {artifact_hint(where)}`"
    if "version" not in doc:
        raise BadPointer(f"{where}: missing `version`", fix)
    version = _int_field(doc, "version", where, fix)
    if version is None:  # unreachable: TOML has no null
        raise BadPointer(f"{where}: missing `version`", fix)
    if version > VERSION:
        raise BadPointer(f"{where}: pointer version {version} is newer than this gitmodels understands "
                         f"(max {VERSION})", "upgrade gitmodels: pip install -U gitmodels")
    if version < 1:
        raise BadPointer(f"{where}: unknown pointer version {version}", fix)
    oid = doc.get("oid")
    if not isinstance(oid, str) or not oid.startswith(OID_PREFIX) or not is_hex_oid(oid[len(OID_PREFIX):]):
        raise BadPointer(f"{where}: bad oid {_clip(repr(oid), 80)} (want 'sha256:' and 64 lowercase hex digits)", fix)
    size = _int_field(doc, "size", where, fix)
    if size is None:
        raise BadPointer(f"{where}: missing `size`", fix)
    kind = doc.get("kind", "file")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadPointer(f"{where}: unknown kind {_clip(repr(kind))} (want 'file' or 'dir')", fix)
    files = _int_field(doc, "files", where, fix)
    meta = {k: v for k, v in doc.items() if k not in CORE_KEYS}
    if not _depth(meta, MAX_DEPTH):
        raise BadPointer(f"{where}: metadata nested more than {MAX_DEPTH} levels deep", fix)
    return Pointer(oid=oid[len(OID_PREFIX):], size=size, kind=kind, files=files, meta=meta, version=version)


# -- a fast path for reading pointers -------------------------------------------------------
#
# log and diff parse hundreds of pointers; tomllib (pure Python) costs ~150 us each. Pointers that
# gitmodels writes use a tiny, regular subset of TOML: `bare_key = value` lines under `[a.b]`
# headers, with plain strings, numbers, booleans and one-line arrays of those. `_fast_toml` reads
# exactly that subset, with TOML's meaning, and returns None on anything else (escapes, dotted or
# quoted keys, inline tables, dates, multi-line values, trailing comments, duplicate keys or
# tables), so the caller falls back to the strict parser and its error messages.

_NUM = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_STR = r'"[^"\\\x00-\x1f\x7f]*"'
_ELEM = rf"(?:{_STR}|{_NUM}|true|false)"
_SCALAR_RE = re.compile(rf"{_STR}|[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|[-+]?(?:inf|nan)")
_ARRAY_RE = re.compile(rf"\[[ \t]*(?:{_ELEM}(?:[ \t]*,[ \t]*{_ELEM})*[ \t]*,?)?[ \t]*\]")
_KV_RE = re.compile(r"[ \t]*([A-Za-z0-9_-]+)[ \t]*=[ \t]*(.*?)[ \t]*")
_HEADER_RE = re.compile(r"[ \t]*\[[ \t]*([A-Za-z0-9_-]+(?:[ \t]*\.[ \t]*[A-Za-z0-9_-]+)*)[ \t]*\][ \t]*")
_COMMENT_RE = re.compile(r"[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?")
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")


def _fast_value(text: str):
    if _SCALAR_RE.fullmatch(text):
        if text[0] == '"':
            return text[1:-1]
        if text == "true":
            return True
        if text == "false":
            return False
        if _INT_RE.fullmatch(text):
            return int(text) if len(text) <= 40 else _NO  # the strict reader explains an absurd integer
        return float(text)
    if _ARRAY_RE.fullmatch(text):
        body = text.rstrip()[:-1].rstrip()
        if body.endswith(","):
            body = body[:-1]
        try:
            return json.loads(body + "]")
        except ValueError:  # an integer too long for int(): the strict reader says so
            return _NO
    return _NO


_NO = object()


def _fast_toml(data: bytes) -> dict | None:
    if len(data) > MAX_SIZE:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    root: dict = {}
    table = root
    defined: set[tuple[str, ...]] = set()
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        m = _KV_RE.fullmatch(line)
        if m:
            value = _fast_value(m.group(2))
            if value is _NO or m.group(1) in table:
                return None
            table[m.group(1)] = value
            continue
        m = _HEADER_RE.fullmatch(line)
        if m:
            path = tuple(part.strip() for part in m.group(1).split("."))
            if path in defined:
                return None
            defined.add(path)
            table = root
            for part in path:
                table = table.setdefault(part, {})
                if not isinstance(table, dict):
                    return None
            continue
        if not _COMMENT_RE.fullmatch(line):
            return None
    return root


def parse_fast(data: bytes, where: str = "pointer") -> Pointer:
    """pointer.parse, faster for the pointers gitmodels writes (same result, same errors)."""
    doc = _fast_toml(data)
    if doc is None:
        return parse(data, where)
    return from_dict(doc, where)


def check_size(ptr: Pointer, size: int, files: int | None = None, where: str | None = None) -> None:
    """Refuse a pointer whose size (or file count) is not that of the bytes its oid names.

    The oid is checked by hashing; the size is only a claim, so every path that
    reads an object compares it with a size it already has (a stat, a manifest).
    `where` is the model's path, when the caller knows it.
    """
    if ptr.size != size:
        what = f"the pointer says {ptr.size} bytes, its object sha256:{ptr.oid[:12]} has {size}"
    elif ptr.is_dir and files is not None and ptr.files is not None and ptr.files != files:
        what = f"the pointer says {ptr.files} files, its manifest sha256:{ptr.oid[:12]} lists {files}"
    else:
        return
    pointer = f"`git checkout -- {pointer_path_for(where)}`" if where else "`git checkout -- PATH.gitmodel`"
    add = f"`gitmodels add {where}`" if where else "`gitmodels add PATH`"
    raise SizeMismatch(f"{where or 'a model'}: size mismatch: {what} (the pointer was edited or damaged)",
                       f"restore the pointer: {pointer}; if the workspace bytes are the right ones: {add}")


def read(path: str, where: str | None = None) -> Pointer:
    with open(path, "rb") as f:
        data = f.read(MAX_SIZE + 1)
    return parse_fast(data, where or path)


def extra_objects(ptr: Pointer) -> set[str]:
    """Objects named in a pointer's metadata (the stored full environment listing)."""
    env = ptr.meta.get("environment")
    ref = env.get("requirements") if isinstance(env, dict) else None
    if isinstance(ref, str) and ref.startswith("sha256:") and len(ref) == 71:
        return {ref[7:]}
    return set()
