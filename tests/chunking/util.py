"""Helpers for the dedup engine tests: deterministic data, a counting remote, a clone's cache."""

from __future__ import annotations

import hashlib
import os
import threading

from gitmodels.storage.objects import cache_path as cache_object_path
from gitmodels.errors import RemoteError
from gitmodels.remotes.base import Backend
from tests.seeded import seeded_bytes

MiB = 1024 * 1024


data = seeded_bytes  # data(seed, size): the dedup tests' name for the shared deterministic bytes


class Counting(Backend):
    """Wraps a backend; counts bytes and requests each way, and can fail on cue."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.url = inner.url
        self.settings = inner.settings
        self.scheme = inner.scheme
        self.lock = threading.Lock()
        self.reset()
        self.fail_upload = None  # callable(key) -> bool: raise instead of uploading this key

    def reset(self) -> None:
        self.uploaded = self.downloaded = self.ranged = 0
        self.uploads: list[str] = []
        self.range_requests = 0

    @property
    def bytes_down(self) -> int:
        return self.downloaded + self.ranged

    def stat(self, key):
        return self.inner.stat(key)

    def exists_many(self, keys, jobs=16):
        return self.inner.exists_many(keys, jobs)

    def upload(self, key, src, size, progress=None, movable=False):
        if self.fail_upload is not None and self.fail_upload(key):
            raise RemoteError(f"injected failure uploading {key}")
        self.inner.upload(key, src, size, progress)
        with self.lock:
            self.uploaded += size
            self.uploads.append(key)

    def download(self, key, dst, progress=None, copy_to=None):
        digest = self.inner.download(key, dst, progress)
        with self.lock:
            self.downloaded += os.path.getsize(dst)
        return digest

    def read_range(self, key, offset, length):
        out = self.inner.read_range(key, offset, length)
        with self.lock:
            self.ranged += len(out)
            self.range_requests += 1
        return out

    def list(self, prefix=""):
        return self.inner.list(prefix)

    def delete(self, key):
        self.inner.delete(key)

    def describe(self):
        return self.inner.describe()

    def close(self):
        self.inner.close()


def remote_bytes(backend: Backend) -> int:
    return sum(size for _, size in backend.list(""))


class Clone:
    """One machine's side: a cache directory (whole-file objects) and its chunk state."""

    def __init__(self, root: str):
        self.cache = os.path.join(root, "cache")
        self.state = os.path.join(self.cache, "chunks")
        os.makedirs(self.cache, exist_ok=True)

    def add(self, blob: bytes) -> tuple[str, str]:
        oid = hashlib.sha256(blob).hexdigest()
        path = cache_object_path(self.cache, oid)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(blob)
            os.chmod(path, 0o444)
        return oid, path

    def path(self, oid: str) -> str:
        return cache_object_path(self.cache, oid)

    def push(self, backend, blob: bytes):
        """Put `blob` in this clone's cache and push it as chunks: (oid, the upload's stats)."""
        from gitmodels import chunking

        oid, path = self.add(blob)
        return oid, chunking.upload_object(backend, self.state, oid, path, len(blob))

    def rebuild(self, backend, oid: str) -> bytes:
        """Rebuild `oid` from its recipe on `backend` (using this clone's cache) and return its bytes."""
        from gitmodels import chunking

        out = os.path.join(self.cache, f"rebuilt-{oid}")
        chunking.download_object(backend, self.state, oid, out, self.cache)
        with open(out, "rb") as f:
            return f.read()


