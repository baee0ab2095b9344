"""What the S3 and GCS backends share: URL and settings parsing, the
"cannot reach" error, network-cause naming, batched existence checks by
listing, and small stream helpers.

Imports only the standard library: the SDKs are imported by s3.py / gcs.py.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Mapping

from gitmodels.storage import fileio
from gitmodels.credentials import mask_url
from gitmodels.errors import BadConfig, GitModelsError, RemoteError, RemoteUnreachable
from gitmodels.remotes.base import KeyNotFound, Progress, TransientError

MiB = 1024 * 1024
SETTINGS_HINT = "fix the remote's settings in the gitmodels config (see docs/remotes.md)"


class CloudBackend:
    """What the bucket backends share: `with self._errors(action, key):` turns SDK exceptions into
    gitmodels errors, and existence checks go by listing.

    The backend supplies `_error(exc, action, key)` (the mapping), `_bucket_missing()`,
    `_ensure_bucket()`, `stat(key)` and `_list_keys(prefix, start_at, recursive)`.
    """

    def exists_many(self, keys, jobs: int = 16) -> set[str]:
        keys = [check_key(k) for k in keys]
        found = exists_by_listing(keys, self.stat, self._list_keys, jobs)
        if len(found) < len(keys):
            self._ensure_bucket()
        return found

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None, *, bucket_op: bool = False):
        """Map SDK exceptions to gitmodels errors; for `bucket_op`s (list, upload) a 404 means no bucket."""
        try:
            yield
        except GitModelsError:
            raise
        except Exception as exc:
            mapped = self._error(exc, action, key)
            if mapped is exc:
                raise
            if bucket_op and isinstance(mapped, KeyNotFound):
                mapped = self._bucket_missing()
            raise mapped from exc


class EndpointUnreachable(TransientError, RemoteUnreachable):
    """The endpoint could not be reached or dropped the connection.

    A TransientError, so the Retrying wrapper tries again; what finally
    reaches the user is a RemoteUnreachable naming the endpoint.
    """

    default_hint = ("check that the endpoint is up and reachable from here (and the URL and "
                    "endpoint settings), then run the command again; it resumes where it stopped")


def split_bucket_url(url: str, scheme: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` -> ("bucket", "a/b/"); the root prefix is "" or ends with "/"."""
    rest = url.split("://", 1)[1] if "://" in url else url
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BadConfig(f"remote URL {mask_url(url)!r} names no bucket", f"write it as {scheme}://BUCKET/PREFIX")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise BadConfig(f"remote URL {mask_url(url)!r} has '.' or '..' in its prefix",
                        f"write it as {scheme}://BUCKET/PREFIX")
    return bucket, "".join(p + "/" for p in parts)


