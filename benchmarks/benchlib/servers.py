"""moto, Azurite and a throwaway OpenSSH sshd on loopback, started and stopped by the harness.

The same setup as tests/servers.py (which is a pytest plugin, so the harness keeps its own small
copy): Azurite's well-known development account, and an sshd with its own host key, user key and
authorized_keys. The client side of SSH lives in a HOME of the run's own (`~/.ssh/id_ed25519`,
`~/.ssh/known_hosts`), so gitmodels (paramiko) and DVC (asyncssh) both check the host key and log
in with the same key, and nothing of the user's own ~/.ssh is read.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .env import S3_KEY, free_port

HOST = "127.0.0.1"
# Azurite's well-known development account (public, in Microsoft's docs): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class _Server:
    """A subprocess on a loopback port, ready when `ready()` says so."""

    name = "?"

    def _start(self, argv: list[str], logdir: str) -> None:
        self._log = open(os.path.join(logdir, f"{self.name}.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within 60 s")

    def ready(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self._log.close()


class MotoServer(_Server):
    """`moto_server` on 127.0.0.1:PORT, started and stopped by this harness."""

    name = "moto"

    def __init__(self, logdir: str):
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
        self._start([exe, "-H", HOST, "-p", str(self.port)], logdir)

    def ready(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2).read()
            return True
        except Exception:  # noqa: BLE001
            return False

    def client(self):
        import boto3  # the harness's own interpreter; only needed for S3 workloads
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY)

    def reset(self) -> None:
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=60).read()

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def bucket_bytes(self, name: str) -> tuple[int, int]:
        """(total bytes, object count) in a bucket."""
        c = self.client()
        total = count = 0
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                total += obj["Size"]
                count += 1
        return total, count


class AzuriteServer(_Server):
    """`azurite-blob` with in-memory persistence (containers are deleted after each timed step)."""

    name = "azurite"

    def __init__(self, logdir: str):
        exe = shutil.which("azurite-blob")
        if exe is None:
            raise RuntimeError("azurite-blob not found (npm install -g azurite)")
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                                  f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT};")
        self._start([exe, "--inMemoryPersistence", "--blobHost", HOST, "--blobPort", str(self.port),
                     "--skipApiVersionCheck", "--disableTelemetry", "--silent"], logdir)

    def ready(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2).read()
        except urllib.error.HTTPError:
            return True  # it answers (400 for a request without an account)
        except Exception:  # noqa: BLE001
            return False
        return True

    def _service(self):
        # the harness's own interpreter has it; only the az rows need it
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def make_container(self, name: str) -> None:
        self._service().create_container(name)

    def drop_container(self, name: str) -> None:
        self._service().delete_container(name)

    def container_bytes(self, name: str) -> tuple[int, int]:
        total = count = 0
        for blob in self._service().get_container_client(name).list_blobs():
            total += blob.size
            count += 1
        return total, count


class SshServer(_Server):
    """OpenSSH's sshd on loopback with throwaway keys; `home` is the client's HOME for the tools."""

    name = "sshd"

    def __init__(self, workdir: str):
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
        keygen = shutil.which("ssh-keygen")
        if sshd is None or keygen is None:
            raise RuntimeError("sshd / ssh-keygen not found (apt-get install openssh-server)")
        folder = os.path.join(workdir, "sshd")
        os.makedirs(folder)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        host_key = os.path.join(folder, "host_ed25519")
        user_key = os.path.join(folder, "user_ed25519")
        for path in (host_key, user_key):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "gitmodels-bench", "-f", path],
                           check=True)
        authorized = os.path.join(folder, "authorized_keys")
        shutil.copyfile(user_key + ".pub", authorized)
        config = os.path.join(folder, "sshd_config")
        with open(config, "w") as f:
            f.write(f"HostKey {host_key}\nAuthorizedKeysFile {authorized}\nStrictModes no\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin prohibit-password\nUsePAM no\nSubsystem sftp internal-sftp\n"
                    "MaxStartups 200\nMaxSessions 64\nLogLevel ERROR\n"
                    f"PidFile {os.path.join(folder, 'sshd.pid')}\n")
        self.port = free_port()
        # the client side: a HOME with the user key and the host key in known_hosts
        self.home = os.path.join(workdir, "ssh-home")
        dot = os.path.join(self.home, ".ssh")
        os.makedirs(dot, mode=0o700)
        self.keyfile = os.path.join(dot, "id_ed25519")
        shutil.copyfile(user_key, self.keyfile)
        os.chmod(self.keyfile, 0o600)
        with open(host_key + ".pub") as f:
            host_public = " ".join(f.read().split()[:2])
        with open(os.path.join(dot, "known_hosts"), "w") as f:
            f.write(f"[{HOST}]:{self.port} {host_public}\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
        self._start([sshd, "-D", "-e", "-f", config, "-p", str(self.port), "-o", f"ListenAddress={HOST}"], workdir)

    def ready(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=2) as sock:
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def url(self, path: str) -> str:
        return f"ssh://{self.user}@{HOST}:{self.port}{path}"
