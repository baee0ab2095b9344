"""Make this Linux Python look like Windows' to gitmodels: hide what Windows lacks (tests/platform_shims/README.md)."""

import importlib.abc
import importlib.machinery
import os
import shutil
import sys

HIDDEN_MODULES = ("fcntl", "pwd", "grp", "termios", "resource")
HIDDEN_OS = ("O_DIRECT", "getuid", "geteuid", "getgid", "getegid", "pread", "pwrite", "preadv", "pwritev",
             "statvfs", "fstatvfs", "sync", "copy_file_range", "sendfile", "posix_fadvise", "posix_fallocate")

import _msvcrt_standin  # noqa: E402  (this folder is on sys.path)
import fcntl as _real_fcntl  # noqa: E402  (kept privately: the msvcrt stand-in is built on it)


class _Hide(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Refuse the modules Windows lacks; serve the msvcrt stand-in to gitmodels alone.

    The standard library decides "this is Windows" from msvcrt's presence
    (subprocess, getpass): they are imported before the stand-in exists and
    keep seeing the POSIX system underneath.
    """

    def find_spec(self, name, path=None, target=None):
        if name in HIDDEN_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if name == "msvcrt" and _importer().startswith("gitmodels"):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return _msvcrt_standin.make(_real_fcntl)

    def exec_module(self, module):
        pass


def _importer() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not name.startswith(("importlib", "_frozen_importlib")) and name != __name__:
            return name
        frame = frame.f_back
    return ""


import getpass  # noqa: E402,F401  (see _Hide)
import subprocess  # noqa: E402,F401

for _name in HIDDEN_MODULES:
    sys.modules.pop(_name, None)
sys.meta_path.insert(0, _Hide())
_statvfs = os.statvfs
for _name in HIDDEN_OS:
    if hasattr(os, _name):
        delattr(os, _name)
shutil._USE_CP_SENDFILE = False  # shutil was imported before this ran and saw os.sendfile


def _disk_usage(path):
    """shutil.disk_usage as Windows has it (GetDiskFreeSpaceEx), not through the now hidden os.statvfs."""
    st = _statvfs(path)
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    return shutil._ntuple_diskusage(total, total - st.f_bfree * st.f_frsize, free)


shutil.disk_usage = _disk_usage

import ctypes  # noqa: E402

_real_cdll_init = ctypes.CDLL.__init__


def _cdll_init(self, name, *args, **kwargs):
    if name is None:  # Windows: there is no "this process" library to dlopen
        raise TypeError("expected str, bytes or os.PathLike object, not NoneType")
    _real_cdll_init(self, name, *args, **kwargs)


ctypes.CDLL.__init__ = _cdll_init
os.environ["GITMODELS_SHIM"] = "windows"

if os.environ.get("GITMODELS_SHIM_LOG"):  # the tests check every gitmodels process, hooks included, ran shimmed
    import atexit

    def _log(path=os.environ["GITMODELS_SHIM_LOG"]):
        with open(path, "a") as f:
            f.write("windows " + " ".join(sys.argv) + "\n")

    atexit.register(_log)
