"""A Google Cloud Storage remote (`gs://bucket/prefix`) over google-cloud-storage.

Uploads above 8 MiB are resumable, sent `chunk_size` bytes at a time (a
dropped chunk is resent, not the whole object). Downloads of objects larger
than `chunk_size` are split into ranged reads of that size, `jobs` at a time,
pinned to the object's generation; smaller ones stream in one request and are
hashed on the way. google clients are not shared between threads: each
thread gets its own, built on credentials loaded once.

Settings (all optional; with none, Application Default Credentials apply:
GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`,
the metadata server; STORAGE_EMULATOR_HOST selects an emulator):
project, credentials_file, chunk_size, jobs, endpoint_url, retry_timeout.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from gitmodels.credentials import mask_url
from gitmodels.errors import AccessDenied, BadConfig, BucketMissing, CredentialsError, GitModelsError, RemoteError
from gitmodels.remotes import _cloud
from gitmodels.remotes._cloud import MiB, EndpointUnreachable
from gitmodels.remotes.base import Backend, KeyNotFound, Progress, TransientError

DEFAULT_CHUNK_SIZE = 16 * MiB
CHUNK_QUANTUM = 256 * 1024  # GCS wants resumable chunks in multiples of 256 KiB
DEFAULT_JOBS = 8
DEFAULT_RETRY_TIMEOUT = 30.0  # seconds the SDK may spend retrying one request
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
DEFAULT_ENDPOINT = "https://storage.googleapis.com"


class GCSBackend(_cloud.CloudBackend, Backend):
    scheme = "gs"

    def __init__(self, url: str, settings=None):
        super().__init__(url, settings)
        self.bucket, self.root = _cloud.split_bucket_url(url, "gs")
        s = self.settings
        chunk = _cloud.size_setting(s, "chunk_size", DEFAULT_CHUNK_SIZE, minimum=CHUNK_QUANTUM)
        self.chunk_size = -(-chunk // CHUNK_QUANTUM) * CHUNK_QUANTUM
        self.jobs = _cloud.int_setting(s, "jobs", DEFAULT_JOBS)
        self.project = _cloud.str_setting(s, "project")
        self.credentials_file = _cloud.str_setting(s, "credentials_file")
        self.endpoint_url = _cloud.str_setting(s, "endpoint_url")
        try:
            self.retry_timeout = float(s.get("retry_timeout", DEFAULT_RETRY_TIMEOUT))
        except (TypeError, ValueError):
            raise BadConfig(f"remote setting retry_timeout = {s.get('retry_timeout')!r} is not a number of seconds") from None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clients: list = []
        self._credentials = None
        self._retry = None
        self._pool: ThreadPoolExecutor | None = None
        self._bucket_seen = False

    # -- clients, one per thread ---------------------------------------------------

    def _setup(self):
        """Credentials, project and retry policy, loaded once and shared by every thread's client."""
        with self._lock:
            if self._credentials is not None:
                return
            import google.auth
            from google.auth.credentials import AnonymousCredentials

            project = self.project
            if os.environ.get("STORAGE_EMULATOR_HOST") and not self.credentials_file:
                credentials = AnonymousCredentials()
                project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or "gitmodels"
            else:
                with self._errors("loading credentials"):
                    if self.credentials_file:
                        credentials, found = self._load_credentials_file()
                    else:
                        credentials, found = google.auth.default(scopes=SCOPES)
                project = project or found
            self._project = project
            self._retry = self._retry_policy()
            self._credentials = credentials

    def _load_credentials_file(self):
        """The `credentials_file` setting: a service-account key, an authorized-user file or any ADC file."""
        import json
        import warnings

        import google.auth

        path = os.path.expanduser(self.credentials_file or "")
        try:
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
        except OSError as exc:
            raise CredentialsError(f"cannot read the credentials_file {path} of remote {self.url}: "
                                   f"{exc.strerror or exc}", "fix the remote's credentials_file setting") from None
        except ValueError:
            raise CredentialsError(f"the credentials_file {path} of remote {self.url} is not JSON",
                                   "point credentials_file at a service-account key file") from None
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            return credentials, info.get("project_id")
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials

            return Credentials.from_authorized_user_info(info, scopes=SCOPES), info.get("quota_project_id")
        with warnings.catch_warnings():  # other ADC kinds (external_account, impersonation): the generic loader
            warnings.simplefilter("ignore", DeprecationWarning)
            return google.auth.load_credentials_from_file(path, scopes=SCOPES)

    def _retry_policy(self):
        if self.retry_timeout <= 0:
            return None
        from google.api_core import retry as api_retry
        from google.cloud.storage import retry as storage_retry

        retryable = getattr(storage_retry, "_should_retry", api_retry.if_transient_error)

        def predicate(exc: Exception) -> bool:
            # A refused connection is not worth the SDK's long backoff: the
            # Retrying wrapper retries it a few times and then says so clearly.
            if _cloud.network_reason(exc) in ("connection refused", "host name not found"):
                return False
            return retryable(exc)

        policy = storage_retry.DEFAULT_RETRY.with_predicate(predicate)
        with_timeout = getattr(policy, "with_timeout", None) or policy.with_deadline
        return with_timeout(self.retry_timeout)

    def client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            from google.cloud import storage

            self._setup()
            options = {"api_endpoint": self.endpoint_url} if self.endpoint_url else None
            with self._errors("connecting"):
                client = storage.Client(project=self._project, credentials=self._credentials,
                                        client_options=options)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _blob(self, name: str, **kwargs):
        return self.client().bucket(self.bucket).blob(name, **kwargs)

    def endpoint(self) -> str:
        """For messages: credentials in the URL are masked."""
        return mask_url(self.endpoint_url or os.environ.get("STORAGE_EMULATOR_HOST") or DEFAULT_ENDPOINT)

    def describe(self) -> str:
        return self.url if self.endpoint() == DEFAULT_ENDPOINT else f"{self.url} ({self.endpoint()})"

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            clients, self._clients = self._clients, []
            self._local = threading.local()
        if pool is not None:
            pool.shutdown(wait=True)
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()

    def _parts_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="gitmodels-gcs")
            return self._pool

    def _key(self, key: str) -> str:
        return self.root + _cloud.check_key(key)

    # -- errors -----------------------------------------------------------------

    def _from_status(self, status: int, detail: str, action: str, key: str | None) -> GitModelsError:
        where = f"gs://{self.bucket}/{self.root}{key}" if key else self.url
        lowered = detail.lower()
        if status == 404:
            if "bucket does not exist" in lowered or "no such bucket" in lowered:
                return self._bucket_missing()
            return KeyNotFound(f"{key} is not on remote {self.url}")
        if status == 401:
            return CredentialsError(f"remote {self.url} refused the Google credentials while {action}",
                                    "run `gcloud auth application-default login`, or set "
                                    "GOOGLE_APPLICATION_CREDENTIALS or the remote's credentials_file")
        if status == 403:
            return AccessDenied(f"access denied to {where} while {action}" + (f" ({detail})" if detail else ""),
                                "the account in use needs roles/storage.objectAdmin on this bucket "
                                "(objectViewer to pull only); see docs/remotes.md")
        if status == 429:
            return TransientError(f"{where}: the store is throttling requests (HTTP 429) while {action}",
                                  "run the command again; lower the remote's jobs setting if it persists")
        if status == 408 or status >= 500:
            return TransientError(f"{where}: the server answered HTTP {status} while {action}",
                                  "the store had a server-side failure; run the command again, "
                                  "it resumes where it stopped")
        return RemoteError(f"{where}: HTTP {status} while {action}" + (f": {detail}" if detail else ""))

    def _bucket_missing(self) -> BucketMissing:
        return BucketMissing(f"bucket gs://{self.bucket} does not exist ({self.endpoint()})",
                             f"create it (gcloud storage buckets create gs://{self.bucket}) or fix the remote URL")

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> BaseException:
        """The gitmodels error for an SDK exception (the exception itself when it is not the SDK's)."""
        from google.api_core import exceptions as gx
        from google.auth import exceptions as ax
        from google.cloud.storage import exceptions as sx

        if isinstance(exc, GitModelsError):
            return exc
        if isinstance(exc, gx.RetryError) and isinstance(exc.cause, BaseException):
            return self._error(exc.cause, action, key)
        if isinstance(exc, ax.DefaultCredentialsError):
            return CredentialsError(f"no usable Google credentials for remote {self.url}: {_cloud.short(exc)}",
                                    "run `gcloud auth application-default login`, or set "
                                    "GOOGLE_APPLICATION_CREDENTIALS or the remote's credentials_file")
        if isinstance(exc, ax.RefreshError):
            reason = _cloud.network_reason(exc)
            if reason:
                return EndpointUnreachable(f"cannot reach the Google token service for {self.url}: {reason}")
            return CredentialsError(f"cannot refresh the Google credentials for remote {self.url}: {_cloud.short(exc)}",
                                    "run `gcloud auth application-default login` again, or check the "
                                    "service account key")
        if isinstance(exc, gx.GoogleAPICallError) and exc.code:
            return self._from_status(int(exc.code), _service_message(exc), action, key)
        if isinstance(exc, sx.InvalidResponse) and getattr(exc, "response", None) is not None:
            return self._from_status(int(exc.response.status_code), "", action, key)
        if isinstance(exc, sx.DataCorruption):
            return TransientError(f"{self.url}: checksum mismatch while {action} {key or ''}".rstrip())
        reason = _cloud.network_reason(exc)
        import requests

        network = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                   requests.exceptions.ChunkedEncodingError, ax.TransportError, ConnectionError, TimeoutError)
        if isinstance(exc, network) or (reason and not isinstance(exc, OSError)) \
                or type(exc).__module__.startswith(("urllib3", "http.client")):
            return EndpointUnreachable(
                f"cannot reach gs://{self.bucket} ({self.endpoint()}): {reason or 'connection failed'}")
        if isinstance(exc, gx.GoogleAPIError):
            return RemoteError(f"{self.url}: {_cloud.short(exc)} while {action}")
        return exc

    def _ensure_bucket(self) -> None:
        """An absent object and an absent bucket both answer a bare 404: tell them apart once."""
        if self._bucket_seen:
            return
        with self._errors("checking the bucket", bucket_op=True):
            list(self.client().list_blobs(self.bucket, prefix=self.root, max_results=1, retry=self._retry))
        self._bucket_seen = True

    # -- the Backend primitives -------------------------------------------------

    def _get_blob(self, key: str):
        """The object's metadata, or None when absent (after checking the bucket is there)."""
        name = self._key(key)
        with self._errors("looking it up", key):
            try:
                blob = self.client().bucket(self.bucket).get_blob(name, retry=self._retry)
            except Exception as exc:
                if not isinstance(self._error(exc, "looking it up", key), KeyNotFound):
                    raise
                blob = None
        if blob is None:
            self._ensure_bucket()
        return blob

    def stat(self, key: str) -> int | None:
        blob = self._get_blob(key)
        return None if blob is None else int(blob.size or 0)

    def _list_keys(self, prefix: str, start_at: str, recursive: bool) -> Iterator[list[str]]:
        cut = len(self.root)
        with self._errors("listing", prefix or None, bucket_op=True):
            blobs = self.client().list_blobs(self.bucket, prefix=self.root + prefix,
                                             delimiter=None if recursive else "/",
                                             start_offset=self.root + start_at, page_size=_cloud.PAGE,
                                             retry=self._retry)
            for page in blobs.pages:
                self._bucket_seen = True
                yield sorted(blob.name[cut:] for blob in page)

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        name = self._key(key)
        with self._errors("uploading", key, bucket_op=True):
            blob = self._blob(name, chunk_size=self.chunk_size)
            with open(src, "rb") as f:
                blob.upload_from_file(_cloud.ProgressReader(f, progress), size=size, retry=self._retry,
                                      content_type="application/octet-stream")

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        blob = self._get_blob(key)
        if blob is None:
            raise KeyNotFound(f"{key} is not on remote {self.url}")
        size = int(blob.size or 0)
        with self._errors("downloading", key):
            if size <= self.chunk_size or self.jobs == 1:
                with open(dst, "wb") as f:
                    writer = _cloud.HashingWriter(f, progress)
                    blob.download_to_file(writer, retry=self._retry)
                    return writer.hexdigest()
            self._download_parts(blob.name, blob.generation, size, dst, _cloud.locked_progress(progress))
            return None

    def _download_parts(self, name: str, generation: int | None, size: int, dst: str,
                        progress: Progress | None) -> None:
        cancelled = threading.Event()

        def part(start: int) -> None:
            end = min(size, start + self.chunk_size) - 1
            blob = self._blob(name, generation=generation)
            writer = _cloud.OffsetWriter(fd, start, cancelled, progress)
            blob.download_to_file(writer, start=start, end=end, checksum=None, retry=self._retry)
            if writer.pos != end + 1:
                raise TransientError(f"{self.url}: short read of {name} at byte {writer.pos}")

        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            pool = self._parts_pool()
            futures = [pool.submit(part, start) for start in range(0, size, self.chunk_size)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                cancelled.set()
                for future in futures:
                    future.cancel()
                for future in futures:
                    with contextlib.suppress(BaseException):
                        future.result()
                raise
        finally:
            os.close(fd)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        name = self._key(key)
        if length <= 0:
            if self.stat(key) is None:
                raise KeyNotFound(f"{key} is not on remote {self.url}")
            return b""
        with self._errors("reading", key):
            try:
                return self._blob(name).download_as_bytes(start=offset, end=offset + length - 1,
                                                          checksum=None, retry=self._retry)
            except Exception as exc:
                if getattr(exc, "code", None) == 416:  # offset at or past the end
                    return b""
                raise

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        cut = len(self.root)
        with self._errors("listing", prefix or None, bucket_op=True):
            for blob in self.client().list_blobs(self.bucket, prefix=self.root + prefix, retry=self._retry):
                self._bucket_seen = True
                yield blob.name[cut:], int(blob.size or 0)

    def delete(self, key: str) -> None:
        name = self._key(key)
        with self._errors("deleting", key):
            try:
                self._blob(name).delete(retry=self._retry)
            except Exception as exc:
                if not isinstance(self._error(exc, "deleting", key), KeyNotFound):
                    raise


def _service_message(exc) -> str:
    """The service's own words from an api_core error, whose message is `METHOD URL: text` or raw JSON."""
    import json

    text = str(getattr(exc, "message", "") or "")
    if text.startswith(("GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ")) and ": " in text:
        text = text.split(": ", 1)[1]
    if text.lstrip().startswith("{"):  # media calls put the raw JSON body first
        try:
            text = json.JSONDecoder().raw_decode(text.lstrip())[0]["error"]["message"]
        except (ValueError, KeyError, TypeError):
            pass
    return _cloud.short(text)
