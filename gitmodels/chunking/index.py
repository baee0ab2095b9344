"""Local knowledge about chunks, in one SQLite file under the state directory.

    <state_dir>/index.sqlite   (WAL; safe for several threads and processes)
    <state_dir>/tmp/           packs being built, recipes being read (removed after use)

Two things are kept, and both are only hints that every reader checks:

* which chunks each remote holds, and where (pack, offset). Rebuilt from the
  remote's pack indexes when missing or stale (`sync_remote`); a push checks
  that every pack its recipe names still exists before writing the recipe.
* the local chunk index: chunk id -> (cached whole-file object, offset,
  length), so a new version is rebuilt from versions already in the cache.
  A download hashes every chunk it takes from the cache, so an index entry
  for an object the cache no longer has (or that changed) costs a fallback
  to the remote, never a wrong byte.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import sqlite3
import threading
import time
from typing import Iterable, Iterator

from gitmodels.errors import GitModelsError
from gitmodels.chunking.cdc import ID_SIZE, ChunkList

SCHEMA_VERSION = 1
DB_NAME = "index.sqlite"

# Chunk ids are 32 random-looking bytes: as B-tree keys they make every insert
# a random one. The tables are therefore indexed by an integer key, the first
# 8 bytes of the id; the full id is kept where a match must be exact (what a
# remote holds) and checked after the lookup.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS remotes (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, synced_at REAL);
CREATE TABLE IF NOT EXISTS remote_packs (
    id INTEGER PRIMARY KEY, remote INTEGER NOT NULL, pack BLOB NOT NULL, size INTEGER NOT NULL,
    UNIQUE (remote, pack));
CREATE TABLE IF NOT EXISTS remote_chunks (
    key INTEGER NOT NULL, chunk BLOB NOT NULL, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS remote_chunks_by_key ON remote_chunks (key);
CREATE INDEX IF NOT EXISTS remote_chunks_by_pack ON remote_chunks (pack);
CREATE TABLE IF NOT EXISTS local_objects (
    id INTEGER PRIMARY KEY, oid BLOB NOT NULL UNIQUE, size INTEGER NOT NULL, chunker TEXT NOT NULL,
    chunks BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS local_chunks (key INTEGER NOT NULL, obj INTEGER NOT NULL, offset INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS local_chunks_by_key ON local_chunks (key);
CREATE INDEX IF NOT EXISTS local_chunks_by_obj ON local_chunks (obj);
CREATE TABLE IF NOT EXISTS local_unspread (obj INTEGER PRIMARY KEY);
"""


def chunk_key(chunk_id: bytes) -> int:
    return int.from_bytes(chunk_id[:8], "little", signed=True)


