"""One progress bar for a whole transfer: objects, bytes, rate, ETA. Quiet off a terminal."""

from __future__ import annotations

import os
import sys
import threading
import time


def human_bytes(n: float) -> str:
    if isinstance(n, int) and n.bit_length() > 1000:  # past float's range: no real size, but no crash either
        return "more than 10**300 B" if n > 0 else "less than -10**300 B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def wanted(force: bool | None = None) -> bool:
    if force is not None:
        return force
    if os.environ.get("GITMODELS_HOOK"):
        return False
    return sys.stderr.isatty()


class Bar:
    def __init__(self, label: str, enabled: bool, stream=None):
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.total_objects = 0
        self.total_bytes = 0
        self.done_bytes = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()
        self._drawn = False

    def set_total(self, objects: int, nbytes: int) -> None:
        self.total_objects, self.total_bytes = objects, nbytes

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done_bytes += n
            now = time.monotonic()
            if self.enabled and now - self._last > 0.1:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done_bytes / elapsed
        text = f"\r{self.label}: {human_bytes(self.done_bytes)}"
        if self.total_bytes:
            pct = min(100.0, 100.0 * self.done_bytes / self.total_bytes)
            text += f" / {human_bytes(self.total_bytes)} ({pct:.0f}%)"
            if rate > 0 and self.done_bytes < self.total_bytes:
                eta = (self.total_bytes - self.done_bytes) / rate
                text += f"  ETA {int(eta // 60)}:{int(eta % 60):02d}"
        if self.total_objects:
            text += f"  {self.total_objects} object(s)"
        text += f"  {human_bytes(rate)}/s"
        self.stream.write(text.ljust(78)[:120])
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * 78 + "\r")
            self.stream.flush()
