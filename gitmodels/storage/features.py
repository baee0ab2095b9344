"""What this operating system offers for fast and durable file work, asked once.

gitmodels runs on Linux, macOS and Windows. Each fast path (a copy-on-write
clone, a kernel copy, writes around the page cache, a file lock, a drive-cache
flush) is chosen here by looking at what the interpreter actually has, never
by assuming Linux; every path has a portable fallback with the same result
(docs/platforms.md). `detect` takes the modules it looks at as arguments so a
test can hand it a fake macOS or Windows and check the choice.

Nothing Linux-only is imported at module top: `fcntl` and `msvcrt` are tried
and may be missing, and `ctypes` libraries are loaded on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import threading
from types import ModuleType
from typing import Any, Callable

# linux/fs.h FICLONE: share extents copy-on-write (btrfs, xfs, ...). Python < 3.12's fcntl lacks the name.
LINUX_FICLONE = 0x40049409
# <sys/fcntl.h> on macOS; Python's fcntl has them there, but the values are used if a build lacks the names.
DARWIN_F_FULLFSYNC = 51
DARWIN_F_NOCACHE = 48
LIBSYSTEM = "/usr/lib/libSystem.B.dylib"


@dataclasses.dataclass(frozen=True)
class Features:
    """The choices made for this interpreter; `describe()` prints them."""

    system: str                       # "linux", "darwin", "win32", ... (sys.platform, normalised)
    fcntl: ModuleType | None          # None where the platform has none (Windows)
    msvcrt: ModuleType | None         # Windows' byte-range locks
    lock: str                         # "flock" | "msvcrt" | "exclusive-create"
    clone: str | None                 # "ficlone" (Linux reflink) | "clonefile" (APFS) | None
    copy_file_range: bool             # Linux in-kernel copy between files
    sendfile: bool                    # Linux only: file to file (macOS sendfile wants a socket)
    o_direct: int                     # os.O_DIRECT where present, else 0
    nocache: int | None               # F_NOCACHE (macOS): the page-cache bypass that needs no alignment
    full_fsync: int | None            # F_FULLFSYNC (macOS): fsync does not flush the drive's cache there
    syncfs: bool                      # Linux syncfs(2) through libc: one flush for a whole filesystem
    lease: bool                       # Linux read leases (F_SETLEASE + SIGIO)
    dir_fsync: bool                   # a directory can be opened and fsynced (not on Windows)

    @property
    def copy_plan(self) -> tuple[str, ...]:
        """The copy methods kernel_copy tries, in order; "stream" (read/write) always works."""
        plan = [self.clone] if self.clone else []
        if self.copy_file_range:
            plan.append("copy_file_range")
        if self.sendfile:
            plan.append("sendfile")
        return (*plan, "stream")

    @property
    def durability(self) -> str:
        return "F_FULLFSYNC" if self.full_fsync is not None else "fsync"

    @property
    def direct_io(self) -> str | None:
        return "O_DIRECT" if self.o_direct else "F_NOCACHE" if self.nocache is not None else None


def _try_import(name: str, import_module: Callable[[str], ModuleType]) -> ModuleType | None:
    try:
        return import_module(name)
    except ImportError:
        return None


def detect(platform: str | None = None, os_module: Any = os, import_module: Callable[[str], ModuleType] | None = None,
           signal_module: Any = None) -> Features:
    """Look at the interpreter (or the fakes given) and choose each path once."""
    platform = platform or sys.platform
    import_module = import_module or importlib.import_module
    if signal_module is None:
        import signal as signal_module
    system = "linux" if platform.startswith("linux") else platform
    fcntl = _try_import("fcntl", import_module)
    msvcrt = _try_import("msvcrt", import_module) if fcntl is None else None
    lock = "flock" if fcntl is not None and hasattr(fcntl, "flock") else "msvcrt" if msvcrt is not None \
        else "exclusive-create"
    darwin = system == "darwin"
    linux = system == "linux"
    clone = None
    if linux and fcntl is not None and hasattr(fcntl, "ioctl"):
        clone = "ficlone"
    elif darwin:
        clone = "clonefile"
    return Features(
        system=system,
        fcntl=fcntl,
        msvcrt=msvcrt,
        lock=lock,
        clone=clone,
        copy_file_range=linux and hasattr(os_module, "copy_file_range"),
        sendfile=linux and hasattr(os_module, "sendfile"),
        o_direct=getattr(os_module, "O_DIRECT", 0) if fcntl is not None else 0,
        nocache=getattr(fcntl, "F_NOCACHE", DARWIN_F_NOCACHE) if darwin and fcntl is not None else None,
        full_fsync=getattr(fcntl, "F_FULLFSYNC", DARWIN_F_FULLFSYNC) if darwin and fcntl is not None else None,
        syncfs=linux,
        lease=linux and fcntl is not None and hasattr(fcntl, "F_SETLEASE") and hasattr(signal_module, "SIGIO"),
        dir_fsync=os_module.name == "posix",
    )


FEATURES = detect()


# -- C functions loaded on first use (ctypes; None where the library or the symbol is missing) ---------------

_loaded: dict[str, Any] = {}
_load_lock = threading.Lock()


def libc():
    """This process's C library (dlopen(NULL)); None where that cannot be opened (Windows)."""
    return _load("libc", _open_libc)


def _open_libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _load(name: str, opener: Callable[[], Any]):
    with _load_lock:
        if name not in _loaded:
            try:
                _loaded[name] = opener()
            except (OSError, AttributeError, TypeError, ImportError):  # Windows' CDLL(None) is a TypeError
                _loaded[name] = None
        return _loaded[name]


def clonefile():
    """macOS clonefile(2) as a Python callable (src, dst) -> errno or 0; None where unavailable."""
    return _load("clonefile", _open_clonefile)


def _open_clonefile():
    import ctypes

    fn = ctypes.CDLL(LIBSYSTEM, use_errno=True).clonefile
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint32]
    fn.restype = ctypes.c_int

    def call(src: str, dst: str) -> int:
        if fn(os.fsencode(src), os.fsencode(dst), 0) == 0:
            return 0
        return ctypes.get_errno()

    return call


def describe(features: Features = FEATURES) -> dict[str, Any]:
    """The paths this interpreter takes (benchmarks and bug reports print it)."""
    return {
        "system": features.system,
        "copy": " -> ".join(features.copy_plan),
        "durability": features.durability,
        "direct_io": features.direct_io or "none (page cache)",
        "lock": features.lock,
        "read_lease": features.lease,
        "syncfs": features.syncfs and libc() is not None,
    }


if __name__ == "__main__":
    for key, value in describe().items():
        print(f"{key}: {value}")