def chunk_keys(ids: bytes) -> list[int]:
    """chunk_key of every id in a run of 32-byte ids, at C speed where the machine is little-endian."""
    if sys.byteorder == "little":
        return memoryview(ids).cast("q")[::ID_SIZE // 8].tolist()
    return [chunk_key(ids[i:i + ID_SIZE]) for i in range(0, len(ids), ID_SIZE)]


class StateError(GitModelsError):
    default_hint = "delete the chunk state directory; it is rebuilt from the cache and the remotes"


class ChunkIndex:
    """One state directory. Use `open_index`; connections are per thread."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = os.path.abspath(os.fspath(state_dir))
        self.tmp_dir = os.path.join(self.dir, "tmp")
        self.path = os.path.join(self.dir, DB_NAME)
        self._local = threading.local()
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._clean_tmp()
        self._init_schema()
        self.sync_lock = threading.Lock()  # one remote sync at a time in this process
        self.synced: dict[str, float] = {}  # url -> monotonic time of the last sync in this process
        self._claims_lock = threading.Lock()
        self._claims: dict[tuple[int, bytes], threading.Event] = {}  # chunks a thread is uploading now

    def _clean_tmp(self, older_than: float = 24 * 3600) -> None:
        """Remove temp packs left by killed commands (a live one is never that old)."""
        cutoff = time.time() - older_than
        try:
            names = os.listdir(self.tmp_dir)
        except OSError:
            return
        for name in names:
            path = os.path.join(self.tmp_dir, name)
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
            except OSError:
                pass

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=True)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA temp_store=MEMORY")
            except sqlite3.Error as exc:
                raise StateError(f"cannot open the chunk index {self.path}: {exc}") from None
            self._local.db = db
        return db

    def _init_schema(self) -> None:
        with self.write() as db:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None and row[0] != str(SCHEMA_VERSION):
                # Written by another gitmodels version. Everything here can be rebuilt
                # (from the remotes' pack indexes and the cache): start afresh.
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table in tables:
                    db.execute(f'DROP TABLE IF EXISTS "{table}"')
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        db.execute(statement)
                row = None
            if row is None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken up front so concurrent writers queue instead of deadlocking."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateError(f"chunk index {self.path}: {exc}") from None
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        return self._connect()

    # -- remotes --------------------------------------------------------------

    def remote_id(self, url: str) -> int:
        row = self.read().execute("SELECT id FROM remotes WHERE url=?", (url,)).fetchone()
        if row:
            return row[0]
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO remotes (url) VALUES (?)", (url,))
            return db.execute("SELECT id FROM remotes WHERE url=?", (url,)).fetchone()[0]

    def remote_synced_at(self, remote: int) -> float | None:
        row = self.read().execute("SELECT synced_at FROM remotes WHERE id=?", (remote,)).fetchone()
        return row[0] if row else None

    def mark_synced(self, remote: int) -> None:
        with self.write() as db:
            db.execute("UPDATE remotes SET synced_at=? WHERE id=?", (time.time(), remote))

    def known_packs(self, remote: int) -> dict[str, int]:
        """pack id -> size of the packs whose chunks are recorded for `remote`."""
        rows = self.read().execute("SELECT pack, size FROM remote_packs WHERE remote=?", (remote,))
        return {pack.hex(): size for pack, size in rows}

    def pack_offsets(self, remote: int, pack_id: str) -> list[int]:
        """Offsets of a recorded pack's chunks in index order (empty when the pack is not recorded)."""
        rows = self.read().execute(
            "SELECT c.offset FROM remote_chunks c JOIN remote_packs p ON p.id = c.pack "
            "WHERE p.remote=? AND p.pack=? ORDER BY c.offset", (remote, bytes.fromhex(pack_id)))
        return [row[0] for row in rows]

    def add_pack(self, remote: int, pack_id: str, size: int, entries: Iterable[tuple[bytes, int, int]]) -> None:
        """Record that the remote holds `pack_id` with these (chunk id, offset, length); once per pack."""
        pack = bytes.fromhex(pack_id)
        with self.write() as db:
            cur = db.execute("INSERT OR IGNORE INTO remote_packs (remote, pack, size) VALUES (?,?,?)",
                             (remote, pack, size))
            if cur.rowcount != 1:
                return  # already recorded, by another thread or process
            row = cur.lastrowid
            db.executemany("INSERT INTO remote_chunks VALUES (?,?,?,?,?)",
                           ((chunk_key(cid), cid, row, off, length) for cid, off, length in entries))

    def forget_packs(self, remote: int, pack_ids: Iterable[str]) -> None:
        packs = [bytes.fromhex(p) for p in pack_ids]
        with self.write() as db:
            for pack in packs:
                row = db.execute("SELECT id FROM remote_packs WHERE remote=? AND pack=?", (remote, pack)).fetchone()
                if row:
                    db.execute("DELETE FROM remote_chunks WHERE pack=?", row)
                    db.execute("DELETE FROM remote_packs WHERE id=?", row)

    def forget_remote(self, remote: int) -> None:
        with self.write() as db:
            db.execute("DELETE FROM remote_chunks WHERE pack IN (SELECT id FROM remote_packs WHERE remote=?)",
                       (remote,))
            db.execute("DELETE FROM remote_packs WHERE remote=?", (remote,))
            db.execute("UPDATE remotes SET synced_at=NULL WHERE id=?", (remote,))

    def locate(self, remote: int, chunk_ids: Iterable[bytes], avoid: Iterable[str] = ()
               ) -> dict[bytes, tuple[str, int]]:
        """chunk id -> (pack id, offset) for the chunks the remote is known to hold.

        A chunk recorded in several packs is located in the most recently
        recorded one that is not in `avoid`.
        """
        wanted = {chunk_key(cid): cid for cid in chunk_ids}
        skip = {bytes.fromhex(p) for p in avoid}
        best: dict[bytes, tuple[int, bytes, int]] = {}
        rows = self._join_keys(wanted, "SELECT c.key, c.chunk, p.id, p.pack, c.offset FROM wanted_keys w "
                                       "JOIN remote_chunks c ON c.key = w.key JOIN remote_packs p ON p.id = c.pack "
                                       "WHERE p.remote=?", (remote,))
        for key, chunk, row, pack, offset in rows:
            if wanted.get(key) == chunk and pack not in skip and row > best.get(chunk, (-1,))[0]:
                best[chunk] = (row, pack, offset)
        return {chunk: (pack.hex(), offset) for chunk, (_, pack, offset) in best.items()}

    def _join_keys(self, keys: Iterable[int], sql: str, params: tuple = ()) -> list[tuple]:
        """Run `sql`, which joins the temp table wanted_keys(key), with `keys` in it (one query, not thousands)."""
        db = self.read()
        db.execute("DROP TABLE IF EXISTS temp.wanted_keys")
        db.execute("CREATE TEMP TABLE wanted_keys (key INTEGER PRIMARY KEY)")
        try:
            db.executemany("INSERT OR IGNORE INTO wanted_keys VALUES (?)", ((k,) for k in sorted(keys)))
            return db.execute(sql, params).fetchall()
        finally:
            db.execute("DROP TABLE IF EXISTS temp.wanted_keys")

    def remote_totals(self, remote: int) -> tuple[int, int]:
        """(packs, bytes in chunks) known for a remote."""
        db = self.read()
        packs = db.execute("SELECT count(*) FROM remote_packs WHERE remote=?", (remote,)).fetchone()[0]
        data = db.execute("SELECT coalesce(sum(c.length), 0) FROM remote_chunks c JOIN remote_packs p "
                          "ON p.id = c.pack WHERE p.remote=?", (remote,)).fetchone()[0]
        return packs, data

    def claim(self, remote: int, chunk_ids: Iterable[bytes]
              ) -> tuple[set[bytes], threading.Event, set[threading.Event]]:
        """Split chunks to upload between this thread and threads already uploading them.

        Returns (chunks now ours, the event to set when we are done with them,
        the events of other threads to wait for before using their chunks).
        Threads pushing related objects at once thus send each chunk once.
        """
        mine: set[bytes] = set()
        done = threading.Event()
        theirs: set[threading.Event] = set()
        with self._claims_lock:
            for chunk_id in chunk_ids:
                other = self._claims.get((remote, chunk_id))
                if other is None:
                    self._claims[(remote, chunk_id)] = done
                    mine.add(chunk_id)
                else:
                    theirs.add(other)
        return mine, done, theirs

    def release(self, remote: int, chunk_ids: Iterable[bytes], done: threading.Event) -> None:
        with self._claims_lock:
            for chunk_id in chunk_ids:
                if self._claims.get((remote, chunk_id)) is done:
                    del self._claims[(remote, chunk_id)]
        done.set()

    # -- the local chunk index ----------------------------------------------

    def local_chunk_list(self, oid: str) -> ChunkList | None:
        row = self.read().execute("SELECT chunks FROM local_objects WHERE oid=?", (bytes.fromhex(oid),)).fetchone()
        return ChunkList.decode(row[0]) if row else None

    def has_local(self, oid: str) -> bool:
        return self.read().execute("SELECT 1 FROM local_objects WHERE oid=?",
                                   (bytes.fromhex(oid),)).fetchone() is not None

    def record_local(self, oid: str, size: int, chunks: ChunkList, chunker: str) -> None:
        """Record the chunk list of cached object `oid`.

        Its per-chunk rows (tens of thousands for a GiB) are written only when
        a rebuild first looks for chunks in the cache (`local_sources`): `add`
        is timed by users, a pull of a new version can afford them.
        """
        raw = bytes.fromhex(oid)
        with self.write() as db:
            self._forget_local(db, raw)
            obj = db.execute("INSERT INTO local_objects (oid, size, chunker, chunks) VALUES (?,?,?,?)",
                             (raw, size, chunker, chunks.encode())).lastrowid
            db.execute("INSERT INTO local_unspread VALUES (?)", (obj,))

    def _spread(self) -> None:
        """Write the per-chunk rows of every object recorded since the last lookup."""
        if self.read().execute("SELECT 1 FROM local_unspread LIMIT 1").fetchone() is None:
            return
        with self.write() as db:
            for obj, blob in db.execute("SELECT o.id, o.chunks FROM local_unspread u "
                                        "JOIN local_objects o ON o.id = u.obj").fetchall():
                chunks = ChunkList.decode(blob)
                offsets = list(itertools.accumulate(chunks.lengths, initial=0))[:-1]
                # first occurrence of each chunk wins: later pairs are written first and overwritten
                rows = dict(zip(reversed(chunk_keys(chunks.ids)), reversed(offsets)))
                db.executemany("INSERT INTO local_chunks VALUES (?,?,?)",
                               ((k, obj, off) for k, off in rows.items()))
            db.execute("DELETE FROM local_unspread")

    @staticmethod
    def _forget_local(db: sqlite3.Connection, raw_oid: bytes) -> None:
        old = db.execute("SELECT id FROM local_objects WHERE oid=?", (raw_oid,)).fetchone()
        if old:
            db.execute("DELETE FROM local_chunks WHERE obj=?", old)
            db.execute("DELETE FROM local_unspread WHERE obj=?", old)
            db.execute("DELETE FROM local_objects WHERE id=?", old)

    def forget_local(self, oid: str) -> None:
        with self.write() as db:
            self._forget_local(db, bytes.fromhex(oid))

    def local_oids(self) -> list[str]:
        return [row[0].hex() for row in self.read().execute("SELECT oid FROM local_objects")]

    def local_sources(self, chunk_ids: Iterable[bytes], exclude: str | None = None
                      ) -> dict[bytes, list[tuple[str, int]]]:
        """chunk id -> [(cached object oid, offset), ...] from the local index.

        Matched on the first 8 bytes of the id only: every byte read from the
        cache is checked by the caller (the rebuilt file's oid).
        """
        skip = bytes.fromhex(exclude) if exclude else b""
        if self.read().execute("SELECT 1 FROM local_objects WHERE oid != ? LIMIT 1", (skip,)).fetchone() is None:
            return {}  # nothing else indexed (a fresh clone): no lookup of every chunk
        self._spread()
        wanted = {chunk_key(cid): cid for cid in chunk_ids}
        out: dict[bytes, list[tuple[str, int]]] = {}
        rows = self._join_keys(wanted, "SELECT c.key, o.oid, c.offset FROM wanted_keys w "
                                       "JOIN local_chunks c ON c.key = w.key JOIN local_objects o ON o.id = c.obj")
        for key, oid, offset in rows:
            if oid != skip:
                out.setdefault(wanted[key], []).append((oid.hex(), offset))
        return out


_STATES: dict[str, ChunkIndex] = {}
_STATES_LOCK = threading.Lock()


def open_index(state_dir: str | os.PathLike) -> ChunkIndex:
    """The ChunkIndex for a directory, shared by every thread of this process."""
    key = os.path.abspath(os.fspath(state_dir))
    with _STATES_LOCK:
        state = _STATES.get(key)
        if state is None or not os.path.exists(state.path):
            state = _STATES[key] = ChunkIndex(key)
        return state
