"""The local content-addressed cache, shared by every worktree of a repository.

Layout (docs/formats.md): `<root>/objects/<2hex>/<oid>` read-only files,
`<root>/packs/` small objects of directories kept many to a file (storage/packs.py),
`<root>/tmp/` for writes in progress, `<root>/quarantine/` for corrupt
objects that fsck moved aside. An object only ever appears under its name
after its bytes were hashed and matched that name.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from gitmodels.storage import fileio
from gitmodels.errors import CorruptObject, ObjectMissing
from gitmodels.storage.hashing import hash_bytes
from gitmodels.storage.hashing import hash_file
from gitmodels.storage.objects import OBJECTS_PREFIX
from gitmodels.storage.packs import LocalPacks

if TYPE_CHECKING:
    from gitmodels.storage import packs as packs_mod

Progress = Callable[[int], None]
LINK_MODES = ("reflink", "copy", "hardlink", "symlink")
FSYNC_EACH = 32  # sync() fsyncs up to this many new objects one by one, more with one syncfs
# Objects smaller than this are verified by hashing them on every copy out of the cache: a read of a
# few KiB costs less than the stat and stat-cache row that would otherwise vouch for them.
SMALL_OBJECT = 64 * 1024


class Store:
    def __init__(self, root: str, *, fsync: bool = True):
        self.root = root
        self.fsync = fsync
        self.objects_dir = os.path.join(root, OBJECTS_PREFIX.rstrip("/"))
        self.tmp_dir = os.path.join(root, "tmp")
        self.chunk_dir = os.path.join(root, "chunks")  # the chunk index (docs/storage.md)
        self._unsynced: list[str] = []  # objects renamed into place since the last sync()
        self._made: set[str] = set()  # folders known to exist: a 100,000-file add makes each once
        self._listed: dict[str, set[str]] = {}  # objects/<fan> -> names seen there by this process
        self._prefix = self.objects_dir + os.sep
        self.packs = LocalPacks(root, self.tmp_dir, fsync=fsync)

    def path(self, oid: str) -> str:
        return f"{self._prefix}{oid[:2]}{os.sep}{oid}"  # cache_path, without a join per call: hot in big checkouts

    def maybe_has(self, oid: str) -> bool:
        """False when the object is surely absent, by one listing of its folder per command instead of a
        stat per object; True means "test with has()": the listing only ever saves a write or a download
        that another process made needless meanwhile, never skips one that is needed."""
        fan = oid[:2]
        names = self._listed.get(fan)
        if names is None:
            try:
                names = set(os.listdir(os.path.join(self.objects_dir, fan)))
            except OSError:
                names = set()
            self._listed[fan] = names
        return oid in names

    def has(self, oid: str) -> bool:
        return os.path.exists(self.path(oid)) or self.packs.pending(oid) or self.packs.find(oid) is not None

    def present(self, oids: Iterable[str]) -> set[str]:
        """Those of `oids` the cache has, loose or packed: a folder listing and one query per few hundred."""
        oids = list(oids)
        found = {o for o in oids if self.maybe_has(o) and os.path.exists(self.path(o))}
        return found | self.packs.held(o for o in oids if o not in found)

    def size(self, oid: str) -> int | None:
        try:
            return os.stat(self.path(oid)).st_size
        except FileNotFoundError:
            where = self.packs.find(oid)
            return where[2] if where else None

    def iter_oids(self) -> Iterator[str]:
        """Loose objects, then packed ones (an object both loose and packed is named once)."""
        loose = set()
        if os.path.isdir(self.objects_dir):
            for fan in sorted(os.listdir(self.objects_dir)):
                folder = os.path.join(self.objects_dir, fan)
                if len(fan) != 2 or not os.path.isdir(folder):
                    continue
                for name in sorted(os.listdir(folder)):
                    if len(name) == 64 and name.startswith(fan):
                        loose.add(name)
                        yield name
        for oid, _, _ in self.packs.listing():
            if oid not in loose:
                yield oid

    # -- writing -------------------------------------------------------------------

    def _folder(self, folder: str) -> None:
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)

    @contextlib.contextmanager
    def _tmp(self) -> Iterator[str]:
        self._folder(self.tmp_dir)
        tmp = fileio.tmp_name_for(os.path.join(self.tmp_dir, "obj"))
        try:
            yield tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _commit(self, tmp: str, oid: str) -> None:
        """Move a verified temp file to its name; a concurrent writer of the same oid is fine.

        Durability is batched: callers run `sync()` once before they write anything
        (a pointer, a remote marker) that names these objects. One filesystem sync
        for a thousand small objects instead of a thousand fsyncs.
        """
        final = self.path(oid)
        if self._complete(final, os.path.getsize(tmp)):
            return
        fileio.make_readonly(tmp)
        self._folder(os.path.dirname(final))
        fileio.replace(tmp, final)  # a crash's leftover there is read-only: Windows needs it made writable
        self._published(final, oid)

    def _published(self, final: str, oid: str) -> None:
        """Object `oid` was just renamed into place at `final`: to be synced, and known to be there."""
        self._unsynced.append(final)
        self._listed.get(oid[:2], set()).add(oid)

    @staticmethod
    def _complete(final: str, size: int) -> bool:
        """An object of the right size is already there (a crash can leave an empty one)."""
        try:
            return os.path.getsize(final) == size
        except FileNotFoundError:
            return False

    def sync(self) -> None:
        """Make every object written so far durable (and packed ones visible to other processes).

        A few objects: fsync each and its folder, so the user's other dirty
        files (the model just written to the workspace) are not flushed too.
        Many: one syncfs of the cache's filesystem instead of a thousand fsyncs.
        """
        self.packs.finish()  # fsynced before its index names it
        written, self._unsynced = self._unsynced, []
        if not self.fsync or not written:
            return
        if len(written) > FSYNC_EACH and fileio.syncfs(self.root):
            return
        for path in written:
            fileio.fsync_path(path)
        for folder in sorted({os.path.dirname(p) for p in written}):
            fileio.fsync_dir(folder)

    def add_file(self, src: str, progress: Progress | None = None,
                 scanner: Callable[[str, fileio.DirectFile, Progress | None], tuple[str, int]] | None = None,
                 expected: tuple[int, int, int, int] | None = None, pack: bool = False) -> tuple[str, int]:
        """Hash `src` and copy it into the cache in one read; returns (oid, size).

        `scanner(src, out, progress)` replaces the plain hash-and-copy of a large
        file when the caller wants more out of that one read (its chunks).
        `expected`: the (ino, size, mtime_ns, ctime_ns) the caller listed the file
        with; a file changed since then is refused (its size is already in a manifest).
        `pack`: a small file goes into a pack (a file of a directory: `put_packed`).
        """
        self._folder(self.tmp_dir)
        with open(src, "rb", buffering=0) as fin:
            before = os.fstat(fin.fileno())
            if expected is not None and fileio.identity(before) != tuple(expected):
                raise fileio.changed_while_read(src)
            if before.st_size < fileio.DIRECT_MIN:  # read whole: no threads, no block buffers, one write
                data = fin.readall()
                if progress:
                    progress(len(data))
                fileio.check_unchanged(fin.fileno(), before, src)  # before a byte of it is published
                put = self.put_packed if pack else self.put_hashed
                return put(hash_bytes(data), data), len(data)

            def checked(n: int) -> None:  # stops early, and at all when something keeps appending
                fileio.check_unchanged(fin.fileno(), before, src)
                if progress:
                    progress(n)

            with self._tmp() as tmp:
                with fileio.DirectFile(tmp) as fout:
                    oid, size = scanner(src, fout, progress) if scanner else fileio.copy_and_hash(fin, fout, checked)
                fileio.check_unchanged(fin.fileno(), before, src)
                self._commit(tmp, oid)
        return oid, size

    def put_packed(self, oid: str, data, known_absent: bool = False) -> str:
        """put_hashed for a small file of a directory: appended to a pack (storage/packs.py) instead of
        a file of its own; durable and seen by other processes after `sync()`. `known_absent`: the caller
        asked `present()` for it a moment ago (a fetch), so the packs' oids need not be read to dedup it."""
        if not 0 < len(data) < SMALL_OBJECT:
            return self.put_hashed(oid, data)
        if self.maybe_has(oid) and self._complete(self.path(oid), len(data)):
            return oid  # loose already
        if known_absent or not (self.packs.pending(oid) or self.packs.maybe_holds(oid) and self.packs.find(oid)):
            self.packs.add(oid, data)  # a second add of one oid while this pack is open is dropped by the writer
        return oid

    def add_bytes(self, data: bytes) -> str:
        return self.put_hashed(hash_bytes(data), data)

    def put_hashed(self, oid: str, data) -> str:
        """Publish `data`, which the caller hashed to `oid` from these very bytes in memory; returns oid.

        The per-file path of a many-file add of larger files (small ones go to a
        pack: put_packed), so it costs the fewest system calls: nothing is written
        when the cache already has the object, the temp file is created read-only
        (no chmod), folders are made once.
        """
        final = self.path(oid)
        if self.maybe_has(oid) and self._complete(final, len(data)):
            return oid
        self._folder(self.tmp_dir)
        tmp = fileio.tmp_name_for(os.path.join(self.tmp_dir, "obj"))
        readonly_now = os.name == "posix"  # Windows: a read-only temp file could not be deleted on failure
        try:
            fd = fileio.create_new(tmp, 0o444 if readonly_now else 0o644)
            try:
                fileio.write_all(fd, data)
            finally:
                os.close(fd)
            if not readonly_now:
                fileio.make_readonly(tmp)
            self._folder(os.path.dirname(final))
            fileio.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                fileio.remove(tmp)
            raise
        self._published(final, oid)
        return oid

    def ingest(self, oid: str, fill: Callable[[str], str | None], where: str = "") -> None:
        """Let `fill(tmp_path)` write bytes, verify they hash to `oid`, then publish them.

        `fill` may return the hex digest it computed while writing; otherwise the
        temp file is hashed here. Bytes that do not match never enter the cache.
        """
        with self._tmp() as tmp:
            digest = fill(tmp)
            if digest is None:
                digest, _ = hash_file(tmp)
            if digest != oid:
                raise CorruptObject(f"corrupt object {oid[:12]}{' from ' + where if where else ''}: "
                                    f"its bytes hash to {digest[:12]}",
                                    "the copy on the remote is damaged; run `gitmodels fsck --remote` "
                                    "and push the object again from a clone that has it")
            self._commit(tmp, oid)

    # -- reading -------------------------------------------------------------------

    def read_bytes(self, oid: str, verify: bool = True) -> bytes:
        try:
            with open(self.path(oid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            packed = self.packs.read(oid)  # hashed on the way
            if packed is None:
                raise _not_cached(oid) from None
            return packed
        if verify:
            if hash_bytes(data) != oid:
                raise CorruptObject(f"corrupt object in the cache: {self.path(oid)}")
        return data

    def read_small(self, oid: str, size: int, where: "packs_mod.Location | None" = None) -> bytes:
        """The `size` bytes of small object `oid`, hashed against its name, from its file or its pack.
        `where`: its pack location, when the caller looked it up with others."""
        path = self.path(oid)
        data = None
        if where is None:
            try:
                with open(path, "rb", buffering=0) as f:
                    data = f.read(size + 1)
            except FileNotFoundError:
                pass
            else:
                if len(data) != size or hash_bytes(data) != oid:
                    raise CorruptObject(f"corrupt object in the cache: {path}",
                                        "run `gitmodels fsck` to quarantine it, then `gitmodels fetch` it again")
        if data is None:
            data = self.packs.read(oid, where)
            if data is None and where is not None:
                return self.read_small(oid, size)  # moved since it was looked up (a gc's compaction): look again
            if data is None:
                raise _not_cached(oid)
            if len(data) != size:
                raise CorruptObject(f"object {oid[:12]} in the cache's packs is {len(data)} bytes, not {size}")
        return data

    def read_many(self, items: list[tuple[str, int]]) -> Iterator[bytes]:
        """read_small of each (oid, size), the packed ones looked up together."""
        where = self.packs.locate(oid for oid, _ in items)
        for oid, size in items:
            yield self.read_small(oid, size, where.get(oid))

    def file(self, oid: str) -> str:
        """The path of object `oid` as a file of its own: a packed one is copied out of its pack
        (hashed) first, for the callers that need a path (upload, link modes, chunking)."""
        path = self.path(oid)
        if not os.path.exists(path):
            data = self.packs.read(oid)
            if data is None:
                raise _not_cached(oid)
            self.put_hashed(oid, data)
            self.sync()
        return path

    def verify(self, oid: str) -> bool:
        where = None if os.path.exists(self.path(oid)) else self.packs.find(oid)
        if where is not None:
            try:
                return self.packs.read(oid, where) is not None
            except CorruptObject:
                return False
        digest, _ = hash_file(self.path(oid))
        return digest == oid

    def quarantine(self, oid: str) -> str:
        target = os.path.join(self.root, "quarantine", f"{oid}.{int(time.time())}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.exists(self.path(oid)):
            os.replace(self.path(oid), target)
        else:  # a packed one: its bytes set aside, its entry dropped (the pack goes with the next gc)
            with open(target, "wb") as f:
                f.write(self.packs.read(oid, verify=False) or b"")
            self.packs.forget([oid])
        return target

    def delete(self, oid: str) -> None:
        self.delete_many([oid])

    def delete_many(self, oids: Iterable[str]) -> None:
        """Remove these objects, loose or packed; a pack's bytes go when `packs.compact()` runs."""
        oids = list(oids)
        for oid in oids:
            with contextlib.suppress(FileNotFoundError):
                fileio.remove(self.path(oid))  # read-only: Windows refuses a plain unlink
        self.packs.forget(oids)

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove temp files left by interrupted commands."""
        removed = 0
        if not os.path.isdir(self.tmp_dir):
            return 0
        cutoff = time.time() - older_than
        for name in os.listdir(self.tmp_dir):
            path = os.path.join(self.tmp_dir, name)
            with contextlib.suppress(OSError):
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
        return removed

    # -- into the workspace ---------------------------------------------------------

    def materialize(self, oid: str, dest: str, mode: str = "reflink", executable: bool = False) -> None:
        """Put the object at `dest` (atomically). The workspace never shares writable bytes with the cache.

        reflink/copy give an independent writable file; hardlink/symlink share
        the read-only cached file, so an in-place edit fails instead of
        corrupting the cache.
        """
        src = self.file(oid)
        folder = os.path.dirname(dest) or "."
        os.makedirs(folder, exist_ok=True)
        tmp = fileio.tmp_name_for(dest)
        try:
            if mode == "symlink":
                os.symlink(src, tmp)
            elif mode == "hardlink":
                try:
                    os.link(src, tmp)
                except OSError:
                    fileio.kernel_copy(src, tmp)
                    fileio.make_readonly(tmp)
            else:
                fileio.kernel_copy(src, tmp)
                os.chmod(tmp, self.workspace_mode(executable))
            if os.path.isdir(dest) and not os.path.islink(dest):
                fileio.rmtree(dest)
            fileio.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @staticmethod
    def workspace_mode(executable: bool = False) -> int:
        """Permissions of a restored, writable workspace file."""
        return (0o777 if executable else 0o666) & ~_umask()


_UMASK: list[int] = []


def _umask() -> int:
    if not _UMASK:
        mask = os.umask(0)
        os.umask(mask)
        _UMASK.append(mask)
    return _UMASK[0]


def _not_cached(oid: str) -> ObjectMissing:
    """The one error for an object neither loose nor packed in the cache."""
    return ObjectMissing(f"object {oid[:12]} is not in the cache", "run `gitmodels fetch`")
