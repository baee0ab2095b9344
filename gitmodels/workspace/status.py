"""What `gitmodels status` says of each model: the states, and the record `status --json` prints."""

from __future__ import annotations

import dataclasses

from gitmodels.storage.hashing import prefixed

# The one table of status states: the name is ModelStatus.state and `status --json`'s "state"; the label is
# what `gitmodels status` prints. Adding a state is one line here (docs/json.md lists them).
STATES = {
    "up-to-date": "up to date",
    "stale": "stale (run `gitmodels checkout`)",
    "modified": "modified (run `gitmodels add` to save, `gitmodels checkout --force` to discard)",
    "missing": "missing from workspace (run `gitmodels checkout`)",
    "not-in-cache": "not in cache (run `gitmodels fetch`)",
    "bad-pointer": "unreadable pointer",
    "orphaned": "orphaned (pointer removed; `gitmodels rm PATH` deletes it)",
}



@dataclasses.dataclass
class ModelStatus:
    path: str
    pointer_path: str
    state: str                # a name in STATES
    oid: str | None = None
    size: int | None = None
    kind: str | None = None
    in_cache: bool = False
    pushed: bool | None = None  # None: the remote was not checked (or the pointer is unreadable)
    error: str | None = None

    def to_json(self, remote_checked: bool = False) -> dict:
        """The `status --json` entry: `pushed` only when the remote was checked (docs/json.md)."""
        out = dataclasses.asdict(self)
        out["oid"] = prefixed(self.oid)
        if not remote_checked:
            del out["pushed"]
        return out
