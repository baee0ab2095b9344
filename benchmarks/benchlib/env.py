"""The bench environment: installing DVC and Git LFS, machine facts, page-cache dropping,
free ports and a byte-counting TCP proxy (in front of moto; the servers are in servers.py)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time

from .proc import run

CACHE_DIR = os.path.join(os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache")),
                         "gitmodels-bench")
DVC_VENV = os.path.join(CACHE_DIR, "dvc-venv")
DVC_BIN = os.path.join(DVC_VENV, "bin", "dvc")

S3_KEY = "testing"  # moto accepts any credentials


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- installing the competitors

DVC_PLUGINS = ("dvc_s3", "dvc_azure", "dvc_ssh")  # the remotes' plugins: dvc[s3,azure,ssh]


def _dvc_plugins() -> dict[str, str]:
    """{plugin module: version} of the DVC_PLUGINS installed in the DVC venv (from their dist-info)."""
    found: dict[str, str] = {}
    lib = os.path.join(DVC_VENV, "lib")
    for d in os.listdir(lib) if os.path.isdir(lib) else ():
        site = os.path.join(lib, d, "site-packages")
        for name in os.listdir(site) if os.path.isdir(site) else ():
            pkg, _, ver = name.removesuffix(".dist-info").partition("-")
            if name.endswith(".dist-info") and pkg in DVC_PLUGINS:
                found[pkg] = ver
    return found


def ensure_dvc(install: bool) -> str | None:
    """Return None when DVC with its S3, Azure and SSH plugins is usable, else the reason it is not.

    A venv from an older run (dvc[s3] only) gets the missing extras added once."""
    installed = _dvc_plugins() if os.path.exists(DVC_BIN) else {}
    missing = [n for n in DVC_PLUGINS if n not in installed]
    if not missing:
        return None
    if not install:
        if os.path.exists(DVC_BIN):
            return None  # usable; the rows of a remote kind without its plugin fail and say so
        return "DVC not installed (run without --no-install to install it)"
    log(f"installing DVC + {', '.join(missing)} into {DVC_VENV} (one time)")
    os.makedirs(CACHE_DIR, exist_ok=True)
    try:
        if not os.path.exists(DVC_BIN):
            run([sys.executable, "-m", "venv", DVC_VENV], timeout=600)
        run([os.path.join(DVC_VENV, "bin", "pip"), "install", "-q", "dvc[s3,azure,ssh]"], timeout=1800)
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        if os.path.exists(DVC_BIN):
            log(f"adding DVC's plugins failed ({exc}); their rows will fail")
            return None
        return f"DVC install failed: {exc}"
    return None if os.path.exists(DVC_BIN) else "DVC install produced no dvc executable"


def _ensure_debian_tool(tool: str, install: bool) -> str | None:
    """`tool` from Debian's package of the same name, installed once as root; None when it is there."""
    if shutil.which(tool):
        return None
    if not install:
        return f"{tool} not installed (run without --no-install to install it)"
    if os.geteuid() != 0:
        return f"{tool} missing and not root: apt-get install {tool} yourself"
    log(f"installing {tool} from Debian packages (one time)")
    try:
        run(["apt-get", "update", "-qq"], timeout=900)
        run(["apt-get", "install", "-y", "-qq", tool], timeout=1800,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except Exception as exc:  # noqa: BLE001
        return f"{tool} install failed: {exc}"
    return None if shutil.which(tool) else f"apt-get install {tool} left no {tool}"


def ensure_git_lfs(install: bool) -> str | None:
    return _ensure_debian_tool("git-lfs", install)


def ensure_git_annex(install: bool) -> str | None:
    return _ensure_debian_tool("git-annex", install)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def install_wheel(workdir: str) -> tuple[str | None, str]:
    """(gitmodels executable, how it was installed): a wheel of this checkout, built and installed into
    a fresh venv under `workdir`, as `pip install gitmodels` leaves it for users (compiled bytecode, no
    editable finder). Dependencies come from pip's own configuration."""
    wheels = os.path.join(workdir, "wheel")
    venv = os.path.join(workdir, "gitmodels-venv")
    try:
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO_ROOT], timeout=900)
        run([sys.executable, "-m", "venv", venv], timeout=300)
        whl = [os.path.join(wheels, n) for n in os.listdir(wheels) if n.endswith(".whl")]
        # The remotes' extras: the S3, Azure and SSH rows need boto3, azure-storage-blob and paramiko,
        # as `pip install "gitmodels[s3,azure,ssh]"` gives users.
        run([os.path.join(venv, "bin", "pip"), "install", "-q", *(w + "[s3,azure,ssh]" for w in whl)],
            timeout=1800)
    except Exception as exc:  # noqa: BLE001
        return None, f"wheel install failed: {exc}"
    exe = os.path.join(venv, "bin", "gitmodels")
    return (exe, "wheel in a fresh venv") if os.path.exists(exe) else (None, "the wheel installed no gitmodels")


