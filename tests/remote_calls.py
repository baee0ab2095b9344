"""Count the calls a directory remote answers, in this process and every Python it starts (git hooks)."""

from __future__ import annotations

import os
from pathlib import Path

PROBE = Path(__file__).parent / "remote_probe"


class RemoteCalls:
    def __init__(self, log: Path):
        self.log = log

    def calls(self) -> list[tuple[str, str]]:
        """(method, key) of every call so far, in order."""
        if not self.log.exists():
            return []
        return [tuple(line.split(" ", 1)) for line in self.log.read_text().splitlines()]

    def about(self, oid: str) -> list[tuple[str, str]]:
        return [(method, key) for method, key in self.calls() if oid in key]

    def existence_questions(self, oid: str) -> list[str]:
        """The keys naming `oid` that were looked up (stat: every exists_many of a directory remote stats)."""
        return [key for method, key in self.about(oid) if method == "stat"]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


def count_remote_calls(monkeypatch, tmp_path: Path) -> RemoteCalls:
    """Start logging: Pythons started from now on (the hooks) load tests/remote_probe/sitecustomize.py."""
    log = tmp_path / "remote-calls.log"
    monkeypatch.setenv("GM_TEST_REMOTE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PROBE), os.environ.get("PYTHONPATH", "")) if p))
    return RemoteCalls(log)
