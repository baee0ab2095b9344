"""A directory remote: a path or file:// URL, laid out exactly like the cache."""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Iterator
from urllib.parse import unquote, urlparse

from gitmodels.storage import fileio
from gitmodels.credentials import mask_url
from gitmodels.errors import AccessDenied, RemoteError, RemoteUnreachable, UsageError
from gitmodels.remotes.base import Backend, KeyNotFound, Progress


def path_from_url(url: str) -> str:
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise RemoteError(f"file URL {mask_url(url)!r} names a host", "write it as file:///absolute/path")
        return unquote(parsed.path)
    return os.path.expanduser(url)


def _linked(src: str, dst: str) -> bool:
    """Hard-link a temp file into the remote when both are on one filesystem."""
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hard links
        return False
    return True


def create_root(path: str, shown: str | None = None) -> list[str]:
    """Create a directory remote when it is added (never on upload: an unmounted
    share must fail loudly, not fill the local disk), so a path that cannot work
    is refused now rather than at the first push.

    Returns warnings: folders created above the remote itself (a typo, or a
    share that is not mounted, shows here), or a remote that is not writable.
    """
    path = os.path.abspath(path)
    shown = shown or path
    if os.path.isdir(path):
        if os.access(path, os.W_OK | os.X_OK):
            return []
        return [f"directory remote {shown} is not writable by you: push will fail (pull may work)"]
    if os.path.lexists(path):
        raise UsageError(f"directory remote {shown} exists and is not a directory",
                         "name a directory, or a path where one can be created")
    missing = []
    parent = os.path.dirname(path)
    while not os.path.isdir(parent) and os.path.dirname(parent) != parent:
        if os.path.lexists(parent):
            raise UsageError(f"directory remote {shown} cannot be created: {parent} is not a directory",
                             "check the path")
        missing.append(parent)
        parent = os.path.dirname(parent)
    try:
        os.makedirs(path)
    except OSError as exc:
        raise UsageError(f"directory remote {shown} cannot be created: {exc.strerror or exc}"
                         + (f" ({exc.filename})" if exc.filename and exc.filename != path else ""),
                         "check the path (is a share not mounted?), or create the folder first") from None
    if missing:
        return [f"created {len(missing)} missing parent folder(s) of directory remote {shown} "
                f"(from {missing[-1]}): if it belongs on a mounted share, mount it and add the remote again"]
    return []


class LocalBackend(Backend):
    scheme = "file"

    def __init__(self, url: str, settings=None):
        super().__init__(url, settings)
        self.root = os.path.abspath(path_from_url(url))
        self.fsync = bool(self.settings.get("fsync", True))

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise RemoteError(f"refusing unsafe remote key {key!r}")
        return os.path.join(self.root, *parts)

    def _error(self, exc: OSError, what: str) -> RemoteError:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return AccessDenied(f"remote {self.url}: permission denied while {what}",
                                f"check that you can write to {self.root}")
        if exc.errno == errno.ENOSPC:
            return RemoteError(f"remote {self.url}: no space left while {what}", "free space on the remote disk")
        return RemoteUnreachable(f"remote {self.url}: {exc.strerror or exc} while {what}",
                                 f"check that {self.root} exists and is mounted")

    def stat(self, key: str) -> int | None:
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            raise self._error(exc, f"checking {key}") from None

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        final = self._path(key)
        if not os.path.isdir(self.root):
            raise RemoteUnreachable(f"remote directory {self.root} does not exist",
                                    f"create it (mkdir -p {self.root}) or fix the remote URL")
        try:
            with fileio.atomic_path(final, fsync=self.fsync) as tmp:
                if not (movable and _linked(src, tmp)):
                    fileio.kernel_copy(src, tmp, progress)
                elif progress:
                    progress(size)
                fileio.make_readonly(tmp)
        except OSError as exc:
            raise self._error(exc, f"writing {key}") from None

    can_copy_to = True

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        try:
            with contextlib.ExitStack() as files:
                fin = files.enter_context(open(self._path(key), "rb", buffering=0))
                large = os.fstat(fin.fileno()).st_size >= fileio.DIRECT_MIN  # small ones: the page cache is faster
                outs = [files.enter_context(fileio.DirectFile(dst) if large else open(dst, "wb"))]
                if copy_to:
                    outs.append(files.enter_context(open(copy_to, "wb")))
                hexdigest, _ = fileio.copy_and_hash(fin, outs, progress)
                return hexdigest
        except FileNotFoundError:
            if not os.path.isdir(self.root):
                raise RemoteUnreachable(f"remote directory {self.root} does not exist",
                                        "check that it is mounted, or fix the remote URL") from None
            raise KeyNotFound(f"{key} is not on remote {self.url}") from None
        except OSError as exc:
            raise self._error(exc, f"reading {key}") from None

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise KeyNotFound(f"{key} is not on remote {self.url}") from None
        except OSError as exc:
            raise self._error(exc, f"reading {key}") from None

    def read_range_into(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        try:
            with fileio.DirectReader(self._path(key)) as f:
                return f.read_into(offset, length, buf)
        except FileNotFoundError:
            raise KeyNotFound(f"{key} is not on remote {self.url}") from None
        except OSError as exc:
            raise self._error(exc, f"reading {key}") from None

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        if not os.path.isdir(self.root):
            raise RemoteUnreachable(f"remote directory {self.root} does not exist",
                                    "check that it is mounted, or fix the remote URL")
        start = self.root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not (rel.startswith(prefix) or prefix.startswith(rel)):
                dirnames[:] = []
                continue
            for name in sorted(filenames):
                if name.startswith(fileio.TMP_MARK):
                    continue
                key = rel + name
                if key.startswith(prefix):
                    try:
                        yield key, os.stat(os.path.join(dirpath, name)).st_size
                    except FileNotFoundError:
                        continue

    def delete(self, key: str) -> None:
        try:
            fileio.remove(self._path(key))  # objects are read-only: Windows refuses a plain unlink
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(exc, f"deleting {key}") from None
