"""Remembered facts that save work: file stat -> oid, and which objects a remote holds.

It also remembers which artifacts were saved or added in this clone: the trust
policy (gitmodels/trust.py) loads those without asking, and this file lives in
.git, so no commit can claim it.

`status`, `checkout` and the hooks stat an artifact and, when (inode, size,
mtime, ctime) match what was recorded, reuse its oid instead of re-hashing.
SQLite in WAL mode lets several gitmodels processes share it safely.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Iterable

from gitmodels.storage.fileio import identity
from gitmodels.storage.treewalk import tree_signature

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, oid TEXT
);
CREATE TABLE IF NOT EXISTS memo (
    name TEXT PRIMARY KEY, stamp TEXT, value TEXT
);
CREATE TABLE IF NOT EXISTS remote_has (
    remote TEXT, oid TEXT, PRIMARY KEY (remote, oid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS saved_here (
    oid TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY, signature TEXT, oid TEXT, size INTEGER, files INTEGER
);
"""


stat_key = identity  # a file's recorded oid holds while what changes on a write or replace is the same


class StatCache:
    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._pending: list[tuple] = []
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._setup_lock:  # threads of one transfer open their connections at once
                conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        """Open and prepare the database. Switching a new database to WAL takes a lock that
        SQLite's busy timeout does not always wait for, so another process creating it at the
        same moment is waited out here."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        deadline = time.monotonic() + 30
        while True:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- file stat cache -----------------------------------------------------------

    def lookup_many(self, paths: list[str], flush: bool = True) -> dict[str, tuple]:
        """path -> (ino, size, mtime_ns, ctime_ns, oid) for the paths recorded.

        flush=False: the caller knows no pending row concerns these paths (a
        batch of a many-file add), so they are not written first.
        """
        out: dict[str, tuple] = {}
        if not paths:
            return out
        if flush:
            self.flush()
        if not os.path.exists(self.path):
            return out
        cur = self.db.cursor()
        for i in range(0, len(paths), 500):
            chunk = paths[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in cur.execute(f"SELECT path, ino, size, mtime_ns, ctime_ns, oid FROM files WHERE path IN ({marks})",
                                   chunk):
                out[row[0]] = row[1:]
        return out

    def known_oid(self, path: str, st: os.stat_result, recorded: dict | None = None) -> str | None:
        # an empty prefetch is an answer ("none recorded"), not a reason to ask again per file
        row = (recorded if recorded is not None else self.lookup_many([path])).get(path)
        if row and tuple(row[:4]) == stat_key(st):
            return row[4]
        return None

    def record(self, path: str, st: os.stat_result, oid: str) -> None:
        self.record_key(path, stat_key(st), oid)

    def record_key(self, path: str, key: tuple[int, int, int, int], oid: str) -> None:
        """record() from a stat_key already taken (a directory walk keeps keys, not stat results)."""
        with self._lock:
            self._pending.append((path, *key, oid))

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        if rows:
            self._write("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)", rows)

    def forget(self, paths: Iterable[str]) -> None:
        self._write("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    # -- directory models: the signature of the tree a scan hashed ------------------------

    def record_dir(self, path: str, signature: str, files: int, oid: str, size: int) -> None:
        """Remember that the directory `path`, whose files' signature_of a scan computed, has the manifest
        `oid`: the next check stats its files but reads and hashes none of them."""
        self._write("INSERT OR REPLACE INTO dirs VALUES (?,?,?,?,?)", [(path, signature, oid, size, files)])

    def known_dir(self, path: str) -> tuple[str, int, int] | None:
        """(manifest oid, size, file count) of the directory `path` when every file in it has the stat it
        had when it was last scanned (same names, inodes, sizes, mtimes, ctimes and modes); else None."""
        row = self._dir_row(path)
        if row is None or tree_signature(path, expected_files=row[3]) != (row[0], row[3]):
            return None
        return row[1:]

    def recorded_dir(self, path: str) -> tuple[str, int, int] | None:
        """(manifest oid, size, file count) the last scan of the directory `path` recorded, its files not
        looked at: what `gitmodels add` stored, for a caller that may trust it without a walk."""
        row = self._dir_row(path)
        return row[1:] if row is not None else None

    def recorded_signature(self, path: str) -> tuple[str, str, int] | None:
        """(signature, manifest oid, file count) the last scan of the directory `path` recorded."""
        row = self._dir_row(path)
        return (row[0], row[1], row[3]) if row is not None else None

    def _dir_row(self, path: str) -> tuple[str, str, int, int] | None:
        """(signature, oid, size, files) recorded for the directory `path`."""
        if not os.path.exists(self.path):
            return None
        row = self.db.execute("SELECT signature, oid, size, files FROM dirs WHERE path = ?", (path,)).fetchone()
        return tuple(row) if row is not None else None

    def memo_row(self, name: str) -> tuple[str, str] | None:
        """(stamp, value) of a memo, for a caller whose stamp is derived from the value it stored."""
        if not os.path.exists(self.path):
            return None
        row = self.db.execute("SELECT stamp, value FROM memo WHERE name = ?", (name,)).fetchone()
        return (row[0], row[1]) if row else None

    # -- values derived from a file, valid while its stat is unchanged -------------------

    def memo_get(self, name: str, stamp: str) -> str | None:
        if not os.path.exists(self.path):
            return None
        row = self.db.execute("SELECT stamp, value FROM memo WHERE name = ?", (name,)).fetchone()
        return row[1] if row and row[0] == stamp else None

    def memo_put(self, name: str, stamp: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO memo VALUES (?, ?, ?)", [(name, stamp, value)])

    # -- artifacts whose bytes were saved or added in this clone (the trust policy) ------

    def saved_add(self, oids: Iterable[str]) -> None:
        rows = [(o,) for o in oids]
        if rows:
            self._write("INSERT OR IGNORE INTO saved_here VALUES (?)", rows)

    def saved_has(self, oid: str) -> bool:
        if not os.path.exists(self.path):
            return False
        return self.db.execute("SELECT 1 FROM saved_here WHERE oid = ?", (oid,)).fetchone() is not None

    # -- what remotes hold -----------------------------------------------------------

    def remote_known(self, remote: str, oids: Iterable[str]) -> set[str]:
        oids = list(oids)
        if not oids or not os.path.exists(self.path):
            return set()
        known: set[str] = set()
        cur = self.db.cursor()
        for i in range(0, len(oids), 500):
            chunk = oids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in cur.execute(
                f"SELECT oid FROM remote_has WHERE remote = ? AND oid IN ({marks})", [remote, *chunk]))
        return known

    def remote_add(self, remote: str, oids: Iterable[str]) -> None:
        rows = [(remote, o) for o in sorted(oids)]  # in key order: a pull's 100,000 rows insert a third faster
        if rows:
            self._write("INSERT OR IGNORE INTO remote_has VALUES (?, ?)", rows)

    def remote_forget(self, remote: str, oids: Iterable[str] | None = None) -> None:
        if oids is None:
            self._write("DELETE FROM remote_has WHERE remote = ?", [(remote,)])
        else:
            self._write("DELETE FROM remote_has WHERE remote = ? AND oid = ?", [(remote, o) for o in oids])

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """One write transaction that takes the write lock up front (BEGIN IMMEDIATE, which
        honours the busy timeout), retried if SQLite still reports the database locked."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.db:
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.executemany(sql, rows)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.flush()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
