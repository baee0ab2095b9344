"""The team's shared facts on a model remote: the push log and gc's marks (docs/formats.md, "Remote gc protocol").

Every clone pushes to the same remote, so the facts a remote gc needs to be
safe for everyone (when was this object last pushed? since when has gc found
it unreferenced?) live on the remote itself, as small append-only records,
never rewritten:

    log/<stamp>-<random>.json        one per push: the oids it uploads or relies on
    gc/marks/<stamp>-<random>.json   one per remote gc: the oids it found unreferenced

`<stamp>` is the writer's UTC clock (`20250102T030405.123456Z`), so a gc
learns every record's age from the one listing, and reads only the records
young enough to matter.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tempfile
import time
from datetime import datetime, timezone
from typing import Iterable

from gitmodels.errors import GitModelsError

VERSION = 1
LOG_PREFIX = "log/"
MARK_PREFIX = "gc/marks/"
_STAMP = "%Y%m%dT%H%M%S.%fZ"


class NewerRecord(GitModelsError):
    """A push log written by a newer gitmodels: its meaning is unknown, so nothing may be deleted on its word."""

    exit_code = 1


@dataclasses.dataclass(frozen=True)
class Record:
    key: str
    time: float
    oids: frozenset[str]


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime(_STAMP)


def key_time(key: str) -> float | None:
    """The time a record's key names, or None when the key is not a record's."""
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(".json") or "-" not in name:
        return None
    try:
        return datetime.strptime(name.split("-", 1)[0], _STAMP).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def new_key(prefix: str, t: float) -> str:
    return f"{prefix}{stamp(t)}-{secrets.token_hex(8)}.json"


def write(backend, tmp_dir: str, prefix: str, kind: str, oids: Iterable[str], t: float | None = None) -> str:
    """Store one record (atomically: the backend's upload never shows a partial blob); its key."""
    t = time.time() if t is None else t
    body = json.dumps({"version": VERSION, "kind": kind, "time": t, "oids": sorted(set(oids))},
                      separators=(",", ":")).encode()
    key = new_key(prefix, t)
    os.makedirs(tmp_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="record-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        backend.upload(key, tmp, len(body), movable=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return key


def log_push(backend, tmp_dir: str, oids: Iterable[str]) -> str | None:
    """Record, before a push's existence pass, every oid it uploads or finds there already: a remote gc then
    keeps them for the grace period and forgets any earlier mark of them. None when there is nothing to log."""
    oids = set(oids)
    if not oids or backend.read_only:
        return None
    return write(backend, tmp_dir, LOG_PREFIX, "push", oids)


def read(backend, key: str, size: int) -> Record | None:
    """One record; None when it is damaged or not one. A push log of a newer version raises NewerRecord."""
    data = backend.read_range(key, 0, size) if size else b""
    try:
        doc = json.loads(data)
        version = doc["version"]
    except (ValueError, KeyError, TypeError):
        return None
    if version != VERSION:
        if key.startswith(LOG_PREFIX):
            raise NewerRecord(f"the push log {key} has version {version}; this gitmodels reads version {VERSION}",
                              "upgrade gitmodels before running gc --remote")
        return None  # an unknown mark only delays deletion
    t = key_time(key)
    oids = doc.get("oids")
    if t is None or not isinstance(oids, list):
        return None
    return Record(key, t, frozenset(o for o in oids if isinstance(o, str)))


__all__ = ["VERSION", "LOG_PREFIX", "MARK_PREFIX", "Record", "NewerRecord", "stamp", "key_time", "new_key",
           "write", "log_push", "read"]
