"""Failures of every remote against its real server, written once: S3 (moto), GCS (gcp-storage-emulator),
Azure (Azurite), SSH (sshd) and HTTP (nginx). Each failure is a clean one-line gitmodels error, never an SDK
traceback.

A test names the kinds it applies to; a `Kind` gives what the test needs from one remote kind:
a server of the test's own behind a loopback proxy that can be cut mid-transfer (`server.stop`) and brought
back (`server.start`), a fresh remote on the shared server (`new_remote`), a way to write behind the
backend's back (`overwrite`, to corrupt an object), a remote whose bucket/container/folder is absent
(`missing`), and, for the faults a real server cannot produce, a stub server answering the way the real
service does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from gitmodels.errors import (
    AccessDenied,
    BucketMissing,
    CredentialsError,
    RemoteError,
    RemoteUnreachable,
)
from gitmodels.remotes import KeyNotFound, TransientError, object_key
from gitmodels.remotes import open_backend as _open_backend
from gitmodels.remotes.wrappers import Retrying
from tests.seeded import MiB, seeded_bytes
from tests.servers import (
    HOST,
    LoopbackProxy,
    StubServer,
    azure_container,
    azurite_connection_string,
    free_port,
    gcs_error_body,
    s3_error_body,
)

CUT = r"(connection refused|connection reset|connection closed|connection failed)"


def open_backend(url, settings, retry=True):
    """The real backend under the real Retrying wrapper, with short backoff delays to keep the suite quick."""
    backend = _open_backend(url, settings, retry=False)
    return Retrying(backend, base_delay=0.01, max_delay=0.05) if retry else backend


def write(tmp_path, data: bytes, name: str = "src") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def assert_one_line(exc: BaseException) -> None:
    assert isinstance(exc, RemoteError)
    assert "\n" not in str(exc) and str(exc)
    assert exc.hint


def replace_file(path: str, data: bytes) -> None:
    """Write an object file behind the backend's back (stored objects are read-only)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)


class StopAfterFirstBytes:
    """A progress callback that cuts the server off as soon as bytes start to move."""

    def __init__(self, server):
        self.server = server
        self.fired = False

    def __call__(self, n: int) -> None:
        if not self.fired:
            self.fired = True
            self.server.stop()


# -- the kinds -------------------------------------------------------------------------------------

class Kind:
    """One remote kind; the subclasses fill in what differs."""

    private_fixture = ""
    settings: dict = {}  # noqa: RUF012 - read only: small parts and few jobs keep the suite quick
    upload_size = 5 * MiB + 3
    download_size = 32 * MiB + 5  # larger than the socket buffers, so stopping the server cuts the body short

    def __init__(self, request):
        self.request = request
        self.monkeypatch = request.getfixturevalue("monkeypatch")

    @functools.cached_property
    def server(self):
        """The test's own server behind a proxy (started on first use)."""
        return self.request.getfixturevalue(self.private_fixture)

    def private_remote(self) -> tuple[str, dict]:
        url, settings = self.server.new_remote()
        return url, {**settings, **self.settings}

    def new_remote(self) -> tuple[str, dict]:
        return self.private_remote()

    def unreachable_remote(self) -> tuple[str, dict]:
        """A remote whose server has gone away."""
        url, settings = self.private_remote()
        self.server.stop()
        return url, settings

    def reach(self, url: str) -> str:
        """A pattern for how "cannot reach ..." names the remote."""
        return r"\S+( \(.*\))?"

    def missing_name(self, url: str) -> str:
        """What a "missing" error must name."""
        return url.split("/")[2]

    def stub(self, status: int, body: bytes = b"", headers: dict | None = None) -> StubServer:
        stub = StubServer(status, body, headers)
        self.request.addfinalizer(stub.close)
        return stub


