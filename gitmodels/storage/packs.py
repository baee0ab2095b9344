"""Small objects of the local cache kept in packs: one file holds thousands of them.

A directory of 100,000 small files would otherwise be 100,000 cache objects,
each a create, a write and a rename on add and on pull, next to the same
number of workspace files. In a pack it is one sequential write.

Layout (docs/formats.md "Local packs"):

    <cache>/packs/<pack id>.pack   the pack format of remotes (storage/packformat.py), read-only
    <cache>/packs/index/packs.sqlite   oid -> (pack, offset, length), in a folder of its own: SQLite's
                                       journal files come and go there without touching packs/
    <cache>/packs/forgotten        rewritten whenever entries are dropped (gc, quarantine): the
                                   mtime of packs/ then tells a memo (status) that something left

A pack is complete and durable before a row names it, and the index is only
a hint: a pack it does not know is indexed from the pack's own trailer on the
next open, rows of a pack that is gone are dropped, and every entry is hashed
when it is read (these are small objects), so a damaged pack costs a
download, never a wrong byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
import threading
from typing import Iterable, Iterator

from gitmodels.errors import CorruptObject, GitModelsError
from gitmodels.storage import fileio, packformat

PACK_SIZE = 32 * 1024 * 1024  # a pack is closed once it holds this much
SUFFIX = ".pack"
DB_PATH = os.path.join("index", "packs.sqlite")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    oid BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_pack ON entries (pack);
"""
_IN = 500  # oids per `IN (...)` query
_SCAN_FROM = 10_000  # held() of this many oids or more may read the index through

Location = tuple[str, int, int]  # (pack name, offset, length)


class PackIndexError(GitModelsError):
    default_hint = "delete the cache's packs/index folder: it is rebuilt from the packs themselves"