def check_key(key: str) -> str:
    """Refuse keys the directory backend would refuse too, so every backend agrees."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise RemoteError(f"refusing unsafe remote key {key!r}")
    return key


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(value: object, name: str) -> int:
    """An int, or a string like "8MiB", "64MB", "1G", "1048576"; units are powers of 1024 (as in the AWS CLI)."""
    if isinstance(value, bool):
        raise BadConfig(f"remote setting {name} = {value!r} is not a size", "write it like 8388608 or \"8MiB\"")
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    if not match:
        raise BadConfig(f"remote setting {name} = {value!r} is not a size", "write it like 8388608 or \"8MiB\"")
    number, unit, _ = match.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit.lower() or " "))


def size_setting(settings: Mapping[str, object], name: str, default: int, minimum: int = 1) -> int:
    if settings.get(name) in (None, ""):
        return default
    size = parse_size(settings[name], name)
    if size < minimum:
        raise BadConfig(f"remote setting {name} = {settings[name]!r} is below the minimum of {minimum} bytes",
                        f"set {name} to at least {minimum // MiB} MiB" if minimum >= MiB else SETTINGS_HINT)
    return size


def int_setting(settings: Mapping[str, object], name: str, default: int, minimum: int = 1) -> int:
    value = settings.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadConfig(f"remote setting {name} = {value!r} is not a whole number", SETTINGS_HINT) from None
    if number < minimum:
        raise BadConfig(f"remote setting {name} = {number} is below the minimum of {minimum}", SETTINGS_HINT)
    return number


def str_setting(settings: Mapping[str, object], name: str) -> str | None:
    value = settings.get(name)
    if value in (None, ""):
        return None
    return str(value)


def network_reason(exc: BaseException) -> str | None:
    """Name the network failure underneath an SDK exception, or None if it is not one."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        err = todo.pop(0)
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, socket.gaierror):
            return "host name not found"
        if isinstance(err, ConnectionResetError):
            return "connection reset"
        if isinstance(err, (BrokenPipeError, ConnectionAbortedError)):
            return "connection closed"
        if isinstance(err, (TimeoutError, socket.timeout)):
            return "timed out"
        if isinstance(err, OSError) and err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        name = type(err).__name__
        if "Timeout" in name:
            return "timed out"
        text = str(err)
        if "Connection refused" in text or "ConnectionRefused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "host name not found"
        if "Connection was closed" in text or "RemoteDisconnected" in text:
            return "connection closed"
        kwargs = getattr(err, "kwargs", None)
        if isinstance(kwargs, dict):
            todo.extend(kwargs.values())
        todo.extend([err.__cause__, err.__context__, getattr(err, "last_exception", None),
                     getattr(err, "reason", None), getattr(err, "original_error", None)])
        todo.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))
    return None


def short(text: object, limit: int = 200) -> str:
    """One line, at most `limit` characters: SDK messages can be long and multi-line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def locked_progress(progress: Progress | None) -> Progress | None:
    """SDK worker threads call progress concurrently; hand it on one call at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(n: int) -> None:
        if n:
            with lock:
                progress(n)

    return report


class HashingWriter:
    """A write-only stream that hashes what it writes, in order.

    `seek(0)` (an SDK restarting a download from the start) truncates the
    file and restarts the hash; any other seek makes the hash unusable.
    """

    def __init__(self, f, progress: Progress | None = None):
        self.f = f
        self.progress = progress
        self.digest = hashlib.sha256()
        self.size = 0
        self.valid = True

    def write(self, data) -> int:
        fileio.write_sliced(self.f, data)
        self.digest.update(data)
        n = len(data)
        self.size += n
        if self.progress:
            self.progress(n)
        return n

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            self.valid = False
            return self.f.seek(offset, whence)
        self.f.seek(0)
        self.f.truncate()
        if self.progress and self.size:
            self.progress(-self.size)
        self.digest = hashlib.sha256()
        self.size = 0
        return 0

    def flush(self) -> None:
        self.f.flush()

    def hexdigest(self) -> str | None:
        return self.digest.hexdigest() if self.valid else None


class OffsetWriter:
    """A stream that writes sequentially into a file descriptor from `offset` (one range of a parallel download)."""

    def __init__(self, fd: int, offset: int, cancelled: threading.Event, progress: Progress | None = None):
        self.fd = fd
        self.start = offset
        self.pos = offset
        self.cancelled = cancelled
        self.progress = progress

    def write(self, data) -> int:
        if self.cancelled.is_set():
            raise InterruptedError("download cancelled")
        view = memoryview(data)
        while view:
            n = fileio.pwrite(self.fd, view, self.pos)
            self.pos += n
            view = view[n:]
        if self.progress:
            self.progress(len(data))
        return len(data)

    def tell(self) -> int:
        return self.pos - self.start

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError(errno.ESPIPE, "only absolute seeks are supported")
        if self.progress:
            self.progress(self.start + offset - self.pos)
        self.pos = self.start + offset
        return offset

    def flush(self) -> None:
        pass


