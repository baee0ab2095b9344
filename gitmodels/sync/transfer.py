"""What a directory model moves besides its manifest: the entries of a cached manifest.

A push or fetch of a directory model moves its manifest and every file it
lists; the queue (`gitmodels.sync.queue`) moves the objects, and callers
expand a manifest into its files with `manifest_entries`.
"""

from __future__ import annotations

from gitmodels.storage import manifest as manifest_mod
from gitmodels.storage.store import Store


def manifest_entries(store: Store, oid: str) -> list[manifest_mod.Entry]:
    """The entries of the cached manifest `oid` (BadManifest when it is not one)."""
    return list(manifest_mod.parse(store.read_bytes(oid), f"manifest {oid[:12]}").entries)
