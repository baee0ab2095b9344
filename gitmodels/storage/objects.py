"""The object layout: where an object, a recipe or a pack lives, on a remote and in the cache.

One module derives keys, so the cache, every remote backend and the chunk
engine can never disagree about a name (docs/storage.md). Keys are
'/'-separated and fan out by the first two hex digits of the name:

    objects/<2hex>/<oid>       a whole object (also the cache's file layout)
    recipes/<2hex>/<oid>       how to rebuild a chunked object from packs
    recipes/<2hex>/<bundle>    the small files of a directory, as pack entries (bundle_name)
    packs/<2hex>/<pack id>     chunks of one or more objects

The manifest magic (the first bytes of a directory model's manifest) lives
here too: it is how a stored object is told apart as a manifest without
parsing it.
"""

from __future__ import annotations

import hashlib
import os

from gitmodels.storage.hashing import is_hex_oid

OBJECTS_PREFIX = "objects/"
RECIPES_PREFIX = "recipes/"
PACKS_PREFIX = "packs/"
CHUNK_PREFIXES = (PACKS_PREFIX, RECIPES_PREFIX)  # chunked storage beside objects/

MANIFEST_MAGIC = b'{"gitmodels_manifest":'  # how every manifest object starts (storage/manifest.py)


def object_key(oid: str) -> str:
    """Where the whole object `oid` lives, on every backend and in the local cache."""
    return f"{OBJECTS_PREFIX}{oid[:2]}/{oid}"


def recipe_key(oid: str) -> str:
    """Where the recipe of the chunked object `oid` lives on a remote."""
    return f"{RECIPES_PREFIX}{oid[:2]}/{oid}"


def bundle_name(manifest_oid: str) -> str:
    """The name of the recipe holding the small files of directory manifest `manifest_oid` (a bundle).

    A pack entry is named by the SHA-256 of its bytes, so a small file stored
    whole as one entry is named by its own oid: one ordinary version 2 recipe
    at `recipe_key(bundle_name(M))` lists every small file of M, and gc, fsck
    and stats see through it as through any recipe. Derived from M (not the
    hash of any content) so that it can never collide with an object's oid.
    """
    return hashlib.sha256(b"gitmodels bundle\0" + bytes.fromhex(manifest_oid)).hexdigest()


def pack_key(pack_id: str) -> str:
    return f"{PACKS_PREFIX}{pack_id[:2]}/{pack_id}"


def cache_path(root: str | os.PathLike, oid: str) -> str:
    """The file of object `oid` in the cache at `root` (the same layout as a remote's objects/)."""
    return os.path.join(os.fspath(root), *object_key(oid).split("/"))


def _name_from_key(key: str, prefix: str) -> str | None:
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if len(parts) != 2 or not is_hex_oid(parts[1]) or parts[0] != parts[1][:2]:
        return None
    return parts[1]


def oid_from_key(key: str) -> str | None:
    """The oid an objects/ key names by its last part (callers check its form: see classify_key)."""
    if not key.startswith(OBJECTS_PREFIX):
        return None
    name = key.rsplit("/", 1)[-1]
    return name if len(name) == 64 else None


def oid_from_recipe_key(key: str) -> str | None:
    return _name_from_key(key, RECIPES_PREFIX)


def pack_id_from_key(key: str) -> str | None:
    return _name_from_key(key, PACKS_PREFIX)


def classify_key(key: str) -> tuple[str, str | None]:
    """What a key listed on a remote is: ("object", oid), ("chunk", None) for packs and
    recipes, ("stray", None) under objects/ but not an object's name, ("other", None) else."""
    if key.startswith(CHUNK_PREFIXES):
        return "chunk", None
    if not key.startswith(OBJECTS_PREFIX):
        return "other", None
    oid = oid_from_key(key)
    if oid is None or not is_hex_oid(oid) or key != object_key(oid):
        return "stray", None
    return "object", oid


def is_manifest(path: str | os.PathLike) -> bool:
    """Whether the stored file at `path` is a directory model's manifest (by its first bytes)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MANIFEST_MAGIC)) == MANIFEST_MAGIC
    except OSError:
        return False
