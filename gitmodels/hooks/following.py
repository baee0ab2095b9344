"""Hash a file and copy it into the cache while a serializer is still writing it.

`gitmodels.save` used to let the framework write its file, then read it all
back to hash it and copy it into the cache: two passes over a 500 MB model.
Here the framework writes through a `FollowedFile`, and a second thread
follows it, reading each new block back from the page cache (where it
just landed) to hash it and write it to the cache. The framework's own
thread only writes; hashing runs on the other core while it does.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading

from gitmodels.storage import fileio
from gitmodels.storage.hashing import BLOCK_SIZE
from gitmodels.storage.store import Store


class FollowedFile:
    """A new file at `path` that ends up, verified, as an object of `store` too (see `close`)."""

    def __init__(self, store: Store, path: str):
        self.store = store
        self.path = path
        self.oid: str | None = None
        self.size = 0
        self._file = open(path, "xb", buffering=0)
        self.inode = os.fstat(self._file.fileno()).st_ino
        self._reader = os.open(path, os.O_RDONLY)
        os.makedirs(store.tmp_dir, exist_ok=True)
        self._tmp = fileio.tmp_name_for(os.path.join(store.tmp_dir, "obj"))
        self._out = fileio.DirectFile(self._tmp)
        self._digest = hashlib.sha256()
        self._cond = threading.Condition()
        self._written = 0
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._follow, name="gm-follow", daemon=True)
        self._thread.start()

    # -- the file-like side the serializer sees --

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        fileio.write_sliced(self._file, view)
        done = len(view)
        with self._cond:
            self._written += done
            self._cond.notify()
        return done

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    # -- the follower --

    def _follow(self) -> None:
        buf = mmap.mmap(-1, BLOCK_SIZE)
        pos = 0
        try:
            while True:
                with self._cond:
                    while self._written - pos < BLOCK_SIZE and not self._closed:
                        self._cond.wait()
                    avail = self._written - pos
                if not avail:
                    return
                n = fileio.preadinto(self._reader, memoryview(buf)[:min(avail, BLOCK_SIZE)], pos)
                if n <= 0:
                    raise OSError(f"{self.path} shrank while it was being written")
                self._digest.update(memoryview(buf)[:n])
                self._out.write(memoryview(buf)[:n])
                pos += n
        except BaseException as exc:  # handed to close()
            self._error = exc
        finally:
            buf.close()

    def close(self) -> str:
        """Finish the file; its bytes are then an object in the cache. Returns the oid."""
        if self.oid is not None:
            return self.oid
        try:
            self._file.close()
            with self._cond:
                self._closed = True
                self._cond.notify()
            self._thread.join()
            self._out.close()
            os.close(self._reader)
            if self._error is not None:
                raise self._error
            self.size = os.path.getsize(self._tmp)
            self.oid = self._digest.hexdigest()
            self.store._commit(self._tmp, self.oid)
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
        return self.oid

    def abort(self) -> None:
        """The serializer failed: stop following and leave nothing in the cache."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        for close in (self._file.close, self._out.close, lambda: os.close(self._reader)):
            try:
                close()
            except OSError:
                pass
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> "FollowedFile":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
