"""A read-only HTTP(S) remote (`https://host/prefix`): models published by any static web server or CDN.

The server holds a copy of a remote's layout (objects/, packs/, recipes/),
e.g. a directory remote served as static files or a public bucket. HEAD
tells whether a key exists, GET fetches it, and a Range GET reads part of a
pack; nothing is ever listed or written. So pull, fetch, get, checkout and
fsck --remote (of the objects this repository's history refers to) work;
push, gc --remote and fsck --repair refuse with ReadOnlyRemote.

Setting: token_env, the name of an environment variable holding a bearer
token sent as `Authorization: Bearer ...` (the token itself is never in a
config file); HTTPS_PROXY / NO_PROXY apply as for any urllib client.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from typing import Iterator

from gitmodels.errors import AccessDenied, BadConfig, CredentialsError, GitModelsError, ReadOnlyRemote, RemoteError
from gitmodels.remotes import _cloud
from gitmodels.remotes._cloud import MiB, EndpointUnreachable
from gitmodels.remotes.base import Backend, KeyNotFound, Progress, TransientError

TIMEOUT = 30
BLOCK = 1 * MiB


def check_http_url(url: str) -> None:
    """Refuse credentials in the URL: remote URLs are committed to gitmodels.toml."""
    if "@" in url.split("://", 1)[1].split("/", 1)[0] or "?" in url:
        raise BadConfig(f"remote URL {url.split('://', 1)[0]}://… carries credentials or a query",
                        "drop them from the URL (the config is committed); use the token_env setting")


class HTTPBackend(Backend):
    scheme = "http"
    read_only = True
    can_list = False

    def __init__(self, url: str, settings=None):
        super().__init__(url, settings)
        check_http_url(url)
        self.base = url.rstrip("/") + "/"
        self.token_env = _cloud.str_setting(self.settings, "token_env")

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "gitmodels", "Accept-Encoding": "identity"}
        if self.token_env:
            token = os.environ.get(self.token_env)
            if not token:
                raise CredentialsError(f"remote {self.url} wants a token in ${self.token_env}, which is not set",
                                       f"export {self.token_env}=... (or remove the remote's token_env setting)")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _open(self, method: str, key: str, action: str, headers: dict[str, str] | None = None):
        """The response to `method` on `key`; a 404 raises KeyNotFound, a 416 returns None."""
        url = self.base + _cloud.check_key(key)
        request = urllib.request.Request(url, method=method, headers={**self._headers(), **(headers or {})})
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416:
                return None
            raise self._status_error(exc.code, action, key) from None
        except Exception as exc:
            raise self._error(exc, action, key) from exc

    def _status_error(self, status: int, action: str, key: str) -> RemoteError:
        where = self.base + key
        if status in (404, 410):
            return KeyNotFound(f"{key} is not on remote {self.url}")
        if status == 401:
            return CredentialsError(f"{self.url} asks for credentials (HTTP 401) while {action}",
                                    "set the remote's token_env setting to the name of a variable holding a "
                                    "bearer token, and export it")
        if status == 403:
            return AccessDenied(f"access denied to {where} (HTTP 403) while {action}",
                                "check the token (token_env) or the server's access rules")
        if status in (408, 429) or status >= 500:
            return TransientError(f"{where}: the server answered HTTP {status} while {action}",
                                  "run the command again; it resumes where it stopped")
        return RemoteError(f"{where}: HTTP {status} while {action}")

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> BaseException:
        if isinstance(exc, GitModelsError):
            return exc
        reason = _cloud.network_reason(exc)
        if isinstance(exc, (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)) \
                or reason:
            if isinstance(exc, http.client.IncompleteRead):
                reason = "connection closed"
            return EndpointUnreachable(f"cannot reach {self.url}: {reason or _cloud.short(exc)}")
        if isinstance(exc, OSError):
            return EndpointUnreachable(f"cannot reach {self.url}: {_cloud.short(exc)}")
        return exc

    def _read_errors(self, response, action: str, key: str):
        """Reading a body: a dropped connection is a TransientError like any other."""
        class Guard:
            def __enter__(self_):
                return response

            def __exit__(self_, kind, exc, tb):
                response.close()
                if exc is not None and not isinstance(exc, GitModelsError):
                    mapped = self._error(exc, action, key)
                    if mapped is not exc:
                        raise mapped from exc
                return False

        return Guard()

    # -- the Backend primitives -------------------------------------------------

    def stat(self, key: str) -> int | None:
        try:
            response = self._open("HEAD", key, "looking it up")
        except KeyNotFound:
            return None
        with response:
            length = response.headers.get("Content-Length")
        if length is None:
            raise RemoteError(f"{self.base}{key}: the server answered HEAD without a Content-Length",
                              "serve the remote from a static file server (nginx, a CDN, a bucket)")
        return int(length)

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        raise self.refuse("upload to")

    def delete(self, key: str) -> None:
        raise self.refuse("delete from")

    def refuse(self, what: str) -> ReadOnlyRemote:
        return ReadOnlyRemote(f"cannot {what} remote {self.url}: an HTTP(S) remote is read-only")

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        raise RemoteError(f"remote {self.url} cannot be listed: an HTTP(S) remote only answers for keys it is asked",
                          "run this against the writable remote the HTTP server publishes")

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        response = self._open("GET", key, "downloading")
        if response is None:
            raise RemoteError(f"{self.base}{key}: HTTP 416 to a plain GET")
        with self._read_errors(response, "downloading", key), open(dst, "wb") as f:
            writer = _cloud.HashingWriter(f, progress)
            for block in iter(lambda: response.read(BLOCK), b""):
                writer.write(block)
            return writer.hexdigest()

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            if self.stat(key) is None:
                raise KeyNotFound(f"{key} is not on remote {self.url}")
            return b""
        response = self._open("GET", key, "reading", {"Range": f"bytes={offset}-{offset + length - 1}"})
        if response is None:  # 416: the range starts at or past the end
            return b""
        with self._read_errors(response, "reading", key):
            if response.status == 206:
                return response.read(length)
            return response.read(offset + length)[offset:]  # the server ignored Range and sent everything
