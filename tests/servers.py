"""Real storage servers on loopback for the tests (a pytest plugin: the root conftest loads it).

- `s3_server` / `gcs_server` (session): a moto_server / gcp-storage-emulator
  subprocess on a free 127.0.0.1 port; the value is the endpoint URL.
- `s3_remote` / `gcs_remote` (function): a fresh bucket on that server, as
  `(url, settings)` ready for `open_backend(url, settings)`, with the
  environment set up (fake AWS keys; STORAGE_EMULATOR_HOST).
- `s3_server_private` / `gcs_server_private` (function): a server of the
  test's own behind a loopback proxy, for fault tests. `.stop()` cuts every
  connection and refuses new ones, as a dead server would; `.start()`
  serves again on the same port with the data intact; `.new_remote()` gives
  `(url, settings)` for a fresh bucket; `.kill_server()` really kills the
  process (its data are lost; `.start()` brings up an empty one).
- `StubServer`: an HTTP server that answers every request the same way
  (a 403, a 503), for failures the emulators cannot produce.
"""

from __future__ import annotations

import atexit
import contextlib
import http.server
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.requires import require_tool

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the listening socket on loopback `port` (Linux /proc; elsewhere assume so).

    Guards against a neighbour (another test session) taking the port between
    free_port() and the server's bind: its server would answer our readiness check.
    """
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    inodes = {row.split()[9] for row in rows
              if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"}  # 0A: LISTEN
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:  # an answer all the same (Azurite answers 400 to a bare GET /)
        return exc.code < 500
    except OSError:
        return False


class ServerProcess:
    """A server subprocess on a fixed loopback port: start, stop, start again."""

    _all: list["ServerProcess"] = []

    def __init__(self, name: str, argv: list[str], port: int | None = None, ready_path: str = "/", ready=None):
        self.ready = ready or (lambda: _http_ok(self.endpoint + self.ready_path))
        self.name = name
        self.argv_template = argv
        self.port = port or free_port()
        self.ready_path = ready_path
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(tempfile.gettempdir(), f"gitmodels-test-{name}-{uuid.uuid4().hex[:8]}.log")
        ServerProcess._all.append(self)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "ServerProcess":
        if self.proc is not None and self.proc.poll() is None:
            return self
        argv = [a.format(port=self.port, host=HOST) for a in self.argv_template]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.ready() and _listens(self.proc.pid, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        with open(self.log_path, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        raise RuntimeError(f"{self.name} did not start on port {self.port}:\n{tail}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def _stop_every_server() -> None:
    for server in ServerProcess._all:
        server.stop()


def moto_process(port: int | None = None) -> ServerProcess:
    return ServerProcess("moto", [sys.executable, "-m", "moto.server", "-H", "{host}", "-p", "{port}"],
                         port, ready_path="/moto-api/")


# The emulator serves one request at a time from a listen backlog of 5: a sixth
# concurrent client's SYN is dropped and retried a second later. A deeper
# backlog keeps parallel transfers from stalling on that.
_GCS_BOOT = ("import sys, socketserver; socketserver.TCPServer.request_queue_size = 128; "
             "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])")


def gcs_process(port: int | None = None) -> ServerProcess:
    return ServerProcess("gcs-emulator", [sys.executable, "-c", _GCS_BOOT, "start", "--host", "{host}",
                                          "--port", "{port}", "--in-memory", "-q"], port)


AZURITE_INSTALL = "npm install -g azurite"
# Azurite's well-known development account (public, in Microsoft's docs): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_process(port: int | None = None) -> ServerProcess:
    binary = require_tool("azurite-blob", AZURITE_INSTALL)
    return ServerProcess("azurite", [binary, "--inMemoryPersistence", "--blobHost", "{host}", "--blobPort", "{port}",
                                     "--skipApiVersionCheck", "--disableTelemetry", "--silent"], port)


def azurite_connection_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};")


SSHD_INSTALL = "apt-get update && apt-get install -y openssh-server"


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


class SSHKeys:
    """A throwaway host key, user key and authorized_keys file, and the sshd config that uses them."""

    def __init__(self, folder: str):
        import pwd

        keygen = require_tool("ssh-keygen", SSHD_INSTALL)
        self.folder = folder
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = os.path.join(folder, "host_ed25519")
        self.user_key = os.path.join(folder, "user_ed25519")
        for path in (self.host_key, self.user_key):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "gitmodels-test", "-f", path], check=True)
        with open(self.host_key + ".pub") as f:
            self.host_public = " ".join(f.read().split()[:2])
        self.authorized = os.path.join(folder, "authorized_keys")
        with open(self.user_key + ".pub") as src, open(self.authorized, "w") as dst:
            dst.write(src.read())
        self.config = os.path.join(folder, "sshd_config")
        with open(self.config, "w") as f:
            f.write(f"HostKey {self.host_key}\nAuthorizedKeysFile {self.authorized}\nStrictModes no\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin prohibit-password\nUsePAM no\nSubsystem sftp internal-sftp\n"
                    "MaxStartups 200\nMaxSessions 64\nLogLevel ERROR\n"
                    f"PidFile {os.path.join(folder, 'sshd.pid')}\n")

    def install_client(self, home: str, *ports: int) -> None:
        """The user's side in `home`: ~/.ssh/id_ed25519 and known_hosts entries for `ports` on loopback."""
        ssh = os.path.join(home, ".ssh")
        os.makedirs(ssh, mode=0o700, exist_ok=True)
        with open(self.user_key) as src, open(os.path.join(ssh, "id_ed25519"), "w") as dst:
            dst.write(src.read())
        os.chmod(os.path.join(ssh, "id_ed25519"), 0o600)
        with open(os.path.join(ssh, "known_hosts"), "a") as f:
            for port in ports:
                f.write(f"[{HOST}]:{port} {self.host_public}\n")