class ProgressReader:
    """A read-only file wrapper that reports bytes read for the first time (rewinds are not counted twice)."""

    def __init__(self, f, progress: Progress | None):
        self.f = f
        self.progress = progress
        self.high = f.tell()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        pos = self.f.tell()
        if self.progress and pos > self.high:
            self.progress(pos - self.high)
        self.high = max(self.high, pos)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


# Listing is cheaper than one HEAD per key once several keys share a prefix.
LIST_MIN_KEYS = 3      # keys in one folder worth a listing of that folder
BULK_MIN_KEYS = 64     # keys in one batch worth first trying one listing of everything under them
BULK_KEYS_PER_PAGE = 50  # that listing may take one page per this many keys asked
PAGE = 1000

ListKeys = Callable[[str, str, bool], Iterator[list[str]]]
"""list_keys(prefix, start_at, recursive) -> pages of keys under `prefix` (relative to
the remote root; only those directly in it unless `recursive`), in lexicographic
order, beginning at or after `start_at`."""


def _scan(list_keys: ListKeys, prefix: str, keys: list[str], recursive: bool, budget: int,
          found: set[str], lock: threading.Lock) -> list[str]:
    """List from the first of `keys` for at most `budget` pages; return the keys the listing did not reach."""
    asked = set(keys)
    last = ""
    pages = list_keys(prefix, keys[0], recursive)
    try:
        for n, page in enumerate(pages, 1):
            hits = asked.intersection(page)
            if hits:
                with lock:
                    found.update(hits)
            if page:
                last = max(last, page[-1])
            if last >= keys[-1] or n >= budget:
                break
        else:
            return []  # listed to the end: every key is answered
    finally:
        close = getattr(pages, "close", None)
        if close:
            close()
    return [k for k in keys if k > last]


def exists_by_listing(keys: Iterable[str], stat: Callable[[str], int | None], list_keys: ListKeys,
                      jobs: int) -> set[str]:
    """Which of `keys` exist, answered by listings where they are cheaper than a stat per key.

    A large batch first tries one listing of everything under the keys'
    common prefix (a remote of a few thousand objects answers 500 keys in a
    page or two). What that does not reach is grouped by folder (keys fan out
    as objects/<2hex>/<oid>): a folder holding several of the keys is
    listed, the rest are stat'ed in parallel. Every listing stops once past
    the last key asked, or after a page budget proportional to the stats it
    replaces, so the cost stays bounded however big the remote is.
    """
    wanted = sorted(set(keys))
    found: set[str] = set()
    lock = threading.Lock()
    if not wanted:
        return found
    if len(wanted) >= BULK_MIN_KEYS:
        common = os.path.commonprefix(wanted)
        prefix = common[: common.rfind("/") + 1]
        wanted = _scan(list_keys, prefix, wanted, True, max(1, len(wanted) // BULK_KEYS_PER_PAGE), found, lock)
        if not wanted:
            return found
    folders: dict[str, list[str]] = {}
    for key in wanted:
        folders.setdefault(key.rpartition("/")[0] + "/", []).append(key)
    singles = [k for group in folders.values() if len(group) < LIST_MIN_KEYS for k in group]
    groups = [(folder, group) for folder, group in folders.items() if len(group) >= LIST_MIN_KEYS]

    def by_stat(key: str) -> None:
        if stat(key) is not None:
            with lock:
                found.add(key)

    def by_folder(folder: str, group: list[str]) -> list[str]:
        return _scan(list_keys, folder, group, False, max(1, len(group) // 4), found, lock)

    workers = max(1, min(jobs, len(singles) + len(groups)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            stats = [pool.submit(by_stat, k) for k in singles]
            listings = [pool.submit(by_folder, folder, group) for folder, group in groups]
            stats += [pool.submit(by_stat, k) for f in listings for k in f.result()]
            for f in stats:
                f.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # one failure answers for the batch
            raise
    return found