class S3(Kind):
    private_fixture = "s3_server_private"
    denies_listing = False  # moto enforces the bucket policy on objects only
    settings = {"part_size": "5MiB", "jobs": 2}  # noqa: RUF012
    upload_size = 12 * MiB
    download_size = 11 * MiB
    credentials_hint = "AWS_PROFILE"

    def new_remote(self):
        url, settings = self.request.getfixturevalue("s3_remote")
        return url, {**settings, **self.settings}

    def reach(self, url):
        endpoint = self.server.endpoint if "server" in self.__dict__ else self._unreachable
        return rf"s3://{re.escape(url.split('/')[2])} \({re.escape(endpoint)}\)"

    def client(self, endpoint: str):
        import boto3

        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def overwrite(self, url, key, data, settings):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        self.client(settings["endpoint_url"]).put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)

    def unreachable_remote(self):
        self.request.getfixturevalue("aws_env")
        self._unreachable = f"http://{HOST}:{free_port()}"
        return "s3://somebucket/models", {"endpoint_url": self._unreachable}

    def missing(self):
        endpoint = self.request.getfixturevalue("s3_server")
        self.request.getfixturevalue("aws_env")
        return f"s3://gm-absent-{uuid.uuid4().hex[:8]}/models", {"endpoint_url": endpoint}

    def denied_remote(self, tmp_path):
        """A real bucket with a policy that refuses every call (after "present" was uploaded)."""
        url, settings = self.new_remote()
        bucket = url.split("/")[2]
        open_backend(url, settings).upload("present", write(tmp_path, b"abc", "present"), 3)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}
        self.client(settings["endpoint_url"]).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return url, settings

    def throttled_remote(self):
        stub = self.stub(503, s3_error_body("SlowDown", "Please reduce your request rate."),
                         {"Content-Type": "application/xml"})
        self.request.getfixturevalue("aws_env")
        return stub, "s3://anybucket/models", {"endpoint_url": stub.endpoint, "retries": 1}, ("throttling", "SlowDown")

    def no_credentials(self):
        endpoint = self.request.getfixturevalue("s3_server")
        self.request.getfixturevalue("aws_env")
        self.monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        self.monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        return "s3://anybucket/models", {"endpoint_url": endpoint}

    def absent_credentials(self, tmp_path):
        """Settings naming a credential source that does not exist, and the name the error must repeat."""
        endpoint = self.request.getfixturevalue("s3_server")
        self.request.getfixturevalue("aws_env")
        return "s3://anybucket/models", {"endpoint_url": endpoint, "profile": "nosuchprofile"}, "nosuchprofile"


