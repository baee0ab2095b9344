"""Spare copies: the workspace file a checkout replaced, kept so switching back is a rename.

Without reflinks, putting a 1 GiB model into the workspace means copying
1 GiB, and throwing away the version it replaces costs the kernel another
pass to free it. Flipping between two branches is the common case, so the
outgoing file is not deleted: it is hard-linked into `<cache>/spare/<oid>`
just before the new version replaces it, and the next checkout that wants
that oid renames it back. Layout and limits: docs/formats.md.

A spare is only trusted while its stat is the one recorded when it was set
aside and no other name links to it, so bytes written to it since (through a
file handle someone kept open) are never handed back. Spares are a speed-up,
never the only copy: the object itself is always in the cache first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat as statmod
import threading

from gitmodels.storage import fileio
from gitmodels.storage.statcache import StatCache
from gitmodels.storage.store import Store

MIN_FREE = 1024 ** 3  # a spare is only kept while the filesystem keeps this much free besides it
MIN_FETCH_COPY = fileio.DIRECT_MIN  # smaller objects copy out of the cache faster than a second write costs


class Spares:
    def __init__(self, store: Store, state: StatCache, limit: int):
        self.store = store
        self.state = state
        self.limit = limit
        self.folder = os.path.join(store.root, "spare")
        # What the folder holds, listed once per command and kept up to date by this
        # object, so keeping a thousand files of a directory model is not a thousand listings.
        self._held: dict[str, tuple[int, int]] | None = None  # path -> (ctime_ns, size)
        self._lock = threading.Lock()

    def path(self, oid: str) -> str:
        return os.path.join(self.folder, oid)

    def take(self, oid: str, dest: str, perm: int) -> bool:
        """Rename the spare copy of `oid` over `dest`; False when there is no trustworthy one."""
        if self.limit <= 0:
            return False
        spare = self.path(oid)
        with self._lock:
            if spare not in self._load():  # no stat per file of a big checkout (a spare made since: copy)
                return False
        try:
            st = os.lstat(spare)
        except FileNotFoundError:
            return False
        if not statmod.S_ISREG(st.st_mode) or st.st_nlink != 1 or self.state.known_oid(spare, st) != oid:
            self.drop(spare)
            return False
        try:
            os.chmod(spare, perm)
            fileio.replace(spare, dest)
        except OSError:  # another filesystem, or a race with another checkout: copy instead
            return False
        with self._lock:
            if self._held is not None:
                self._held.pop(spare, None)
        return True

    @contextlib.contextmanager
    def keeping(self, path: str, oid: str | None):
        """Around replacing `path` (whose bytes are `oid`, saved in the cache): keep them as a spare."""
        linked = self._link(path, oid)
        try:
            yield
        except BaseException:
            if linked:
                self.drop(linked)
            raise
        if linked:
            try:
                os.chmod(linked, 0o444)
                self.state.record(linked, os.lstat(linked), oid)
            except OSError:
                self.drop(linked)
                return
            self._trim(keep=linked)

    # -- a second copy written while the object is fetched (pull) --------------------

    def start(self, size: int) -> str | None:
        """A temp path for a workspace-ready copy of an object of `size` bytes being fetched, or None."""
        if not MIN_FETCH_COPY <= size <= self.limit:
            return None
        os.makedirs(self.store.tmp_dir, exist_ok=True)
        if _low_on_disk(self.store.tmp_dir, size):
            return None
        return fileio.tmp_name_for(os.path.join(self.store.tmp_dir, "spare"))

    def adopt(self, tmp: str, oid: str) -> None:
        """The fetched object verified: its copy at `tmp` becomes the spare of `oid`."""
        if not os.path.exists(tmp):  # the backend could not write a second copy
            return
        spare = self.path(oid)
        try:
            os.chmod(tmp, 0o444)
            os.makedirs(self.folder, exist_ok=True)
            os.replace(tmp, spare)
            self.state.record(spare, os.lstat(spare), oid)
        except OSError:
            self.drop(tmp)
            return
        self._trim(keep=spare)

    def _link(self, path: str, oid: str | None) -> str | None:
        if self.limit <= 0 or oid is None or not self.store.has(oid):
            return None
        try:
            st = os.lstat(path)
            if not statmod.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > self.limit:
                return None
            os.makedirs(self.folder, exist_ok=True)
            if _low_on_disk(self.folder, st.st_size):
                return None
            spare = self.path(oid)
            os.link(path, spare)
        except OSError:  # a spare of oid exists already, another filesystem, no hard links
            return None
        return spare

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._held is None:
            self._held = {full: (ctime, size) for ctime, size, full in self._listing()}
        return self._held

    def _trim(self, keep: str) -> None:
        """Count `keep` in, then drop the oldest spares until they fit the limit."""
        with self._lock:
            self._load()
            with contextlib.suppress(OSError):
                st = os.lstat(keep)
                self._held[keep] = (st.st_ctime_ns, st.st_size)
            total = sum(size for _, size in self._held.values())
            for (_, size), full in sorted((v, k) for k, v in self._held.items()):
                if total <= self.limit:
                    break
                if full != keep:
                    self.drop(full)
                    del self._held[full]
                    total -= size

    @staticmethod
    def drop(spare: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            fileio.remove(spare)

    def _listing(self) -> list[tuple[int, int, str]]:
        """(ctime_ns, size, path) of every spare."""
        out = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.folder):
                full = os.path.join(self.folder, name)
                with contextlib.suppress(OSError):
                    st = os.lstat(full)
                    out.append((st.st_ctime_ns, st.st_size, full))
        return out

    def usage(self) -> tuple[int, int]:
        """(files, bytes) held as spares."""
        entries = self._listing()
        return len(entries), sum(size for _, size, _ in entries)

    def clear(self) -> None:
        """Delete every spare (gc): they only ever save time, never data."""
        for _, _, full in self._listing():
            self.drop(full)


def _low_on_disk(folder: str, size: int) -> bool:
    """Keeping `size` more bytes would leave less than MIN_FREE on the filesystem."""
    try:
        free = shutil.disk_usage(folder).free  # statvfs on POSIX, GetDiskFreeSpaceEx on Windows
    except OSError:
        return True
    return free < size + MIN_FREE
