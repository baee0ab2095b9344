"""Read leases: the kernel holds back anyone who opens a file for writing, or truncates it, until we let go.

Reading a large file through a mapping (mmap) saves the copy that read()
makes, but a file truncated under a mapping kills the reader with SIGBUS. While
a read lease is held that cannot happen: a writer's open() or truncate() waits
(or fails, if non-blocking), and the kernel signals us first (SIGIO). We stop
touching the mapping, report the change and let go; only then does the
writer go on.

A lease needs Linux (features.FEATURES.lease), the main thread (for the signal handler), SIGIO unused by
anyone else, a local filesystem, no writer holding the file open already, and
our owning the file (or CAP_LEASE). Where any is missing `held` is False and
callers read the file the ordinary way.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from gitmodels.storage.features import FEATURES


class ReadLease:
    def __init__(self, fd: int, on_break: Callable[[], None]):
        self.fd = fd
        self.on_break = on_break  # runs in the main thread, in a signal handler: set a flag, wake waiters
        self.held = False

    def __enter__(self) -> "ReadLease":
        if not FEATURES.lease or threading.current_thread() is not threading.main_thread():
            return self
        if signal.getsignal(signal.SIGIO) is not signal.SIG_DFL:
            return self  # the program uses SIGIO itself
        signal.signal(signal.SIGIO, self._broken)
        try:
            fcntl = FEATURES.fcntl
            fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError:  # a writer has it open, not our file, NFS, leases disabled
            signal.signal(signal.SIGIO, signal.SIG_DFL)
            return self
        self.held = True
        return self

    def _broken(self, signum, frame) -> None:
        self.on_break()

    def __exit__(self, *exc) -> None:
        if not self.held:
            return
        self.held = False
        try:
            FEATURES.fcntl.fcntl(self.fd, FEATURES.fcntl.F_SETLEASE, FEATURES.fcntl.F_UNLCK)
        except OSError:  # already taken back by the kernel (lease-break-time passed)
            pass
        # A signal still pending now finds SIG_DFL and is dropped by Python, not acted on.
        signal.signal(signal.SIGIO, signal.SIG_DFL)