class GCS(Kind):
    private_fixture = "gcs_server_private"
    denies_listing = True
    settings = {"chunk_size": "1MiB", "jobs": 2, "retry_timeout": 5}  # noqa: RUF012
    upload_size = 9 * MiB + 5  # resumable: above 8 MiB
    download_size = 5 * MiB + 3  # six ranged reads of 1 MiB
    credentials_hint = "gcloud auth application-default login"

    def new_remote(self):
        url, settings = self.request.getfixturevalue("gcs_remote")
        self._direct = self.request.getfixturevalue("gcs_server")
        return url, {**settings, **self.settings}

    def private_remote(self):
        url, settings = super().private_remote()
        self._direct = self.server.direct_endpoint
        return url, settings

    def reach(self, url):
        endpoint = self.server.endpoint if "server" in self.__dict__ else self._unreachable
        return rf"gs://{re.escape(url.split('/')[2])} \({re.escape(endpoint)}\)"

    def overwrite(self, url, key, data, settings):
        """Write an object behind the backend's back, straight into the emulator."""
        bucket, _, prefix = url[len("gs://"):].partition("/")
        query = urllib.parse.urlencode({"uploadType": "media", "name": f"{prefix}/{key}"})
        request = urllib.request.Request(f"{self._direct}/upload/storage/v1/b/{bucket}/o?{query}", data=data,
                                         method="POST", headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def unreachable_remote(self):
        self.request.getfixturevalue("gcs_env")
        self._unreachable = f"http://{HOST}:{free_port()}"
        self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", self._unreachable)
        return "gs://somebucket/models", dict(self.settings)

    def missing(self):
        self.request.getfixturevalue("gcs_env")
        self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", self.request.getfixturevalue("gcs_server"))
        return f"gs://gm-absent-{uuid.uuid4().hex[:8]}/models", dict(self.settings)

    def denied_remote(self, tmp_path):
        """The emulator grants everything; a stub answers 403 the way GCS does."""
        message = "gitmodels-ci@example.iam.gserviceaccount.com does not have storage.objects.get access"
        stub = self.stub(403, gcs_error_body(403, message), {"Content-Type": "application/json"})
        self.request.getfixturevalue("gcs_env")
        self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", stub.endpoint)
        return "gs://locked/models", dict(self.settings)

    def throttled_remote(self):
        stub = self.stub(503, gcs_error_body(503, "backend unavailable"), {"Content-Type": "application/json"})
        self.request.getfixturevalue("gcs_env")
        self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", stub.endpoint)
        return stub, "gs://anybucket/models", {**self.settings, "retry_timeout": 0}, ("503",)

    def no_credentials(self):
        import google.auth._default

        self.request.getfixturevalue("gcs_env")
        # not on Google Cloud: skip google-auth's metadata-server probe (seconds of timeouts)
        self.monkeypatch.setattr(google.auth._default, "_get_gce_credentials", lambda *a, **k: (None, None))
        return "gs://anybucket/models", dict(self.settings)

    def absent_credentials(self, tmp_path):
        self.request.getfixturevalue("gcs_env")
        return ("gs://anybucket/models", {**self.settings, "credentials_file": str(tmp_path / "absent.json")},
                "absent.json")


class Azure(Kind):
    private_fixture = "azurite_server_private"
    settings = {"block_size": "1MiB", "jobs": 2, "retries": 1}  # noqa: RUF012
    credentials_hint = "AZURE_STORAGE_CONNECTION_STRING"

    def overwrite(self, url, key, data, settings):
        container, _, prefix = url[len("az://"):].partition("/")
        azure_container(self.server.direct_endpoint, container).upload_blob(f"{prefix}/{key}", data, overwrite=True)

    def missing(self):
        self.server  # noqa: B018 - Azurite running, the account known: only the container is absent
        return f"az://gm-absent-{uuid.uuid4().hex[:8]}/models", dict(self.settings)

    def no_credentials(self):
        self.request.getfixturevalue("azure_env")
        return "az://container/models", {}


class SSH(Kind):
    private_fixture = "sshd_server_private"
    settings = {"part_size": "1MiB", "jobs": 2}  # noqa: RUF012

    def overwrite(self, url, key, data, settings):
        replace_file(os.path.join(urlsplit(url).path, key), data)

    def missing(self):
        url, settings = self.private_remote()
        return url + "-absent", settings

    def missing_name(self, url):
        return urlsplit(url).path


class HTTP(Kind):
    """The session's nginx behind a proxy of this test's own; objects are published by writing files."""

    @functools.cached_property
    def server(self):
        server = LoopbackProxy(self.nginx.port).start()
        self.request.addfinalizer(server.stop)
        return server

    @property
    def nginx(self):
        return self.request.getfixturevalue("nginx_server")

    def private_remote(self):
        name = uuid.uuid4().hex[:12]
        os.makedirs(os.path.join(self.nginx.www, name, "models"))
        return f"{self.server.endpoint}/{name}/models", {}

    def overwrite(self, url, key, data, settings):
        replace_file(os.path.join(self.nginx.www, urlsplit(url).path.lstrip("/"), key), data)

    def missing(self):
        return f"{self.server.endpoint}/absent-{uuid.uuid4().hex[:8]}/models", {}

    def throttled_remote(self):
        stub = self.stub(503)
        return stub, f"{stub.endpoint}/models", {}, ()


KINDS = {"s3": S3, "gcs": GCS, "azure": Azure, "ssh": SSH, "http": HTTP}
ALL = sorted(KINDS)
WRITABLE = ["azure", "gcs", "s3", "ssh"]
CLOUD = ["gcs", "s3"]


@pytest.fixture
def kind(request):
    return KINDS[request.param](request)


def put(kind, backend, url, settings, key, data, tmp_path):
    if backend.read_only:
        kind.overwrite(url, key, data, settings)
    else:
        backend.upload(key, write(tmp_path, data, f"src-{uuid.uuid4().hex[:6]}"), len(data))


# -- the faults ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", WRITABLE, indirect=True)
def test_server_stops_mid_upload_then_rerun_completes(kind, tmp_path):
    url, settings = kind.private_remote()
    backend = open_backend(url, settings)
    data = seeded_bytes(1, kind.upload_size)
    key = object_key(hashlib.sha256(data).hexdigest())
    src = write(tmp_path, data)

    cut = StopAfterFirstBytes(kind.server)
    with pytest.raises(RemoteUnreachable) as info:
        backend.upload(key, src, len(data), cut)
    assert cut.fired
    assert_one_line(info.value)
    assert re.fullmatch(rf"cannot reach {kind.reach(url)}: {CUT}", str(info.value)), str(info.value)

    kind.server.start()
    assert backend.stat(key) is None  # no partial object became visible
    assert backend.exists_many([key]) == set()
    backend.upload(key, src, len(data))
    dst = tmp_path / "dst"
    digest = backend.download(key, str(dst))
    assert dst.read_bytes() == data and digest in (None, hashlib.sha256(data).hexdigest())
    assert [k for k, _ in backend.list()] == [key]  # no temp file, staged block or upload session left visible


@pytest.mark.parametrize("kind", ALL, indirect=True)
def test_server_stops_mid_download_then_rerun_completes(kind, tmp_path):
    url, settings = kind.private_remote()
    backend = open_backend(url, settings)
    data = seeded_bytes(2, kind.download_size)
    put(kind, backend, url, settings, "big", data, tmp_path)

    dst = tmp_path / "dst"
    dst.write_bytes(b"")
    with pytest.raises(RemoteUnreachable) as info:
        backend.download("big", str(dst), StopAfterFirstBytes(kind.server))
    assert_one_line(info.value)

    kind.server.start()
    dst.write_bytes(b"")
    backend.download("big", str(dst))
    assert dst.read_bytes() == data
    assert backend.read_range("big", MiB - 10, 20) == data[MiB - 10:MiB + 10]


@pytest.mark.parametrize("kind", ALL, indirect=True)
def test_unreachable_server_is_one_clear_line(kind):
    url, settings = kind.unreachable_remote()
    raw = open_backend(url, settings, retry=False)
    with pytest.raises(TransientError) as info:  # retried by the wrapper ...
        raw.stat("k")
    assert isinstance(info.value, RemoteUnreachable)
    backend = open_backend(url, settings)
    with pytest.raises(RemoteUnreachable) as info:  # ... and then surfaced as "cannot reach"
        backend.exists_many([object_key(f"{i:064x}") for i in range(5)])
    assert_one_line(info.value)
    assert "connection refused" in str(info.value)
    assert re.fullmatch(rf"cannot reach {kind.reach(url)}: connection refused", str(info.value)), str(info.value)


@pytest.mark.parametrize("kind", ALL, indirect=True)
def test_corrupt_object_is_returned_as_is(kind, tmp_path):
    """Backends move bytes; the transfer layer's hash check is what catches a corrupted object."""
    url, settings = kind.new_remote()
    backend = open_backend(url, settings)
    data = b"the real model bytes"
    oid = hashlib.sha256(data).hexdigest()
    put(kind, backend, url, settings, object_key(oid), data, tmp_path)
    kind.overwrite(url, object_key(oid), b"rotten", settings)
    dst = tmp_path / "dst"
    digest = backend.download(object_key(oid), str(dst))
    assert dst.read_bytes() == b"rotten"
    assert (digest or hashlib.sha256(dst.read_bytes()).hexdigest()) != oid


@pytest.mark.parametrize("kind", ALL, indirect=True)
def test_absent_key_is_key_not_found(kind, tmp_path):
    """An absent key is KeyNotFound (what the transfer layer reports as missing), not a bucket or access error."""
    backend = open_backend(*kind.new_remote())
    assert backend.stat(object_key("b" * 64)) is None
    with pytest.raises(KeyNotFound):
        backend.download(object_key("b" * 64), str(tmp_path / "dst"))


@pytest.mark.parametrize("kind", WRITABLE, indirect=True)
def test_missing_bucket_container_or_directory(kind, tmp_path):
    url, settings = kind.missing()
    for call in (lambda b: b.stat(object_key("a" * 64)),
                 lambda b: b.exists_many([object_key(f"{i:064x}") for i in range(4)]),
                 lambda b: b.download("k", str(tmp_path / "dst")),
                 lambda b: b.upload("k", write(tmp_path, b"x"), 1),
                 lambda b: list(b.list())):
        backend = open_backend(url, settings)  # a fresh backend: nothing known about the bucket
        with pytest.raises(BucketMissing) as info:
            call(backend)
        assert_one_line(info.value)
        assert kind.missing_name(url) in str(info.value)


@pytest.mark.parametrize("kind", CLOUD, indirect=True)
def test_access_denied(kind, tmp_path):
    url, settings = kind.denied_remote(tmp_path)
    backend = open_backend(url, settings)
    on_objects = (lambda: backend.upload("k", write(tmp_path, b"x"), 1),
                  lambda: backend.download("present", str(tmp_path / "dst")),
                  lambda: backend.stat("present"),
                  lambda: backend.read_range("present", 0, 1),
                  lambda: backend.delete("present"))
    listing = (lambda: list(backend.list()),) if kind.denies_listing else ()
    for call in (*on_objects, *listing):
        with pytest.raises(AccessDenied) as info:
            call()
        assert_one_line(info.value)
        assert url in str(info.value)
        if call in on_objects:
            assert f"{url}/" in str(info.value)  # the object's key is named


@pytest.mark.parametrize("kind", ["gcs", "http", "s3"], indirect=True)
def test_throttling_and_server_errors_are_retried_then_reported(kind):
    stub, url, settings, words = kind.throttled_remote()
    backend = open_backend(url, settings)
    with pytest.raises(TransientError) as info:
        backend.read_range("objects/aa/" + "a" * 64, 0, 10)
    assert stub.requests > 1  # the wrapper retried
    for word in words:
        assert word in str(info.value)
    assert_one_line(info.value)


@pytest.mark.parametrize("kind", ["azure", "gcs", "s3"], indirect=True)
def test_no_credentials(kind):
    backend = open_backend(*kind.no_credentials())
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert kind.credentials_hint in info.value.hint


@pytest.mark.parametrize("kind", CLOUD, indirect=True)
def test_named_credentials_that_do_not_exist(kind, tmp_path):
    """An unknown AWS profile, an absent credentials file: the error names it."""
    url, settings, name = kind.absent_credentials(tmp_path)
    backend = open_backend(url, settings)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert name in str(info.value)


# -- faults of one kind ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["http"], indirect=True)
def test_http_cannot_tell_a_missing_prefix_from_a_missing_key(kind, tmp_path):
    """A static server answers 404 for both: an absent key, never a crash or a false hit."""
    url, settings = kind.missing()
    backend = open_backend(url, settings)
    assert backend.stat(object_key("a" * 64)) is None
    with pytest.raises(KeyNotFound):
        backend.download("k", str(tmp_path / "dst"))


def test_azure_wrong_account_key(azurite_server_private, tmp_path, monkeypatch):
    url, settings = azurite_server_private.new_remote()
    wrong = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       azurite_connection_string(azurite_server_private.endpoint, key=wrong))
    backend = open_backend(url, settings)
    for call in (lambda: backend.stat("k"), lambda: backend.upload("k", write(tmp_path, b"x"), 1)):
        with pytest.raises((CredentialsError, AccessDenied)) as info:
            call()
        assert_one_line(info.value)