class LocalPacks:
    """The packs of one cache. Safe for the threads of one process and for several processes."""

    def __init__(self, cache_root: str, tmp_dir: str, *, fsync: bool = True):
        self.dir = os.path.join(cache_root, "packs")
        self.tmp_dir = tmp_dir
        self.fsync = fsync
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._open: dict[str, io.FileIO] = {}  # packs read from: closed with this object, or by close()
        self._writer: _Writer | None = None
        self._present = False
        self._held: set[bytes] | None = None  # every packed oid, read once when an add first asks (maybe_holds)

    # -- the index -----------------------------------------------------------------

    def present(self) -> bool:
        """Whether this cache has packs at all: a cache without them never opens the index."""
        if not self._present:
            self._present = os.path.isdir(self.dir)
        return self._present

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            os.makedirs(os.path.join(self.dir, os.path.dirname(DB_PATH)), exist_ok=True)
            self._present = True
            try:
                db = sqlite3.connect(os.path.join(self.dir, DB_PATH), timeout=60, isolation_level=None,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        db.execute(statement)
            except sqlite3.Error as exc:
                raise PackIndexError(f"cannot open the cache's pack index in {self.dir}: {exc}") from None
            self._db = db
            self._reconcile()
        return self._db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _reconcile(self) -> None:
        """Index the packs the index lacks (a crash between a pack's rename and its rows, a dropped
        index); drop the rows of packs that are gone."""
        # Rows first, then the folder: a pack another process renames and indexes in between is then
        # only indexed twice (ignored), never taken for a pack that is gone.
        known = {name for (name,) in self._db.execute("SELECT name FROM packs")}
        on_disk = {n[:-len(SUFFIX)] for n in _listdir(self.dir) if n.endswith(SUFFIX)}
        if on_disk == known:
            return
        for name in sorted(on_disk - known):
            path = self.pack_path(name)
            try:
                entries = read_trailer(path)
            except (OSError, packformat.FormatError):
                continue  # not a pack (yet): fsck reports it
            self._index(name, os.path.getsize(path), [(e.chunk_id, e.offset, e.length) for e in entries])
        if known - on_disk:
            with self._write() as db:
                for name in known - on_disk:
                    row = db.execute("SELECT id FROM packs WHERE name=?", (name,)).fetchone()
                    if row:
                        db.execute("DELETE FROM entries WHERE pack=?", row)
                        db.execute("DELETE FROM packs WHERE id=?", row)

    def _index(self, name: str, size: int, entries: list[tuple[bytes, int, int]]) -> None:
        with self._write() as db:
            cur = db.execute("INSERT OR IGNORE INTO packs (name, size) VALUES (?,?)", (name, size))
            if cur.rowcount != 1:
                return  # indexed already, by another process
            pack = cur.lastrowid
            entries.sort()
            if self._held is not None:
                self._held.update(oid for oid, _, _ in entries)
            # the newest copy of an object wins: a compaction's rewrite takes over its entries in one step
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?)",
                           ((oid, pack, off, length) for oid, off, length in entries))

    def locate(self, oids: Iterable[str]) -> dict[str, Location]:
        """oid -> (pack name, offset, length) of those of `oids` held in a pack."""
        names: dict[str, str] = {}  # one string per pack, not one per object
        return {oid.hex(): (names.setdefault(name, name), offset, length) for oid, name, offset, length in
                self._select("e.oid, p.name, e.offset, e.length FROM entries e JOIN packs p ON p.id = e.pack "
                             "WHERE e.oid", oids)}

    def maybe_holds(self, oid: str) -> bool:
        """False when no pack holds `oid` as far as this command knows: one read of every packed oid,
        then set lookups. True means "confirm with find()": only ever used to skip a needless append."""
        with self._lock:
            if self._held is None:
                self._held = set()
                if self.present():
                    self._held.update(oid for (oid,) in self._conn().execute("SELECT oid FROM entries"))
            return bytes.fromhex(oid) in self._held

    def held(self, oids: Iterable[str]) -> set[str]:
        """Those of `oids` held in a pack (no locations: a 100,000-file question stays small). A question
        about a good part of the index reads the index through instead: half the time of the lookups."""
        oids = list(oids)
        if len(oids) >= _SCAN_FROM and self.present():
            with self._lock:
                self._publish_if_packing(oids)
                db = self._conn()
                if len(oids) * 4 >= db.execute("SELECT count(*) FROM entries").fetchone()[0]:
                    asked = {bytes.fromhex(o) for o in oids}
                    return {oid.hex() for (oid,) in db.execute("SELECT oid FROM entries") if oid in asked}
        return {oid.hex() for (oid,) in self._select("oid FROM entries WHERE oid", oids)}

    def _select(self, what: str, oids: Iterable[str]) -> Iterator[tuple]:
        """Rows of `SELECT <what> IN (...)` for `oids`, a few hundred per query."""
        oids = list(oids)
        with self._lock:
            self._publish_if_packing(oids)
        if not self.present() or not oids:
            return
        for i in range(0, len(oids), _IN):
            part = [bytes.fromhex(o) for o in oids[i:i + _IN]]
            with self._lock:
                rows = self._conn().execute(f"SELECT {what} IN ({','.join('?' * len(part))})", part).fetchall()
            yield from rows

    def _publish_if_packing(self, oids: list[str]) -> None:
        """Asked about an object this process is still packing: publish its pack first (lock held)."""
        if self._writer is not None and not self._writer.seen.isdisjoint(oids):
            self._close_writer()

    def find(self, oid: str) -> Location | None:
        return self.locate([oid]).get(oid)

    def listing(self) -> Iterator[tuple[str, int, float]]:
        """(oid, size, mtime of its pack) of every packed object."""
        if not self.present():
            return
        with self._lock:
            rows = self._conn().execute("SELECT e.oid, e.length, p.name FROM entries e JOIN packs p "
                                        "ON p.id = e.pack ORDER BY e.oid").fetchall()
        mtimes: dict[str, float] = {}
        for oid, length, name in rows:
            if name not in mtimes:
                try:
                    mtimes[name] = os.stat(self.pack_path(name)).st_mtime
                except FileNotFoundError:
                    mtimes[name] = 0.0
            yield oid.hex(), length, mtimes[name]

    # -- reading -------------------------------------------------------------------

    def pack_path(self, name: str) -> str:
        return os.path.join(self.dir, name + SUFFIX)

    def pending(self, oid: str) -> bool:
        """Packed by this process, not yet published (`finish`)."""
        with self._lock:
            return self._writer is not None and oid in self._writer.seen

    def read(self, oid: str, where: Location | None = None, verify: bool = True) -> bytes | None:
        """The bytes of packed object `oid`, hashed; None when no pack holds it."""
        loc = where or self.find(oid)
        if loc is None:
            return None
        name, offset, length = loc
        with self._lock:
            f = self._open.get(name)
            if f is None:
                try:
                    f = self._open[name] = open(self.pack_path(name), "rb", buffering=0)
                except FileNotFoundError:
                    return None  # removed by a gc since it was looked up
        data = _pread(f.fileno(), length, offset, self._lock)
        if verify and (len(data) != length or hashlib.sha256(data).hexdigest() != oid):
            raise CorruptObject(f"corrupt object {oid[:12]} in the cache's pack {self.pack_path(name)}",
                                "run `gitmodels fsck` to drop it, then `gitmodels fetch` it again")
        return data

    def close(self) -> None:
        """Close the open packs and the index (a pack still being written is kept: `finish` closes it)."""
        with self._lock:
            for f in self._open.values():
                f.close()
            self._open.clear()
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- writing -------------------------------------------------------------------

    def add(self, oid: str, data) -> None:
        """Append object `oid` (its bytes hashed by the caller) to the pack being written; durable and
        visible once `finish()` returns (Store.sync calls it before anything names the object)."""
        with self._lock:
            if self._writer is None:
                self._writer = _Writer(self.tmp_dir)
            self._writer.add(oid, data)
            if self._writer.size >= PACK_SIZE:
                self._close_writer()

    def finish(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._close_writer()

    def abandon(self) -> None:
        """Drop a pack being written (the command failed)."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.discard()

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        name, size, entries = writer.close(self.fsync)
        if not entries:
            return
        os.makedirs(self.dir, exist_ok=True)
        final = self.pack_path(name)
        try:
            fileio.make_readonly(writer.path)
            fileio.replace(writer.path, final)
        except BaseException:
            writer.discard()
            raise
        if self.fsync:
            fileio.fsync_dir(self.dir)
        self._conn()  # the pack is in place: a first open indexes it by itself
        self._index(name, size, entries)

    # -- dropping ------------------------------------------------------------------

    def forget(self, oids: Iterable[str]) -> int:
        """Drop these objects from the index (their bytes go with their pack: `compact`); how many were held."""
        raw = [bytes.fromhex(o) for o in oids]
        if not raw or not self.present():
            return 0
        gone = 0
        with self._write() as db:
            for i in range(0, len(raw), _IN):
                part = raw[i:i + _IN]
                gone += db.execute(f"DELETE FROM entries WHERE oid IN ({','.join('?' * len(part))})", part).rowcount
        if gone:
            self._mark_forgotten()
        return gone

    def _mark_forgotten(self) -> None:
        path = os.path.join(self.dir, "forgotten")
        tmp = fileio.tmp_name_for(path)
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()} {os.urandom(8).hex()}\n")
        os.replace(tmp, path)

    def compact(self, keep_fraction: float = 0.5) -> tuple[int, int]:
        """Delete packs no entry uses; rewrite those whose live entries hold less than `keep_fraction`
        of their bytes (live entries copied, each hashed, into a new pack). (packs removed, bytes freed)"""
        if not self.present():
            return 0, 0
        with self._lock:
            db = self._conn()
            rows = db.execute("SELECT p.id, p.name, p.size, count(e.oid), coalesce(sum(e.length), 0) FROM packs p "
                              "LEFT JOIN entries e ON e.pack = p.id GROUP BY p.id").fetchall()
        removed = freed = 0
        for pack, name, size, count, live in rows:
            if count and live >= keep_fraction * size:
                continue
            if count:
                with self._lock:
                    kept = self._conn().execute("SELECT oid, offset, length FROM entries WHERE pack=? "
                                                "ORDER BY offset", (pack,)).fetchall()
                for oid, offset, length in kept:
                    with contextlib.suppress(CorruptObject):  # a damaged entry is dropped: fetched again when needed
                        data = self.read(oid.hex(), (name, offset, length))
                        if data is not None:
                            self.add(oid.hex(), data)
                self.finish()
            with self._lock:
                f = self._open.pop(name, None)
            if f is not None:
                f.close()
            # the file before its rows: another process's first open re-indexes a pack it finds on disk
            with contextlib.suppress(FileNotFoundError):
                fileio.remove(self.pack_path(name))
            with self._write() as db:
                db.execute("DELETE FROM entries WHERE pack=?", (pack,))
                db.execute("DELETE FROM packs WHERE id=?", (pack,))
            removed += 1
            freed += size
        if removed:
            self._mark_forgotten()
        return removed, freed

    def pack_names(self) -> list[str]:
        return sorted(n[:-len(SUFFIX)] for n in _listdir(self.dir) if n.endswith(SUFFIX))


class _Writer:
    """One pack being written in the cache's tmp folder."""

    def __init__(self, tmp_dir: str):
        os.makedirs(tmp_dir, exist_ok=True)
        self.path = fileio.tmp_name_for(os.path.join(tmp_dir, "pack"))
        self._f = open(self.path, "xb", buffering=1024 * 1024)
        header = packformat.pack_header()
        self._f.write(header)
        self.size = len(header)
        self.entries: list[tuple[bytes, int, int]] = []
        self.seen: set[str] = set()

    def add(self, oid: str, data) -> None:
        if oid in self.seen:
            return
        self.seen.add(oid)
        self._f.write(data)
        self.entries.append((bytes.fromhex(oid), self.size, len(data)))
        self.size += len(data)

    def close(self, fsync: bool) -> tuple[str, int, list[tuple[bytes, int, int]]]:
        trailer = packformat.encode_pack_trailer([packformat.PackEntry(*e) for e in self.entries], self.size)
        self._f.write(trailer)
        self._f.flush()
        if fsync:
            os.fsync(self._f.fileno())
        self._f.close()
        return packformat.pack_id_of(trailer), self.size + len(trailer), self.entries

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def read_trailer(path: str) -> list[packformat.PackEntry]:
    """The entries of the pack at `path`, from its own index (checked against its footer)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - packformat.PACK_FOOTER_SIZE))
        _, count = packformat.parse_pack_footer(f.read(), size)
        need = packformat.pack_trailer_size(count)
        f.seek(size - need)
        return packformat.parse_pack_tail(f.read(need), size)


def _pread(fd: int, length: int, offset: int, lock: threading.RLock) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    with lock:  # Windows: no pread; seek and read under the lock the descriptors share
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
