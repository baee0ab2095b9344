"""The signature of a directory model's tree: one lstat per file, on two cores when the tree is big.

A directory model's signature is a digest of every file's (relative path, inode, size, mtime, ctime,
executable bit), in the order Workspace.scan lists them (gitmodels/workspace/dirs.py list_files).
It holds exactly what the per-file stat cache compares, so trusting a recorded signature is as sound as
trusting the stat cache for each file; it only saves the per-file lookups, the manifest build and the
hashing of the manifest. An edit in place changes its file's mtime and ctime, so it changes the signature.

The walk is what a no-op `gitmodels status` of a 100,000-file model costs, and its time is the kernel's
lstat: a thread cannot share it (the GIL is taken back after every call), a forked child can. The
digest is the same however the walk was split.
"""

from __future__ import annotations

import hashlib
import os
import stat as statmod
import struct
import sys
from typing import Callable, Iterable

TMP_MARK = ".gmtmp-"  # fileio.TMP_MARK, not imported: status's fast path (workspace/snapshot.py) walks too
PARALLEL_MIN = 20_000  # files: below it a fork costs more than the second core saves
_FLUSH_EVERY = 4096  # records handed on at once: a flat folder of a million files is not one huge string
_PACK = struct.Struct("<QQqqI").pack
_FS_ENCODING = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())  # what os.fsencode uses
_COUNT = struct.Struct("<Q")


class _Special(Exception):
    """The tree holds something Workspace.scan treats specially (a symlink, a special file)."""


def signature_of(files: Iterable[tuple[str, tuple, bool]]) -> str:
    """The signature of (relative path, stat_key, executable) triples listed in scan order (see tree_signature)."""
    h = hashlib.sha256()
    for rel, key, executable in files:
        h.update(os.fsencode(rel) + b"\0" + _PACK(*key, executable))
    return h.hexdigest()


def tree_signature(root: str, expected_files: int = 0) -> tuple[str, int] | None:
    """(signature, file count) of the directory `root`. None when the tree holds something
    Workspace.scan treats specially (a symlink, a special file, no access): the caller then scans it in full.

    `expected_files`, the count its last scan recorded, decides whether the walk is split with a child.
    """
    if os.stat not in os.supports_dir_fd or os.stat not in os.supports_follow_symlinks:
        return None
    h = hashlib.sha256()
    try:
        if expected_files >= PARALLEL_MIN and _may_fork():
            count = _walk_split(root, h.update)
        else:
            count = _walk(root, "", None, h.update)
    except (_Special, OSError):
        return None
    return h.hexdigest(), count


def _walk(folder: str, prefix: str, names: list[str] | None, out: Callable[[bytes], object]) -> int:
    """Hand `out` the records of `names` in `folder` (all of its names when None), each subfolder walked
    where its name sorts, relative to an open folder (no path lookups), no per-file objects kept.
    Returns the number of files."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if names is None:
            names = os.listdir(fd)
            names.sort()
        head = os.fsencode(prefix)
        lstat, pack, encoding, exec_bit = os.stat, _PACK, _FS_ENCODING, statmod.S_IXUSR
        S_IFMT, S_IFDIR, S_IFREG = statmod.S_IFMT, statmod.S_IFDIR, statmod.S_IFREG
        records: list[bytes] = []
        count = 0
        for name in names:
            st = lstat(name, dir_fd=fd, follow_symlinks=False)
            kind = S_IFMT(st.st_mode)
            if kind == S_IFREG:
                if not name.startswith(TMP_MARK):  # scan skips a killed checkout's half copy too
                    records.append(head + name.encode(*encoding) + b"\0" + pack(
                        st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode & exec_bit != 0))
                    count += 1
                    if len(records) >= _FLUSH_EVERY:
                        out(b"".join(records))
                        records.clear()
            elif kind == S_IFDIR:
                out(b"".join(records))  # what sorts before the subfolder goes first
                records.clear()
                count += _walk(os.path.join(folder, name), f"{prefix}{name}/", None, out)
            else:
                raise _Special(name)
        out(b"".join(records))
    finally:
        os.close(fd)
    return count


def _may_fork() -> bool:
    """Linux with a second core for us and no other thread in this process (a child forked beside a
    thread could inherit a lock that thread held)."""
    import threading

    return (sys.platform.startswith("linux") and hasattr(os, "memfd_create")
            and len(os.sched_getaffinity(0)) >= 2 and threading.active_count() == 1)


def _walk_split(root: str, out: Callable[[bytes], object]) -> int:
    """_walk(root) with the second half of the names at the first level that has several, walked by a
    forked child into an anonymous memory file; its records follow ours in the digest, as in one walk."""
    folder, prefix, names = _split_point(root)
    half = len(names) // 2
    if half == 0:
        return _walk(root, "", None, out)
    spill = os.memfd_create("gitmodels-walk", getattr(os, "MFD_CLOEXEC", 0))
    try:
        try:
            pid = os.fork()
        except OSError:  # no memory for a second process: one walk
            return _walk(root, "", None, out)
        if pid == 0:
            _child(spill, folder, prefix, names[half:])
        try:
            count = _walk(folder, prefix, names[:half], out)
        finally:
            _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 1:
            raise _Special(folder)
        if code != 0:  # the child could not walk (an error it alone met): its half here
            return count + _walk(folder, prefix, names[half:], out)
        return count + _read_spill(spill, out)
    finally:
        os.close(spill)


def _child(spill: int, folder: str, prefix: str, names: list[str]) -> None:
    """The forked walker: its records, then their count, into `spill`; exit 0, 1 (_Special) or 2. It
    never returns, so nothing of the parent (atexit, buffers, SQLite) runs twice."""
    code = 2
    try:
        def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(spill, view):]

        write(_COUNT.pack(_walk(folder, prefix, names, write)))
        code = 0
    except _Special:
        code = 1
    except BaseException:  # noqa: BLE001 - the parent walks this half again
        code = 2
    finally:
        os._exit(code)


def _read_spill(spill: int, out: Callable[[bytes], object]) -> int:
    size = os.fstat(spill).st_size
    left = size - _COUNT.size
    os.lseek(spill, 0, os.SEEK_SET)
    while left > 0:
        data = os.read(spill, min(left, 1 << 20))
        if not data:
            raise OSError("the walk's spill file ended early")
        out(data)
        left -= len(data)
    return _COUNT.unpack(os.read(spill, _COUNT.size))[0]


def _split_point(root: str) -> tuple[str, str, list[str]]:
    """(folder, its prefix under root, its sorted names) of the first level, from `root` down through
    folders that hold nothing but one subfolder, with more than one name: the work split there is even
    when the files sit a few folders deep (data/images/...)."""
    folder, prefix = root, ""
    for _ in range(8):
        names = sorted(os.listdir(folder))
        if len(names) != 1:
            break
        below = os.path.join(folder, names[0])
        if not statmod.S_ISDIR(os.lstat(below).st_mode):
            break
        folder, prefix = below, f"{prefix}{names[0]}/"
    return folder, prefix, names