def test_ssh_key_not_authorized(sshd_server_private, isolated_git, tmp_path):
    url, settings = sshd_server_private.new_remote()
    own = os.path.join(isolated_git["HOME"], ".ssh", "id_ed25519")
    os.unlink(own)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", own], check=True)  # a key sshd does not know
    backend = open_backend(url, settings)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "refused the login" in str(info.value)


def test_ssh_unknown_host_key_is_refused(sshd_server_private, isolated_git):
    url, settings = sshd_server_private.new_remote()
    os.unlink(os.path.join(isolated_git["HOME"], ".ssh", "known_hosts"))
    backend = open_backend(url, settings)
    with pytest.raises(CredentialsError) as info:
        backend.stat("k")
    assert_one_line(info.value)
    assert "not in known_hosts" in str(info.value)


def test_http_credentials(tmp_path, monkeypatch):
    """401 and 403 from a static server; a token variable that is set is sent, one that is unset is an error."""
    for status, error in ((401, CredentialsError), (403, AccessDenied)):
        stub = StubServer(status)
        try:
            backend = open_backend(f"{stub.endpoint}/models", {})
            with pytest.raises(error) as info:
                backend.read_range("objects/aa/" + "a" * 64, 0, 10)
            assert_one_line(info.value)
        finally:
            stub.close()
    monkeypatch.setenv("MODELS_TOKEN", "s3cret")
    stub = StubServer(404)
    try:
        assert open_backend(f"{stub.endpoint}/m", {"token_env": "MODELS_TOKEN"}).stat("k") is None
    finally:
        stub.close()
    with pytest.raises(CredentialsError):
        open_backend(f"http://{HOST}:{free_port()}/m", {"token_env": "UNSET_TOKEN_VAR"}).stat("k")