def gitmodels_exe() -> str | None:
    exe = shutil.which("gitmodels")
    if exe:
        return exe
    cand = os.path.join(os.path.dirname(sys.executable), "gitmodels")
    return cand if os.path.exists(cand) else None


def compile_bytecode() -> None:
    """Write gitmodels' .pyc files, as `pip install` of a wheel does.

    An editable install leaves compiling to the first import, which skips
    writing them under PYTHONDONTWRITEBYTECODE (set on some machines): every
    timed command would then recompile the package, ~40 ms a run that no
    installed copy pays.
    """
    import compileall

    try:
        import gitmodels
    except ImportError:
        return
    compileall.compile_dir(os.path.dirname(gitmodels.__file__), quiet=1)


# ---------------------------------------------------------------- machine facts

def _version(cmd: list[str]) -> str:
    try:
        r = run(cmd, check=False, timeout=60)
        return (r.stdout or r.stderr).strip().splitlines()[0] if r.rc == 0 else f"unavailable ({r.rc})"
    except Exception as exc:  # noqa: BLE001
        return f"unavailable ({exc})"


def machine_info(gm_exe: str | None, dvc_ok: bool, lfs_ok: bool, annex_ok: bool = False,
                 gm_install: str = "") -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    fs = ""
    try:
        fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", CACHE_DIR if os.path.exists(CACHE_DIR) else "/"],
                            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "filesystem": fs,
        "versions": {
            "gitmodels": (_version([gm_exe, "--version"]) + (f" ({gm_install})" if gm_install else "")) if gm_exe
            else "not installed",
            "dvc": _version([DVC_BIN, "--version"]) if dvc_ok else "not installed",
            "git": _version(["git", "--version"]),
            "git-lfs": _version(["git", "lfs", "version"]) if lfs_ok else "not installed",
            "git-annex": _version(["git", "annex", "version", "--raw"]) if annex_ok else "not installed",
            "sha256sum": _version(["sha256sum", "--version"]),
            "moto": _moto_version(),
            "dvc plugins": _dvc_plugin_versions() if dvc_ok else "not installed",
            "azurite": _version(["azurite-blob", "--version"]) if shutil.which("azurite-blob") else "not installed",
            "OpenSSH": _version(["ssh", "-V"]),
        },
    }


def _dvc_plugin_versions() -> str:
    """`dvc-s3 X, dvc-azure Y, dvc-ssh Z` from the DVC venv's package metadata."""
    return ", ".join(f"{pkg.replace('_', '-')} {ver}" for pkg, ver in sorted(_dvc_plugins().items())) or "none"


def _moto_version() -> str:
    try:
        from importlib.metadata import version
        return version("moto")
    except Exception:  # noqa: BLE001
        return "not installed"


# ---------------------------------------------------------------- page cache

def _cached_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Cached:"):
                return int(line.split()[1])
    return 0


def drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def probe_drop_caches(workdir: str) -> tuple[bool, str]:
    """Write 256 MiB, read it (now cached), drop caches, check the page cache shrank."""
    path = os.path.join(workdir, "dropcache-probe.bin")
    try:
        with open(path, "wb") as f:
            for _ in range(32):
                f.write(os.urandom(8 << 20))
        with open(path, "rb") as f:
            while f.read(8 << 20):
                pass
        before = _cached_kb()
        if not drop_caches():
            return False, "writing /proc/sys/vm/drop_caches is not permitted here"
        after = _cached_kb()
        if before - after < 200 * 1024:
            return False, (f"drop_caches accepted but the page cache only shrank by "
                           f"{(before - after) // 1024} MiB (a 256 MiB file was cached)")
        return True, f"works (page cache shrank {(before - after) // 1024} MiB)"
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


# ---------------------------------------------------------------- ports, proxy

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingProxy:
    """A TCP proxy on loopback that counts bytes each way (client->server = sent)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.up = 0
        self.down = 0
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.up = self.down = 0

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "down"), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                dst.sendall(data)
                with self._lock:
                    if way == "up":
                        self.up += len(data)
                    else:
                        self.down += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()
