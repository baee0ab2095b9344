"""An S3 remote (`s3://bucket/prefix`) over boto3, for AWS and S3-compatible stores.

Large objects move in parts through boto3's transfer manager: multipart
uploads and parallel ranged downloads, `jobs` parts at a time. Small objects
take one request each, and their downloads are hashed while they stream, so
the caller need not read them again. One boto3 client serves every thread.

Settings (all optional; with none, boto3's own environment applies:
AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL(_S3), AWS_ACCESS_KEY_ID, ...):
endpoint_url, region, profile, addressing_style, part_size, jobs, retries,
access_key_id / secret_access_key / session_token (local config or env only).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

from gitmodels.storage import fileio
from gitmodels.credentials import mask_url
from gitmodels.errors import AccessDenied, BadConfig, BucketMissing, CredentialsError, GitModelsError, RemoteError
from gitmodels.remotes import _cloud
from gitmodels.remotes._cloud import MiB, EndpointUnreachable
from gitmodels.remotes.base import Backend, KeyNotFound, Progress, TransientError

DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts (except the last)
DEFAULT_JOBS = 8
DEFAULT_ATTEMPTS = 3  # per HTTP request, inside botocore; the Retrying wrapper retries whole operations
STREAM_BLOCK = 1 * MiB
EXPECT_CONTINUE_MIN = 2 * MiB  # larger request bodies wait for `100 Continue` before they are sent
IO_QUEUE = 16  # downloaded 256 KiB blocks waiting for the disk: bounds memory (s3transfer's default is 100)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                "TokenRefreshRequired", "InvalidClientTokenId", "UnrecognizedClientException"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
              "RequestThrottled", "BandwidthLimitExceeded"}
_TRANSIENT = {"RequestTimeout", "InternalError", "ServiceUnavailable", "503", "500", "OperationAborted"}


def _expect_continue_when_large(model, params, **kwargs):
    """A before-call hook in place of botocore's, which asks for `Expect: 100-continue` on every PUT.

    Waiting for the server's go-ahead costs a round trip per request; it only
    pays when the body is large enough that sending it to a server about to
    refuse it would waste time. The AWS Go SDK draws the line at 2 MiB too.
    """
    from botocore.handlers import add_expect_header
    from botocore.utils import determine_content_length

    body = params.get("body")
    size = determine_content_length(body) if body is not None else None
    if size is None or size > EXPECT_CONTINUE_MIN:
        add_expect_header(model, params, **kwargs)


def _no_retry_when_nobody_answers(caught_exception=None, **_):
    """A needs-retry hook: a connection that could not even be opened (refused, no DNS, connect
    timeout) is not retried inside botocore, whose backoff would keep an offline user waiting for
    many seconds per request; it goes straight to the Retrying wrapper, which retries it briefly
    and then reports "cannot reach". Throttling, 5xx and dropped connections keep botocore's
    per-request retries, so one bad part does not restart a whole multipart upload."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if isinstance(caught_exception, (EndpointConnectionError, ConnectTimeoutError)):
        raise caught_exception
    return None