def sshd_process(keys: SSHKeys, port: int | None = None) -> ServerProcess:
    import shutil

    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if sshd is None:
        pytest.fail(f"sshd is not installed; install it with: {SSHD_INSTALL}", pytrace=False)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
    server = ServerProcess("sshd", [sshd, "-D", "-e", "-f", keys.config, "-p", "{port}", "-o", "ListenAddress={host}"],
                           port)
    server.ready = lambda: _ssh_banner(server.port)
    return server


NGINX_INSTALL = "apt-get update && apt-get install -y nginx-light"


def nginx_process(www: str, port: int | None = None) -> ServerProcess:
    """nginx serving `www` as static files: HEAD, GET and Range requests, as a CDN would.

    (Python's http.server ignores Range headers, so it cannot stand in for one.)
    """
    import shutil

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        pytest.fail(f"nginx is not installed; install it with: {NGINX_INSTALL}", pytrace=False)
    folder = tempfile.mkdtemp(prefix="gitmodels-nginx-")
    server = ServerProcess("nginx", [nginx, "-p", folder, "-c", os.path.join(folder, "nginx.conf")], port)
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(os.path.join(folder, "nginx.conf"), "w") as f:
        f.write(f"daemon off; master_process on; worker_processes 1; pid {folder}/nginx.pid;\n"
                + ("user root;\n" if os.getuid() == 0 else "")
                + f"error_log stderr error;\nevents {{ worker_connections 512; }}\n"
                f"http {{ access_log off; {temp} default_type application/octet-stream;\n"
                f"  server {{ listen {HOST}:{server.port}; root {www}; location / {{ }} }} }}\n")
    return server


def start_with_retry(make) -> ServerProcess:
    """Start a server on a fresh free port, trying again if another process took the port first."""
    for attempt in range(3):
        server = make()
        try:
            return server.start()
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class LoopbackProxy:
    """A TCP forwarder on its own loopback port that can be cut and restored.

    `stop()` resets every open connection and closes the port (clients see
    "connection reset" then "connection refused", as with a dead server);
    `start()` listens on the same port again.

    Each socket is used and closed by the one thread that owns it: `stop()` only
    wakes the threads and waits for them. Closing a socket under another thread's
    feet lets the kernel hand its number to a new socket while that thread still
    writes to it, and the old bytes land in a new connection (a 400 from moto in CI).
    """

    def __init__(self, target_port: int, port: int | None = None):
        self.target_port = target_port
        self.port = port or free_port()
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "LoopbackProxy":
        if self._wake is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self._wake = socket.socketpair()
        self._threads = []
        self._spawn(self._accept, listener, self._wake[0])
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket, wake: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([listener, wake], [], [])
                if wake in ready:
                    return
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                try:
                    upstream = socket.create_connection((HOST, self.target_port))
                except OSError:
                    self._reset(client)
                    continue
                self.connections += 1
                self._spawn(self._forward, client, upstream, wake)
        finally:
            listener.close()

    def _forward(self, client: socket.socket, upstream: socket.socket, wake: socket.socket) -> None:
        """Copy bytes both ways until both sides are done (close) or `stop()` or an error (reset)."""
        peer = {client: upstream, upstream: client}
        pending = {client: bytearray(), upstream: bytearray()}  # bytes still to write to that socket
        ended: set[socket.socket] = set()  # sockets that sent EOF
        shut: set[socket.socket] = set()  # sockets whose write side is shut
        for sock in peer:
            sock.setblocking(False)
        try:
            while True:
                readable = [s for s in peer if s not in ended and len(pending[peer[s]]) < 1024 * 1024]
                writable = [s for s in peer if pending[s]]
                ready, can_write, _ = select.select([wake, *readable], writable, [])
                if wake in ready:
                    return
                for sock in ready:
                    try:
                        data = sock.recv(256 * 1024)
                    except BlockingIOError:
                        continue
                    if data:
                        pending[peer[sock]] += data
                    else:
                        ended.add(sock)
                for sock in can_write:
                    with contextlib.suppress(BlockingIOError):
                        del pending[sock][:sock.send(pending[sock])]
                for sock in peer:
                    if peer[sock] in ended and not pending[sock] and sock not in shut:
                        sock.shutdown(socket.SHUT_WR)
                        shut.add(sock)
                if len(shut) == 2:
                    return
        except OSError:
            return
        finally:
            for sock in peer:
                if len(shut) == 2:  # both ways done: an orderly close
                    sock.close()
                else:
                    self._reset(sock)

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    def stop(self) -> None:
        wake, self._wake = self._wake, None
        if wake is None:
            return
        wake[1].send(b"x")  # never read: stays readable for every thread
        with self._lock:
            accept, *_ = self._threads
        accept.join(timeout=5)  # no thread is spawned after this one ends
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        if not any(t.is_alive() for t in threads):
            wake[0].close()
            wake[1].close()


