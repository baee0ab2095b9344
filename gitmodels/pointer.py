"""The pointer file: `<artifact>.gitmodel`, the small TOML file git versions.

Format (docs/formats.md): version, oid, size, kind, files, then optional
metadata tables that later tools fill in and that must round-trip untouched.
Parsing is strict, and tells "not a pointer" apart from "a broken pointer".
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from . import tomlwriter
from .errors import BadPointer
from .hashing import OID_PREFIX, is_hex_oid

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

SUFFIX = ".gitmodel"
VERSION = 1
MAX_SIZE = 64 * 1024
HEADER = "# Managed by gitmodels: the model's bytes are in the model store, not in git."
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
    except tomllib.TOMLDecodeError as exc:
        raise BadPointer(f"{where}: not valid TOML ({exc})",
                         f"restore it with `git checkout -- {where}` or re-run `gitmodels add`") from None
    return from_dict(doc, where)


_SIMPLE_LINE = re.compile(r'^(version|size|files) = (\d{1,19})$|^(oid|kind) = "([a-z0-9:]{1,80})"$')


def parse_fast(data: bytes, where: str = "pointer") -> Pointer:
    """Parse a pointer as written by gitmodels without a TOML parser; anything unusual takes `parse`.

    Hot paths (status, checkout, hooks over 1000 models) read many pointers;
    the metadata tables are skipped here, so the result has empty `meta`.
    """
    if len(data) > MAX_SIZE:
        return parse(data, where)
    head, _, _ = data.partition(b"\n[")
    if b"<<<<<<<" in data or b">>>>>>>" in data or b"\r" in head:
        return parse(data, where)
    doc: dict[str, Any] = {}
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return parse(data, where)
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = _SIMPLE_LINE.match(line)
        if m is None:
            return parse(data, where)
        key = m.group(1) or m.group(3)
        if key in doc:
            return parse(data, where)
        doc[key] = int(m.group(2)) if m.group(1) else m.group(4)
    return from_dict(doc, where)


def artifact_hint(where: str) -> str:
    return where[: -len(SUFFIX)] if where.endswith(SUFFIX) else where


def from_dict(doc: dict, where: str = "pointer") -> Pointer:
    fix = f"restore it with `git checkout -- {where}` or re-run `gitmodels add {artifact_hint(where)}`"
    version = doc.get("version")
    if version is None:
        raise BadPointer(f"{where}: missing `version`", fix)
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadPointer(f"{where}: `version` must be an integer", fix)
    if version > VERSION:
        raise BadPointer(f"{where}: pointer version {version} is newer than this gitmodels understands "
                         f"(max {VERSION})", "upgrade gitmodels: pip install -U gitmodels")
    if version < 1:
        raise BadPointer(f"{where}: unknown pointer version {version}", fix)
    oid = doc.get("oid")
    if not isinstance(oid, str) or not oid.startswith(OID_PREFIX) or not is_hex_oid(oid[len(OID_PREFIX):]):
        raise BadPointer(f"{where}: bad oid {oid!r} (want 'sha256:' and 64 lowercase hex digits)", fix)
    size = doc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadPointer(f"{where}: `size` must be a non-negative integer", fix)
    kind = doc.get("kind", "file")
    if kind not in KINDS:
        raise BadPointer(f"{where}: unknown kind {kind!r} (want 'file' or 'dir')", fix)
    files = doc.get("files")
    if files is not None and (not isinstance(files, int) or isinstance(files, bool) or files < 0):
        raise BadPointer(f"{where}: `files` must be a non-negative integer", fix)
    meta = {k: v for k, v in doc.items() if k not in CORE_KEYS}
    return Pointer(oid=oid[len(OID_PREFIX):], size=size, kind=kind, files=files, meta=meta, version=version)


def read(path: str, where: str | None = None, *, fast: bool = False) -> Pointer:
    with open(path, "rb") as f:
        data = f.read(MAX_SIZE + 1)
    return (parse_fast if fast else parse)(data, where or path)
