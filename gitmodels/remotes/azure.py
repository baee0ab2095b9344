"""An Azure Blob Storage remote (`az://container/prefix`) over azure-storage-blob.

Objects are block blobs. Large ones are uploaded in blocks of `block_size`,
`jobs` at a time, and appear only when the block list is committed; large
downloads are ranged reads of `block_size`, `jobs` at a time. Small ones take
one request each and are hashed while they stream.

The account and credentials come from the environment, never from a
committed file: AZURE_STORAGE_CONNECTION_STRING (which may carry a SAS
token), or the account (from an https://ACCOUNT.blob.core.windows.net URL,
the `account` setting or AZURE_STORAGE_ACCOUNT) with AZURE_STORAGE_SAS_TOKEN,
AZURE_STORAGE_KEY, or else DefaultAzureCredential (azure-identity: az login,
managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, ...).
Settings: account, endpoint_url, block_size, jobs, retries.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

from gitmodels.errors import AccessDenied, BadConfig, BucketMissing, CredentialsError, GitModelsError, RemoteError
from gitmodels.remotes import _cloud
from gitmodels.remotes._cloud import MiB, EndpointUnreachable
from gitmodels.remotes.base import Backend, KeyNotFound, Progress, TransientError

DEFAULT_BLOCK_SIZE = 8 * MiB
MIN_BLOCK_SIZE = 256 * 1024
DEFAULT_JOBS = 8
DEFAULT_ATTEMPTS = 3
HOST_SUFFIX = ".blob.core.windows.net"
CONN_ENV = "AZURE_STORAGE_CONNECTION_STRING"
SETUP_HINT = ("set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_SAS_TOKEN or "
              "AZURE_STORAGE_KEY, or sign in for DefaultAzureCredential (`az login`); see docs/remotes.md")

_CREDENTIALS = {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
_DENIED = {"AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationSourceIPMismatch",
           "AuthorizationProtocolMismatch", "AuthorizationResourceTypeMismatch", "AuthorizationServiceMismatch",
           "InsufficientAccountPermissions", "AccountIsDisabled"}


def parse_azure_url(url: str) -> tuple[str | None, str, str]:
    """(account or None, container, prefix) of `az://c/p`, `azure://c/p` or `https://ACCOUNT.blob.core.windows.net/c/p`."""
    scheme, _, rest = url.partition("://")
    if "?" in rest:
        raise BadConfig(f"remote URL {url.split('?', 1)[0]}?… carries a query (a SAS token?)",
                        "drop it from the URL (the config is committed) and export AZURE_STORAGE_SAS_TOKEN instead")
    account = None
    if scheme.lower() in ("http", "https"):
        host, _, rest = rest.partition("/")
        account = host.rsplit("@", 1)[-1].split(":", 1)[0].lower()[: -len(HOST_SUFFIX)]
    container, prefix = _cloud.split_bucket_url("az://" + rest, "az")
    return account, container, prefix


class AzureBackend(_cloud.CloudBackend, Backend):
    scheme = "az"

    def __init__(self, url: str, settings=None):
        super().__init__(url, settings)
        self.account, self.bucket, self.root = parse_azure_url(url)
        s = self.settings
        self.account = self.account or _cloud.str_setting(s, "account") or os.environ.get("AZURE_STORAGE_ACCOUNT")
        self.endpoint_url = _cloud.str_setting(s, "endpoint_url")
        self.block_size = _cloud.size_setting(s, "block_size", DEFAULT_BLOCK_SIZE, minimum=MIN_BLOCK_SIZE)
        self.jobs = _cloud.int_setting(s, "jobs", DEFAULT_JOBS)
        self.attempts = _cloud.int_setting(s, "retries", DEFAULT_ATTEMPTS)
        self._container = None
        self._service = None
        self._lock = threading.Lock()
        self._bucket_seen = False

    # -- the client -------------------------------------------------------------

    def container(self):
        if self._container is None:
            with self._lock:
                if self._container is None:
                    self._service = self._make_service()
                    self._container = self._service.get_container_client(self.bucket)
        return self._container

    def _make_service(self):
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        # The SDK's default waits 15 s before its first retry: short per-request retries here (a
        # refused connection none: it goes straight to the Retrying wrapper, as for S3), whole
        # operations retried by the wrapper.
        retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=self.attempts,
                                 random_jitter_range=1, retry_connect=0)
        options = dict(max_block_size=self.block_size, max_single_put_size=self.block_size,
                       max_single_get_size=self.block_size, max_chunk_get_size=self.block_size,
                       retry_policy=retry, connection_timeout=10, read_timeout=60)
        conn = os.environ.get(CONN_ENV)
        try:
            if conn and not self.endpoint_url:
                return BlobServiceClient.from_connection_string(conn, **options)
            if not (self.account or self.endpoint_url):
                raise CredentialsError(f"no Azure storage account for remote {self.url}",
                                       "write the URL as https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX, "
                                       "or set the remote's account setting, AZURE_STORAGE_ACCOUNT or " + CONN_ENV)
            account_url = self.endpoint_url or f"https://{self.account}{HOST_SUFFIX}"
            return BlobServiceClient(account_url, credential=self._credential(), **options)
        except (ValueError, TypeError) as exc:
            raise BadConfig(f"cannot set up remote {self.url}: {_cloud.short(exc)}", SETUP_HINT) from exc

    def _credential(self):
        sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
        if sas:
            return sas.lstrip("?")
        key = os.environ.get("AZURE_STORAGE_KEY")
        if key:
            return {"account_name": self.account or os.environ.get("AZURE_STORAGE_ACCOUNT", ""), "account_key": key}
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise CredentialsError(f"no Azure credentials for remote {self.url} and azure-identity is not installed",
                                   "pip install 'gitmodels[azure]', or " + SETUP_HINT) from None
        return DefaultAzureCredential(exclude_interactive_browser_credential=True)

    def endpoint(self) -> str:
        service = self._service
        if service is not None:
            return service.url.rstrip("/")
        if self.endpoint_url:
            return self.endpoint_url
        return f"https://{self.account}{HOST_SUFFIX}" if self.account else "(account from " + CONN_ENV + ")"

    def describe(self) -> str:
        if self.url.startswith(("http://", "https://")):
            return self.url
        return f"{self.url} ({self.endpoint()})"

    def close(self) -> None:
        with self._lock:
            service, self._service, self._container = self._service, None, None
        if service is not None:
            with contextlib.suppress(Exception):
                service.close()

    def _key(self, key: str) -> str:
        return self.root + _cloud.check_key(key)

    def _blob(self, key: str):
        return self.container().get_blob_client(self._key(key))

    # -- errors -----------------------------------------------------------------

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> BaseException:
        """The gitmodels error for an SDK exception (the exception itself when it is not the SDK's)."""
        from azure.core import exceptions as ax

        if isinstance(exc, GitModelsError):
            return exc
        where = f"az://{self.bucket}/{self.root}{key}" if key else self.url
        if type(exc).__name__ in ("CredentialUnavailableError", "ClientAuthenticationError") \
                and not isinstance(exc, ax.HttpResponseError):
            return CredentialsError(f"no usable Azure credentials for remote {self.url}: {_cloud.short(exc)}",
                                    SETUP_HINT)
        if isinstance(exc, ax.HttpResponseError) and getattr(exc, "status_code", None):
            status = int(exc.status_code)
            code = str(getattr(exc, "error_code", "") or "")
            if code == "ContainerNotFound":
                return self._bucket_missing()
            if status == 404:
                return KeyNotFound(f"{key} is not on remote {self.url}")
            if code in _CREDENTIALS or status == 401 or isinstance(exc, ax.ClientAuthenticationError) \
                    and code not in _DENIED:
                return CredentialsError(f"remote {self.url} refused the Azure credentials ({code or status}) "
                                        f"while {action}", "check the account key, SAS token or connection string "
                                        "(and that a SAS has not expired); " + SETUP_HINT)
            if code in _DENIED or status == 403:
                return AccessDenied(f"access denied to {where} while {action} ({code or status})",
                                    "the identity in use needs the Storage Blob Data Contributor role on the "
                                    "container (Reader to pull only), or a SAS with r,w,l,d; see docs/remotes.md")
            if status in (429, 503) or code in ("ServerBusy", "OperationTimedOut"):
                return TransientError(f"{where}: the store is throttling requests ({code or status}) while {action}",
                                      "run the command again; lower the remote's jobs setting if it persists")
            if status >= 500 or status == 408:
                return TransientError(f"{where}: the server answered {code or status} while {action}",
                                      "the store had a server-side failure; run the command again, "
                                      "it resumes where it stopped")
            return RemoteError(f"{where}: {code or status} while {action}: {_cloud.short(exc.reason or exc)}")
        reason = _cloud.network_reason(exc)
        network = (ax.ServiceRequestError, ax.ServiceResponseError, ax.IncompleteReadError, ConnectionError,
                   TimeoutError)
        if isinstance(exc, network) or (reason and not isinstance(exc, OSError)):
            return EndpointUnreachable(f"cannot reach az://{self.bucket} ({self.endpoint()}): "
                                       f"{reason or 'connection failed'}")
        if isinstance(exc, ax.AzureError):
            return RemoteError(f"{where}: {_cloud.short(exc)} while {action}")
        return exc

    def _bucket_missing(self) -> BucketMissing:
        return BucketMissing(f"container az://{self.bucket} does not exist ({self.endpoint()})",
                             f"create it (az storage container create -n {self.bucket}) or fix the remote URL")

    def _ensure_bucket(self) -> None:
        """A HEAD of an absent blob may not say whether the container is there: ask once per backend."""
        if self._bucket_seen:
            return
        with self._errors("checking the container", bucket_op=True):
            self.container().get_container_properties()
        self._bucket_seen = True

    # -- the Backend primitives -------------------------------------------------

    def stat(self, key: str) -> int | None:
        with self._errors("looking it up", key):
            try:
                return int(self._blob(key).get_blob_properties().size)
            except Exception as exc:
                if not isinstance(self._error(exc, "looking it up", key), KeyNotFound):
                    raise
        self._ensure_bucket()
        return None

    def _list_keys(self, prefix: str, start_at: str, recursive: bool) -> Iterator[list[str]]:
        # Azure cannot start a listing at a key: list from the prefix (the scan's page budget bounds it).
        # Keys fan out one folder deep under the prefixes asked for, so the flat listing is what is wanted.
        cut = len(self.root)
        with self._errors("listing", prefix or None, bucket_op=True):
            pages = self.container().list_blobs(name_starts_with=self.root + prefix,
                                                results_per_page=_cloud.PAGE).by_page()
            for page in pages:
                self._bucket_seen = True
                names = [b.name[cut:] for b in page]
                yield names if recursive else [n for n in names if "/" not in n[len(prefix):]]

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        report = _increments(progress)
        with self._errors("uploading", key, bucket_op=True):
            try:
                with open(src, "rb") as f:
                    self._blob(key).upload_blob(f, length=size, overwrite=True, max_concurrency=self.jobs,
                                                progress_hook=report)
            except Exception as exc:
                # Two clones pushing one object at once stage the same block ids, and one commit
                # clears the other's staged blocks: the other's commit then fails, but the blob
                # (named by its content) is already there whole.
                if getattr(exc, "error_code", None) in ("InvalidBlockList", "BlockListTooLong") \
                        and self.stat(key) == size:
                    return
                raise

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        report = _increments(progress)
        with self._errors("downloading", key):
            stream = self._blob(key).download_blob(max_concurrency=self.jobs, progress_hook=report)
            self._bucket_seen = True
            with open(dst, "wb") as f:
                if stream.size <= self.block_size or self.jobs == 1:
                    writer = _cloud.HashingWriter(f)
                    for block in stream.chunks():
                        writer.write(block)
                    return writer.hexdigest()
                stream.readinto(f)  # the rest in ranged reads of block_size, jobs at a time
                return None

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            if self.stat(key) is None:
                raise KeyNotFound(f"{key} is not on remote {self.url}")
            return b""
        with self._errors("reading", key):
            try:
                return self._blob(key).download_blob(offset=offset, length=length, max_concurrency=1).readall()
            except Exception as exc:
                if getattr(exc, "status_code", None) == 416:  # at or past the end
                    return b""
                raise

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        cut = len(self.root)
        with self._errors("listing", prefix or None, bucket_op=True):
            for blob in self.container().list_blobs(name_starts_with=self.root + prefix,
                                                    results_per_page=_cloud.PAGE):
                self._bucket_seen = True
                yield blob.name[cut:], int(blob.size or 0)

    def delete(self, key: str) -> None:
        with self._errors("deleting", key):
            try:
                self._blob(key).delete_blob()
            except Exception as exc:
                if not isinstance(self._error(exc, "deleting", key), KeyNotFound):
                    raise


def _increments(progress: Progress | None):
    """The SDK reports (bytes so far, total), from several threads: hand on increments, one at a time."""
    if progress is None:
        return None
    lock = threading.Lock()
    done = [0]

    def hook(current: int, total: int | None) -> None:
        with lock:
            if current > done[0]:
                progress(current - done[0])
                done[0] = current

    return hook