class PrivateServer:
    """A test's own server behind a LoopbackProxy (see the module docstring)."""

    def __init__(self, process: ServerProcess, kind: str, monkeypatch):
        self.process = process
        self.kind = kind
        self.monkeypatch = monkeypatch
        self.proxy = LoopbackProxy(process.port).start()
        if kind == "gs":
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", self.endpoint)
        if kind == "az":
            monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(self.endpoint))
        self.ssh_keys: SSHKeys | None = None
        self.ssh_root: str | None = None

    @property
    def endpoint(self) -> str:
        """What clients use: the proxy."""
        return self.proxy.endpoint

    @property
    def direct_endpoint(self) -> str:
        """The server itself, for setting up and inspecting behind the client's back."""
        return self.process.endpoint

    def stop(self) -> None:
        self.proxy.stop()

    def start(self) -> None:
        self.process.start()
        self.proxy.start()

    def kill_server(self) -> None:
        self.proxy.stop()
        self.process.stop()

    def new_bucket(self) -> str:
        name = f"gm-{uuid.uuid4().hex[:12]}"
        {"s3": create_s3_bucket, "gs": create_gcs_bucket, "az": create_azure_container}[self.kind](
            self.direct_endpoint, name)
        return name

    def new_remote(self, prefix: str = "models", **settings) -> tuple[str, dict]:
        if self.kind == "ssh":
            root = os.path.join(self.ssh_root, uuid.uuid4().hex[:12], prefix)
            os.makedirs(root)
            return f"ssh://{self.ssh_keys.user}@{HOST}:{self.proxy.port}{root}", dict(settings)
        url = f"{self.kind}://{self.new_bucket()}/{prefix}"
        if self.kind == "s3":
            return url, {"endpoint_url": self.endpoint, **settings}
        return url, dict(settings)

    def close(self) -> None:
        self.proxy.stop()
        self.process.stop()


class StubServer:
    """Answers every request with one status, headers and body; counts the requests."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        stub = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                stub.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def s3_error_body(code: str, message: str) -> bytes:
    return f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def gcs_error_body(code: int, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message,
                                 "errors": [{"message": message, "domain": "global"}]}}).encode()


# -- bucket creation, straight to the server -------------------------------------

def create_s3_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=name)


def create_gcs_bucket(endpoint: str, name: str, project: str = "gitmodels-test") -> None:
    request = urllib.request.Request(f"{endpoint}/storage/v1/b?project={project}", method="POST",
                                     data=json.dumps({"name": name}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def azure_container(endpoint: str, name: str):
    from azure.storage.blob import ContainerClient

    return ContainerClient.from_connection_string(azurite_connection_string(endpoint), name)


def create_azure_container(endpoint: str, name: str) -> None:
    azure_container(endpoint, name).create_container()


# -- environment -----------------------------------------------------------------

_AWS_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN",
             "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake AWS keys, and nothing from the developer's own ~/.aws or an instance role."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def gcs_env(monkeypatch, tmp_path):
    """No Google credentials from the developer's machine, and no metadata-server probing."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud-absent"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", f"{HOST}:9")
    monkeypatch.setenv("GCE_METADATA_IP", f"{HOST}:9")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "gitmodels-test")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


_AZURE_VARS = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
               "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")


