"""One progress bar for a whole transfer: objects, bytes, rate, ETA. Quiet off a terminal and in hooks.

The line is never wider than the terminal, because a line that wraps cannot
be redrawn in place and leaves a stale copy per redraw. It is redrawn with a
carriage return and clear-to-end-of-line; when it does not fit, the object
count goes first, then the rate, the ETA and the byte counts, and last the
label is shortened. The ETA waits until it means something (a few seconds in,
a few percent done) and comes from the rate over the last seconds, not since
the start, which a burst of bytes already on the remote would skew.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import threading
import time
from collections import deque
from typing import Callable

CLEAR_EOL = "\x1b[K"
REDRAW_EVERY = 0.1  # seconds
RATE_WINDOW = 5.0  # seconds of history the rate is measured over
ETA_AFTER = 3.0  # seconds from the start before an ETA is shown...
ETA_AFTER_FRACTION = 0.05  # ...and this much of the total done
DROP_ORDER = ("objects", "rate", "eta", "amount")  # least important first


def human_bytes(n: float) -> str:
    if isinstance(n, int) and n.bit_length() > 1000:  # past float's range: no real size, but no crash either
        return "more than 10**300 B" if n > 0 else "less than -10**300 B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(seconds: float) -> str:
    """m:ss, or h:mm:ss; rounded up, so a transfer still running never shows 0:00."""
    s = max(1, math.ceil(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def wanted(force: bool | None = None) -> bool:
    if force is not None:
        return force
    if os.environ.get("GITMODELS_HOOK"):
        return False
    return sys.stderr.isatty()


def terminal_columns(stream) -> int:
    """The width of the terminal `stream` draws on: COLUMNS first (as shutil), then the stream's own tty."""
    columns = shutil.get_terminal_size((0, 0)).columns  # COLUMNS, else stdout's terminal
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):  # not a real file, or not a terminal
        return 80


class Bar:
    def __init__(self, label: str, enabled: bool, stream=None, *, columns: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        """`columns`: a fixed width (default: the terminal's, read at every redraw, so a resize is followed)."""
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.columns = columns
        self.clock = clock
        self.total_objects = 0
        self.total_bytes = 0
        self.done_bytes = 0
        self.start = clock()
        self._last: float | None = None
        self._samples: deque[tuple[float, int]] = deque([(self.start, 0)])
        self._lock = threading.Lock()
        self._drawn = False

    def set_total(self, objects: int, nbytes: int) -> None:
        self.total_objects, self.total_bytes = objects, nbytes

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done_bytes += n
            if not self.enabled:
                return
            now = self.clock()
            if self._last is None or now - self._last >= REDRAW_EVERY:
                self._last = now
                self._draw(now)

    def _rate(self, now: float) -> float:
        """Bytes a second over the last RATE_WINDOW seconds (since the start, before that)."""
        samples = self._samples
        samples.append((now, self.done_bytes))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        t0, d0 = samples[0]
        return (self.done_bytes - d0) / (now - t0) if now > t0 else 0.0

    def _fields(self, now: float) -> dict[str, str]:
        rate = self._rate(now)
        fields = {"amount": human_bytes(self.done_bytes)}
        if self.total_bytes:
            fields["amount"] += f" / {human_bytes(self.total_bytes)}"
            fields["pct"] = f"({min(100.0, 100.0 * self.done_bytes / self.total_bytes):.0f}%)"
        if rate > 0:
            fields["rate"] = f"{human_bytes(rate)}/s"
        left = self.total_bytes - self.done_bytes
        if (self.total_bytes and left > 0 and rate > 0 and now - self.start >= ETA_AFTER
                and self.done_bytes >= ETA_AFTER_FRACTION * self.total_bytes):
            fields["eta"] = f"ETA {human_duration(left / rate)}"
        if self.total_objects:
            fields["objects"] = f"{self.total_objects} object(s)"
        return fields

    @staticmethod
    def _body(fields: dict[str, str]) -> str:
        head = " ".join(fields[k] for k in ("amount", "pct") if k in fields)
        return "  ".join([head] + [fields[k] for k in ("rate", "eta", "objects") if k in fields])

    def render(self, now: float | None = None) -> str:
        """The line as drawn now: at most the terminal's width less one column (no autowrap)."""
        width = max(1, (self.columns or terminal_columns(self.stream)) - 1)
        fields = self._fields(self.clock() if now is None else now)
        for drop in DROP_ORDER:
            line = f"{self.label}: {self._body(fields)}"
            if len(line) <= width:
                return line
            if drop == "amount" and "pct" not in fields:
                break  # without a total, the byte count is all there is to show
            fields.pop(drop, None)
        body = self._body(fields)
        room = width - len(body) - 2  # what is left for the label and ": "
        if room >= len(self.label):
            return f"{self.label}: {body}"
        if room >= 4:
            return f"{self.label[:room - 3]}...: {body}"
        return body[:width]

    def _draw(self, now: float) -> None:
        self.stream.write(f"\r{self.render(now)}{CLEAR_EOL}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write(f"\r{CLEAR_EOL}")
            self.stream.flush()
