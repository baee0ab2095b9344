"""Make this Linux Python look like macOS's to gitmodels (tests/platform_shims/README.md)."""

import os
import sys
import types

import fcntl as _real_fcntl

LINUX_ONLY = ("F_SETLEASE", "F_GETLEASE", "F_NOTIFY", "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW",
              "F_SETPIPE_SZ", "F_GETPIPE_SZ", "F_ADD_SEALS", "F_GET_SEALS", "F_SEAL_SEAL", "F_SEAL_SHRINK",
              "F_SEAL_GROW", "F_SEAL_WRITE", "F_EXLCK", "F_SHLCK", "FICLONE", "FICLONERANGE",
              "DN_ACCESS", "DN_MODIFY", "DN_CREATE", "DN_DELETE", "DN_RENAME", "DN_ATTRIB", "DN_MULTISHOT",
              "I_PUSH", "I_POP", "I_LOOK", "I_FLUSH")
HIDDEN_OS = ("O_DIRECT", "copy_file_range", "O_NOATIME", "O_PATH", "O_TMPFILE", "posix_fallocate")

fake = types.ModuleType("fcntl")
for _name in dir(_real_fcntl):
    if not _name.startswith("__") and _name not in LINUX_ONLY:
        setattr(fake, _name, getattr(_real_fcntl, _name))
fake.F_FULLFSYNC = 51  # <sys/fcntl.h>; Linux answers these commands with EINVAL, which gitmodels falls back from
fake.F_NOCACHE = 48
fake.__doc__ = _real_fcntl.__doc__
sys.modules["fcntl"] = fake
for _name in HIDDEN_OS:
    if hasattr(os, _name):
        delattr(os, _name)
sys.platform = "darwin"
os.environ["GITMODELS_SHIM"] = "macos"

if os.environ.get("GITMODELS_SHIM_LOG"):  # the tests check every gitmodels process, hooks included, ran shimmed
    import atexit

    def _log(path=os.environ["GITMODELS_SHIM_LOG"]):
        with open(path, "a") as f:
            f.write("macos " + " ".join(sys.argv) + "\n")

    atexit.register(_log)