@pytest.fixture
def azure_env(monkeypatch):
    """No Azure account or identity from the developer's machine."""
    for var in _AZURE_VARS:
        monkeypatch.delenv(var, raising=False)


# -- fixtures --------------------------------------------------------------------

@pytest.fixture(scope="session")
def s3_server():
    server = start_with_retry(moto_process)
    yield server.endpoint
    server.stop()


@pytest.fixture
def s3_remote(s3_server, aws_env):
    bucket = f"gm-{uuid.uuid4().hex[:12]}"
    create_s3_bucket(s3_server, bucket)
    yield f"s3://{bucket}/models", {"endpoint_url": s3_server}


@pytest.fixture
def s3_requests(monkeypatch) -> list[tuple[str, str]]:
    """(method, url) of every HTTP request gitmodels' S3 clients send from now on, as they go on the wire
    (botocore's before-send event: retries included); clear it between the steps a test counts."""
    from gitmodels.remotes import s3

    sent: list[tuple[str, str]] = []
    make_client = s3.S3Backend._make_client

    def counting_client(self):
        client = make_client(self)
        client.meta.events.register("before-send.s3", lambda request, **_: sent.append((request.method, request.url)))
        return client

    monkeypatch.setattr(s3.S3Backend, "_make_client", counting_client)
    return sent


@pytest.fixture
def s3_server_private(aws_env, monkeypatch):
    server = PrivateServer(start_with_retry(moto_process), "s3", monkeypatch)
    yield server
    server.close()


@pytest.fixture(scope="session")
def gcs_server():
    server = start_with_retry(gcs_process)
    yield server.endpoint
    server.stop()


@pytest.fixture
def gcs_remote(gcs_server, gcs_env, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    bucket = f"gm-{uuid.uuid4().hex[:12]}"
    create_gcs_bucket(gcs_server, bucket)
    yield f"gs://{bucket}/models", {"project": "gitmodels-test"}


@pytest.fixture
def gcs_server_private(gcs_env, monkeypatch):
    server = PrivateServer(start_with_retry(gcs_process), "gs", monkeypatch)
    yield server
    server.close()


@pytest.fixture(scope="session")
def azurite_server():
    server = start_with_retry(azurite_process)
    yield server.endpoint
    server.stop()


@pytest.fixture
def azure_remote(azurite_server, azure_env, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(azurite_server))
    container = f"gm-{uuid.uuid4().hex[:12]}"
    create_azure_container(azurite_server, container)
    yield f"az://{container}/models", {}


@pytest.fixture
def azurite_server_private(azure_env, monkeypatch):
    server = PrivateServer(start_with_retry(azurite_process), "az", monkeypatch)
    yield server
    server.close()


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    """A real OpenSSH server on loopback, with its throwaway keys (`.keys`)."""
    keys = SSHKeys(str(tmp_path_factory.mktemp("sshd")))
    server = start_with_retry(lambda: sshd_process(keys))
    server.keys = keys
    yield server
    server.stop()


@pytest.fixture
def ssh_remote(sshd_server, tmp_path, isolated_git, monkeypatch):
    """A fresh remote directory reached over ssh, with the key and known_hosts in the test's HOME."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    keys = sshd_server.keys
    keys.install_client(isolated_git["HOME"], sshd_server.port)
    root = tmp_path / "ssh-remote" / "models"
    root.mkdir(parents=True)
    yield f"ssh://{keys.user}@{HOST}:{sshd_server.port}{root}", {}


@pytest.fixture
def sshd_server_private(tmp_path, isolated_git, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / "sshd-keys").mkdir()
    keys = SSHKeys(str(tmp_path / "sshd-keys"))
    server = PrivateServer(start_with_retry(lambda: sshd_process(keys)), "ssh", monkeypatch)
    server.ssh_keys = keys
    server.ssh_root = str(tmp_path / "ssh-remotes")
    keys.install_client(isolated_git["HOME"], server.proxy.port)
    yield server
    server.close()


@pytest.fixture(scope="session")
def nginx_server(tmp_path_factory):
    """nginx on loopback serving a folder (`.www`): a read-only HTTP remote is a remote's layout published there."""
    www = tmp_path_factory.mktemp("www")
    server = start_with_retry(lambda: nginx_process(str(www)))
    server.www = str(www)
    yield server
    server.stop()


@pytest.fixture
def http_remote(nginx_server):
    """(url, settings, folder): the remote's URL, and the folder nginx serves it from (write there to publish)."""
    name = uuid.uuid4().hex[:12]
    folder = os.path.join(nginx_server.www, name, "models")
    os.makedirs(folder)
    yield f"{nginx_server.endpoint}/{name}/models", {}, folder
