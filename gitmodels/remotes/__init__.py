"""Remotes by URL scheme. Backends are imported only when a URL needs them."""

from __future__ import annotations

import importlib
import re
from typing import Mapping

from ..errors import UsageError
from .base import Backend, KeyNotFound, TransientError, object_key

# backend name -> "module:Class"; a new backend joins with one line here (and its URL forms in scheme_of).
BACKENDS = {
    "file": "gitmodels.remotes.local:LocalBackend",
    "s3": "gitmodels.remotes.s3:S3Backend",
    "gs": "gitmodels.remotes.gcs:GCSBackend",
    "az": "gitmodels.remotes.azure:AzureBackend",
    "ssh": "gitmodels.remotes.ssh:SSHBackend",
    "http": "gitmodels.remotes.http:HTTPBackend",
}
ALIASES = {"azure": "az", "sftp": "ssh", "https": "http"}
BUCKET_SCHEMES = ("s3", "gs", "az")
AZURE_HOST = ".blob.core.windows.net"
# git's scp-like form: [user@]host:path, with no slash before the colon (and not a Windows drive letter)
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?:[^@/:]{2,}|\[[^\]/]+\]):")


def scheme_of(url: str) -> str:
    """The backend that serves `url`: "file", "s3", "gs", "az", "ssh" or "http" (or the unknown scheme)."""
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("http", "https"):
            host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
            if host.endswith(AZURE_HOST):
                return "az"
        return ALIASES.get(scheme, scheme)
    if _SCP_LIKE.match(url):
        return "ssh"
    return "file"


def validate_url(url: str) -> None:
    scheme = scheme_of(url)
    if scheme not in BACKENDS:
        raise UsageError(f"unsupported remote URL {url!r}",
                         "use a directory path, file:///path, s3://bucket/prefix, gs://bucket/prefix, "
                         "az://container/prefix, ssh://user@host/path or https://host/prefix")
    if scheme == "http":
        from ..errors import BadConfig
        from .http import check_http_url

        try:
            check_http_url(url)
        except BadConfig as exc:
            raise UsageError(str(exc), exc.hint) from None
    if scheme in BUCKET_SCHEMES:
        from ..errors import BadConfig
        from ._cloud import split_bucket_url
        from .azure import parse_azure_url

        try:
            parse_azure_url(url) if scheme == "az" else split_bucket_url(url, scheme)
        except BadConfig as exc:
            raise UsageError(str(exc), exc.hint) from None


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
