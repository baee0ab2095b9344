"""msvcrt.locking with Windows' semantics, built on Linux flock: per handle; a non-blocking attempt on a
held lock fails with an OSError (EACCES), as msvcrt's does."""

import types


def make(real_fcntl) -> types.ModuleType:
    mod = types.ModuleType("msvcrt")
    mod.LK_UNLCK, mod.LK_LOCK, mod.LK_NBLCK, mod.LK_RLCK, mod.LK_NBRLCK = 0, 1, 2, 3, 4

    def locking(fd, mode, nbytes):
        if mode == mod.LK_UNLCK:
            real_fcntl.flock(fd, real_fcntl.LOCK_UN)
            return
        flags = real_fcntl.LOCK_EX if mode in (mod.LK_LOCK, mod.LK_NBLCK) else real_fcntl.LOCK_SH
        try:
            real_fcntl.flock(fd, flags | real_fcntl.LOCK_NB)
        except BlockingIOError:
            raise PermissionError(13, "Permission denied") from None

    mod.locking = locking
    return mod
