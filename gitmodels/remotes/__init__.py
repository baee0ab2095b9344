"""Remotes by URL scheme. Backends are imported only when a URL needs them."""

from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Mapping

from gitmodels.credentials import mask_url, split_userinfo, userinfo_parts
from gitmodels.errors import BadConfig, SdkMissing, UsageError
from gitmodels.remotes.base import Backend, KeyNotFound, TransientError, object_key

# backend name -> "module:Class"; a new backend joins with one line here (and its URL forms in scheme_of).
BACKENDS = {
    "file": "gitmodels.remotes.local:LocalBackend",
    "s3": "gitmodels.remotes.s3:S3Backend",
    "gs": "gitmodels.remotes.gcs:GCSBackend",
    "az": "gitmodels.remotes.azure:AzureBackend",
    "ssh": "gitmodels.remotes.ssh:SSHBackend",
    "http": "gitmodels.remotes.http:HTTPBackend",
}
# scheme -> (module the backend needs, the extra that installs it)
SDKS = {"s3": ("boto3", "s3"), "gs": ("google.cloud.storage", "gcs"),
        "az": ("azure.storage.blob", "azure"), "ssh": ("paramiko", "ssh")}
# What a bucket name may hold (S3 and GCS rules, loosely: S3-compatible stores differ in case and `_`).
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,220}[A-Za-z0-9]")
_STRAY = re.compile(r"[\s?#\\\x00-\x1f\x7f]")
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
        raise UsageError(f"unsupported remote URL {mask_url(url)!r}",
                         "use a directory path, file:///path, s3://bucket/prefix, gs://bucket/prefix, "
                         "az://container/prefix, ssh://user@host/path or https://host/prefix")
    if scheme == "http":
        from gitmodels.remotes.http import check_http_url

        try:
            check_http_url(url)
        except BadConfig as exc:
            raise UsageError(str(exc), exc.hint) from None
    if scheme in ("s3", "gs") and not split_userinfo(url)[0].split("://", 1)[1].split("/", 1)[0]:
        raise UsageError(f"remote URL {mask_url(url)!r} names no bucket", f"write it as {scheme}://BUCKET/PREFIX")
    if scheme in BUCKET_SCHEMES:
        from gitmodels.remotes._cloud import split_bucket_url
        from gitmodels.remotes.azure import parse_azure_url

        try:
            parse_azure_url(url) if scheme == "az" else split_bucket_url(url, scheme)
        except BadConfig as exc:
            raise UsageError(str(exc), exc.hint) from None


def check_new_remote(url: str) -> list[str]:
    """The checks `remote add` and `init --remote` can make without the network.

    Raises UsageError for a URL that cannot work (stray characters, a bad
    bucket name); returns warnings for what cannot be checked here (a missing
    SDK). A directory remote's folder is checked by `local.create_root`.
    """
    validate_url(url)
    scheme = scheme_of(url)
    shown = mask_url(url)
    if scheme in ("s3", "gs"):
        clean, userinfo = split_userinfo(url)
        if userinfo is not None and scheme == "gs":
            raise UsageError(f"remote URL {shown!r} has a user name: gs:// URLs carry no credentials",
                             "drop the `...@`; use Application Default Credentials or the credentials_file setting")
        if userinfo is not None and userinfo_parts(userinfo)[1] is None:
            raise UsageError(f"remote URL {shown!r} has an access key id but no secret",
                             "write it as s3://KEY_ID:SECRET@BUCKET/PREFIX with --local, or use the "
                             "access_key_id and secret_access_key settings")
        rest = clean.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if _STRAY.search(rest):
            raise UsageError(f"remote URL {shown!r} has a space, control character, `?`, `#` or `\\` in it",
                             f"write it as {scheme}://BUCKET/PREFIX with plain characters")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise UsageError(f"remote URL {shown!r}: {bucket!r} is not a valid bucket name",
                             "bucket names are 3-63 letters, digits, dots and hyphens (GCS also allows `_`)")
        if any(p in (".", "..") for p in prefix.split("/")):
            raise UsageError(f"remote URL {shown!r} has '.' or '..' in its prefix",
                             f"write it as {scheme}://BUCKET/PREFIX")
    if url.startswith("file://"):
        from gitmodels.remotes.local import path_from_url

        path_from_url(url)  # refuses a host
    if "\x00" in url or "\n" in url:
        raise UsageError("a directory remote's path cannot hold a NUL or newline character", "check the path")
    return _missing_sdk(scheme)


def _missing_sdk(scheme: str) -> list[str]:
    """A warning when the SDK a cloud remote needs is not installed (checked without importing it)."""
    if scheme not in SDKS:
        return []
    module, extra = SDKS[scheme]
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        found = False
    return [] if found else [f"{module} is not installed: this remote needs it for push and pull "
                             f"(pip install 'gitmodels[{extra}]')"]


def open_backend(url: str, settings: Mapping[str, object] | None = None, *, retry: bool = True) -> Backend:
    """The backend for `url`, wrapped with retries.

    User info in the URL (`s3://KEY:SECRET@bucket/p`, local config only) becomes
    the backend's credentials, and the backend sees the URL without it, so no
    message, state record or progress line can show it.
    """
    validate_url(url)
    settings = dict(settings or {})
    clean, userinfo = split_userinfo(url)
    if userinfo is not None and scheme_of(url) in ("s3", "gs"):
        if scheme_of(url) != "s3":
            raise BadConfig(f"remote URL {mask_url(url)!r} has a user name: gs:// URLs carry no credentials",
                            "use Application Default Credentials or the credentials_file setting")
        key_id, secret = userinfo_parts(userinfo)
        if secret is None:
            raise BadConfig(f"remote URL {mask_url(url)!r} has an access key id but no secret",
                            "write it as s3://KEY_ID:SECRET@bucket/prefix (local config), or use access_key_id "
                            "and secret_access_key settings")
        settings.setdefault("access_key_id", key_id)
        settings.setdefault("secret_access_key", secret)
        url = clean
    missing = _missing_sdk(scheme_of(url))
    if missing:
        module, extra = SDKS[scheme_of(url)]
        raise SdkMissing(f"remote {mask_url(url)!r} needs {module}, which is not installed",
                         f"pip install 'gitmodels[{extra}]'")
    module_name, cls_name = BACKENDS[scheme_of(url)].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    backend = cls(url, settings)
    if retry:
        from gitmodels.remotes.wrappers import Retrying

        backend = Retrying(backend)
    return backend


__all__ = ["Backend", "KeyNotFound", "TransientError", "check_new_remote", "object_key", "open_backend", "scheme_of",
           "validate_url"]