class S3Backend(_cloud.CloudBackend, Backend):
    scheme = "s3"

    def __init__(self, url: str, settings=None):
        super().__init__(url, settings)
        self.bucket, self.root = _cloud.split_bucket_url(url, "s3")
        s = self.settings
        self.part_size = _cloud.size_setting(s, "part_size", DEFAULT_PART_SIZE, minimum=MIN_PART_SIZE)
        self.jobs = _cloud.int_setting(s, "jobs", DEFAULT_JOBS)
        self.attempts = _cloud.int_setting(s, "retries", 0) or None
        self.endpoint_url = _cloud.str_setting(s, "endpoint_url")
        self.addressing_style = _cloud.str_setting(s, "addressing_style")
        if self.addressing_style not in (None, "auto", "path", "virtual"):
            raise BadConfig(f"remote setting addressing_style = {self.addressing_style!r} is not auto, path or virtual")
        self.checksums = _cloud.str_setting(s, "checksum_calculation")
        if self.checksums not in (None, "when_supported", "when_required"):
            raise BadConfig(f"remote setting checksum_calculation = {self.checksums!r} "
                            "is not when_supported or when_required")
        self._client = None
        self._lock = threading.Lock()
        self._bucket_seen = False

    # -- the client -------------------------------------------------------------

    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        s = self.settings
        session_args = {}
        profile = _cloud.str_setting(s, "profile")
        if profile:
            session_args["profile_name"] = profile
        region = _cloud.str_setting(s, "region")
        if region:
            session_args["region_name"] = region
        for setting, arg in (("access_key_id", "aws_access_key_id"),
                             ("secret_access_key", "aws_secret_access_key"),
                             ("session_token", "aws_session_token")):
            if _cloud.str_setting(s, setting):
                session_args[arg] = _cloud.str_setting(s, setting)
        config = {
            # shared by the transfer engine's threads, each running `jobs` part transfers
            "max_pool_connections": max(128, 8 * self.jobs),
            "connect_timeout": 10,
            "read_timeout": 60,
            "tcp_keepalive": True,
        }
        if self.attempts is not None:
            config["retries"] = {"mode": "standard", "total_max_attempts": self.attempts}
        elif not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
            config["retries"] = {"mode": "standard", "total_max_attempts": DEFAULT_ATTEMPTS}
        # S3-compatible stores (MinIO, Ceph, ...) rarely resolve bucket.host names: path style for any custom endpoint
        style = self.addressing_style or ("path" if self._custom_endpoint() else None)
        if style:
            config["s3"] = {"addressing_style": style}
        if self.checksums:  # stores that reject boto3's default CRC checksums want "when_required"
            config["request_checksum_calculation"] = self.checksums
            config["response_checksum_validation"] = self.checksums
        try:
            session = boto3.session.Session(**session_args)
            client = session.client("s3", endpoint_url=self.endpoint_url, config=Config(**config))
            client.meta.events.register_first("needs-retry.s3", _no_retry_when_nobody_answers,
                                              unique_id="gitmodels-no-connect-retry")
            from botocore.handlers import add_expect_header

            client.meta.events.unregister("before-call.s3", add_expect_header)
            client.meta.events.register("before-call.s3", _expect_continue_when_large)
            return client
        except (BotoCoreError, ValueError) as exc:
            if type(exc).__name__ == "ProfileNotFound":
                raise CredentialsError(f"AWS profile {profile!r} for remote {self.url} is not configured",
                                       "check the profile name, or run `aws configure --profile NAME`") from exc
            mapped = self._error(exc, "connecting")
            if isinstance(mapped, GitModelsError) and not isinstance(mapped, TransientError):
                raise mapped from exc
            raise BadConfig(f"cannot set up remote {self.url}: {_cloud.short(exc)}",
                            "check the remote's endpoint_url, region and profile settings") from exc

    def _custom_endpoint(self) -> str | None:
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")

    def endpoint(self) -> str:
        client = self._client
        if client is not None:
            return mask_url(client.meta.endpoint_url)
        return mask_url(self._custom_endpoint() or "https://s3.amazonaws.com")

    def describe(self) -> str:
        custom = self._custom_endpoint()
        return f"{self.url} ({mask_url(custom)})" if custom else self.url

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            client.close()

    def _key(self, key: str) -> str:
        return self.root + _cloud.check_key(key)

    # -- errors -----------------------------------------------------------------

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> BaseException:
        """The gitmodels error for an SDK exception (the exception itself when it is not the SDK's)."""
        from botocore import exceptions as bx

        if isinstance(exc, GitModelsError):
            return exc
        where = f"s3://{self.bucket}/{self.root}{key}" if key else self.url
        inner = getattr(exc, "last_exception", None)  # s3transfer's RetriesExceededError
        if isinstance(inner, BaseException):
            return self._error(inner, action, key)
        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {}) or {}
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            message = _cloud.short(err.get("Message") or code)
            if code == "NoSuchBucket":
                return self._bucket_missing()
            if code in _NOT_FOUND:
                return KeyNotFound(f"{key} is not on remote {self.url}")
            if code in _CREDENTIALS:
                return CredentialsError(f"remote {self.url} refused the AWS credentials ({code}) while {action}",
                                        "check AWS_PROFILE / AWS_ACCESS_KEY_ID, or refresh them "
                                        "(`aws sso login`, `aws configure`)")
            if code in _DENIED or status == 403:
                return AccessDenied(f"access denied to {where} while {action}",
                                    "the credentials in use need s3:GetObject, s3:PutObject and s3:ListBucket "
                                    "on this bucket (see docs/remotes.md); check AWS_PROFILE")
            if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException") \
                    or status == 301:
                return RemoteError(f"bucket s3://{self.bucket} is in another region ({message})",
                                   "set the remote's region setting (or AWS_REGION) to the bucket's region")
            if code in _THROTTLED or status == 429:
                return TransientError(f"{where}: the store is throttling requests ({code or status}) while {action}",
                                      "run the command again; lower the remote's jobs setting if it persists")
            if code in _TRANSIENT or status >= 500:
                return TransientError(f"{where}: the server answered {code or status} while {action}",
                                      "the store had a server-side failure; run the command again, "
                                      "it resumes where it stopped")
            return RemoteError(f"{where}: {code or status} while {action}: {message}")
        credential_errors = tuple(getattr(bx, name) for name in (
            "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "TokenRetrievalError",
            "SSOError", "SSOTokenLoadError", "UnauthorizedSSOTokenError", "NoAuthTokenError",
            "UnknownCredentialError", "LoginTokenLoadError") if hasattr(bx, name))
        if isinstance(exc, credential_errors):
            return CredentialsError(f"no usable AWS credentials for remote {self.url}: {_cloud.short(exc)}",
                                    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                                    "or run `aws configure` (or `aws sso login`)")
        if isinstance(exc, bx.ProfileNotFound):
            return CredentialsError(f"AWS profile for remote {self.url} is not configured: {_cloud.short(exc)}",
                                    "check the profile name, or run `aws configure --profile NAME`")
        network = (bx.ConnectionError, bx.HTTPClientError, bx.IncompleteReadError, bx.ResponseStreamingError,
                   ConnectionError, TimeoutError)
        reason = _cloud.network_reason(exc)
        if isinstance(exc, network) or (reason and not isinstance(exc, OSError)):
            return EndpointUnreachable(
                f"cannot reach s3://{self.bucket} ({self.endpoint()}): {reason or 'connection failed'}")
        if isinstance(exc, bx.BotoCoreError):
            return RemoteError(f"{where}: {_cloud.short(exc)} while {action}")
        return exc

    def _bucket_missing(self) -> BucketMissing:
        return BucketMissing(f"bucket s3://{self.bucket} does not exist ({self.endpoint()})",
                             f"create it (aws s3 mb s3://{self.bucket}) or fix the remote URL"
                             + ("" if self._custom_endpoint() else "; for S3-compatible stores set endpoint_url"))

    def _ensure_bucket(self) -> None:
        """HEAD answers a bare 404 for a missing bucket too: tell the two apart once per backend."""
        if self._bucket_seen:
            return
        with self._errors("checking the bucket", bucket_op=True):
            self.client().list_objects_v2(Bucket=self.bucket, Prefix=self.root, MaxKeys=1)
        self._bucket_seen = True

    # -- the Backend primitives -------------------------------------------------

    def _transfer_manager(self, chunk: int | None = None):
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        chunk = chunk or self.part_size
        config = TransferConfig(multipart_threshold=self.part_size, multipart_chunksize=chunk,
                                max_concurrency=self.jobs, use_threads=True, num_download_attempts=3,
                                max_io_queue=IO_QUEUE, preferred_transfer_client="classic")
        return create_transfer_manager(self.client(), config)

    def stat(self, key: str) -> int | None:
        full = self._key(key)
        with self._errors("looking it up", key):
            try:
                return int(self.client().head_object(Bucket=self.bucket, Key=full)["ContentLength"])
            except Exception as exc:
                if not isinstance(self._error(exc, "looking it up", key), KeyNotFound):
                    raise
        self._ensure_bucket()
        return None

    def _list_keys(self, prefix: str, start_at: str, recursive: bool) -> Iterator[list[str]]:
        paginator = self.client().get_paginator("list_objects_v2")
        cut = len(self.root)
        args = {"Bucket": self.bucket, "Prefix": self.root + prefix, "StartAfter": self.root + start_at[:-1],
                "PaginationConfig": {"PageSize": _cloud.PAGE}}
        if not recursive:
            args["Delimiter"] = "/"
        with self._errors("listing", prefix or None, bucket_op=True):
            for page in paginator.paginate(**args):
                self._bucket_seen = True
                yield [obj["Key"][cut:] for obj in page.get("Contents", ())]

    def upload(self, key: str, src: str, size: int, progress: Progress | None = None,
               movable: bool = False) -> None:
        full = self._key(key)
        progress = _cloud.locked_progress(progress)
        with self._errors("uploading", key, bucket_op=True):
            if size < self.part_size:
                with open(src, "rb") as f:
                    self.client().put_object(Bucket=self.bucket, Key=full, Body=f)
                if progress:
                    progress(size)
                return
            from boto3.s3.transfer import ProgressCallbackInvoker

            subscribers = [ProgressCallbackInvoker(progress)] if progress else None
            with self._transfer_manager() as manager:
                manager.upload(src, self.bucket, full, subscribers=subscribers).result()

    def download(self, key: str, dst: str, progress: Progress | None = None,
                 copy_to: str | None = None) -> str | None:
        full = self._key(key)
        progress = _cloud.locked_progress(progress)
        with self._errors("downloading", key):
            response = self.client().get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            if int(response.get("ContentLength") or 0) <= self.part_size or self.jobs == 1:
                with open(dst, "wb") as f:
                    writer = _cloud.HashingWriter(f, progress)
                    try:
                        for block in iter(lambda: body.read(STREAM_BLOCK), b""):
                            writer.write(block)
                    finally:
                        body.close()
                    return writer.hexdigest()
            body.close()  # large: drop this stream, fetch the parts in parallel
            from boto3.s3.transfer import ProgressCallbackInvoker

            subscribers = [ProgressCallbackInvoker(progress)] if progress else None
            # One range per job: each is streamed to its place in the file, so memory does not grow
            # with the range, and fewer, longer requests suit servers that read whole objects per GET.
            per_job = -(-int(response["ContentLength"]) // self.jobs)
            chunk = max(self.part_size, -(-per_job // MiB) * MiB)
            with open(dst, "wb") as f, self._transfer_manager(chunk) as manager:
                manager.download(self.bucket, full, f, subscribers=subscribers).result()
            return None

    def _ranged_get(self, key: str, offset: int, length: int) -> dict | None:
        """The GET response for bytes [offset, offset+length) of `key`; None when offset is at or past the end."""
        try:
            return self.client().get_object(Bucket=self.bucket, Key=self._key(key),
                                            Range=f"bytes={offset}-{offset + length - 1}")
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "InvalidRange":
                return None
            raise

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            if self.stat(key) is None:
                raise KeyNotFound(f"{key} is not on remote {self.url}")
            return b""
        with self._errors("reading", key):
            response = self._ranged_get(key, offset, length)
            return b"" if response is None else self._body_bytes(response, offset, length)

    @staticmethod
    def _body_bytes(response: dict, offset: int, length: int) -> bytes:
        """A ranged GET's body; cut to the range when the store ignored the Range header and sent it all."""
        with contextlib.closing(response["Body"]) as body:
            data = body.read()
        return data if response.get("ContentRange") else data[offset:offset + length]

    def read_range_into(self, key: str, offset: int, length: int, buf: memoryview) -> memoryview:
        if length <= 0:
            return super().read_range_into(key, offset, length, buf)
        with self._errors("reading", key):
            response = self._ranged_get(key, offset, length)
            if response is None:
                return buf[:0]
            if not response.get("ContentRange"):  # a store that ignored the Range header
                data = self._body_bytes(response, offset, length)
                buf[:len(data)] = data
                return buf[:len(data)]
            with contextlib.closing(response["Body"]) as body:  # straight into the caller's buffer
                return buf[:fileio.read_full(body, buf[:length])]

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        paginator = self.client().get_paginator("list_objects_v2")
        cut = len(self.root)
        with self._errors("listing", prefix or None, bucket_op=True):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.root + prefix,
                                           PaginationConfig={"PageSize": _cloud.PAGE}):
                for obj in page.get("Contents", ()):
                    yield obj["Key"][cut:], int(obj["Size"])

    def delete(self, key: str) -> None:
        full = self._key(key)
        with self._errors("deleting", key):
            try:
                self.client().delete_object(Bucket=self.bucket, Key=full)
            except Exception as exc:
                if not isinstance(self._error(exc, "deleting", key), KeyNotFound):
                    raise
