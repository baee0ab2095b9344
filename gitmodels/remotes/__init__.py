"""Remotes by URL scheme. Backends are imported only when a URL needs them."""

from __future__ import annotations

import importlib
from typing import Mapping

from ..errors import UsageError
from .base import Backend, KeyNotFound, TransientError, object_key

# scheme -> "module:Class"; a third backend joins with one line here.
BACKENDS = {
    "file": "gitmodels.remotes.local:LocalBackend",
    "s3": "gitmodels.remotes.s3:S3Backend",
    "gs": "gitmodels.remotes.gcs:GCSBackend",
}


def scheme_of(url: str) -> str:
    if "://" in url:
        return url.split("://", 1)[0].lower()
    return "file"


def validate_url(url: str) -> None:
    scheme = scheme_of(url)
    if scheme not in BACKENDS:
        raise UsageError(f"unsupported remote URL {url!r}",
                         "use a directory path, file:///path, s3://bucket/prefix or gs://bucket/prefix")
    if scheme in ("s3", "gs") and not url.split("://", 1)[1].split("/", 1)[0]:
        raise UsageError(f"remote URL {url!r} names no bucket", f"write it as {scheme}://BUCKET/PREFIX")


def open_backend(url: str, settings: Mapping[str, object] | None = None, *, retry: bool = True) -> Backend:
    """The backend for `url`, wrapped with retries."""
    validate_url(url)
    module_name, cls_name = BACKENDS[scheme_of(url)].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    backend = cls(url, settings or {})
    if retry:
        from .wrappers import Retrying

        backend = Retrying(backend)
    return backend


__all__ = ["Backend", "KeyNotFound", "TransientError", "object_key", "open_backend", "scheme_of", "validate_url"]
