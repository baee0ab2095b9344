"""Run one command and measure it: wall time, exit code, peak RSS, bytes read and written.

Peak RSS comes from wait4() (GNU time's %M): Linux reports the largest resident set of the
child and of every descendant it waited for, so a `sh -c "git checkout && tool checkout"`
reports the biggest process of the chain. The command runs under /usr/bin/time because a
child forked straight from this Python process would inherit the harness's own RSS as its
high-water mark before exec. Bytes read/written come from /proc/PID/io, read while the
child is a zombie (waitid WNOWAIT), which includes its reaped descendants; `rchar` counts
page-cache hits too, so it tells whether a command read the model files at all.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass


TIME = "/usr/bin/time"


class CommandFailed(Exception):
    def __init__(self, result: "Result"):
        self.result = result
        super().__init__(f"`{result.pretty}` exited {result.rc}: {result.first_error_line()}")


@dataclass
class Result:
    cmd: list[str] | str
    rc: int
    wall: float
    maxrss_kb: int
    rchar: int | None
    wchar: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def pretty(self) -> str:
        if isinstance(self.cmd, str):
            return self.cmd
        return " ".join(shlex.quote(c) for c in self.cmd)

    @property
    def rss_mb(self) -> float:
        return self.maxrss_kb / 1024.0

    def first_error_line(self) -> str:
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                # the last line of a traceback is the useful one
                if lines[0].startswith("Traceback"):
                    return lines[-1][:300]
                return lines[0][:300]
        return "(no output)"


def _read_io(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                key, _, val = line.partition(":")
                out[key.strip()] = int(val)
    except OSError:
        pass
    return out


def run(cmd: list[str] | str, cwd: str | None = None, env: dict | None = None, *,
        check: bool = True, timeout: float = 3600, stdin_data: bytes | None = None) -> Result:
    """Run cmd (a list, or a string for `sh -c`), wait for it and measure it."""
    shell = isinstance(cmd, str)
    argv = ["/bin/sh", "-c", cmd] if shell else list(cmd)
    rss_file = None
    if os.path.exists(TIME):
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        argv = [TIME, "-q", "-f", "%M", "-o", rss_file, *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin = subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env,
                                stdin=stdin, stdout=out, stderr=err, start_new_session=True)
        if stdin_data is not None:
            try:
                proc.stdin.write(stdin_data)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the process group this call started
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - t0
            io = _read_io(proc.pid)
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = ru.ru_maxrss
        if rss_file:
            try:
                with open(rss_file) as f:
                    lines = [ln for ln in f.read().split() if ln.isdigit()]
                if lines:
                    maxrss = int(lines[-1])
            finally:
                os.unlink(rss_file)
        out.seek(0)
        err.seek(0)
        res = Result(cmd=cmd, rc=proc.returncode, wall=wall, maxrss_kb=maxrss,
                     rchar=io.get("rchar"), wchar=io.get("wchar"),
                     stdout=out.read().decode(errors="replace"),
                     stderr=err.read().decode(errors="replace"), timed_out=timed_out.is_set())
    if check and res.rc != 0:
        raise CommandFailed(res)
    return res


def sh(cmd: list[str] | str, cwd: str | None = None, env: dict | None = None, **kw) -> str:
    """Run an untimed setup command; raise CommandFailed on error; return stdout."""
    return run(cmd, cwd=cwd, env=env, **kw).stdout
