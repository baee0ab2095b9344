"""The two on-remote formats of chunked storage: packs and recipes (docs/storage.md).

Both are binary, little-endian, versioned, and deterministic: the same input
always gives the same bytes. A pack is named by the SHA-256 of its bytes; a
recipe by the oid of the file it rebuilds.

    packs/<2hex>/<packid>     chunk bytes back to back, then an index of (chunk id, offset, length);
                              packid = SHA-256 of that index and the footer
    recipes/<2hex>/<oid>      the file's size and ordered chunks, each with its pack and offset

The pack format itself lives in storage/packformat.py (the local cache keeps
small objects in the same packs) and is re-exported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from gitmodels.chunking.cdc import ID_SIZE
from gitmodels.storage.packformat import (MAX_CHUNK, PACK_END_MAGIC, PACK_ENTRY_SIZE, PACK_FOOTER_SIZE,  # noqa: F401
                                          PACK_HEADER_SIZE, PACK_MAGIC, PACK_VERSION, FormatError, PackEntry,
                                          encode_pack_trailer, pack_header, pack_id_of, pack_trailer_size,
                                          parse_pack_footer, parse_pack_index, parse_pack_tail)


# ---------------------------------------------------------------------------
# Recipes
#
#   header   72 B   magic "GMRECIPE", u32 version (1), u32 flags (0), oid (32 B raw), u64 size,
#                   u32 pack count, u32 chunk count, u64 reserved (0)
#   packs    32 B * pack count: pack ids (raw), in the order the chunks first use them
#   chunks   48 B * chunk count, in file order: chunk id (32 B), u32 pack number, u32 length, u64 offset in pack
#   footer   32 B   SHA-256 of everything before it
#
# Version 2 (written since) replaces the chunk list by runs of the packs' own indexes, which
# already name every chunk by its SHA-256 and are pinned by the pack id: a recipe then costs a
# few bytes per run of adjacent chunks instead of 48 bytes per chunk.
#
#   header   72 B   as version 1, with version 2 and the run count in place of the chunk count
#   packs    32 B * pack count, in first-use order
#   runs     12 B * run count, in file order: u32 pack number, u32 first entry of that pack's
#                   index, u32 number of entries
#   footer   32 B   SHA-256 of everything before it

RECIPE_VERSION = 2  # written; version 1 stays readable
RECIPE_MAGIC = b"GMRECIPE"
_RECIPE_HEADER = struct.Struct("<8sII32sQIIQ")
_RECIPE_CHUNK = struct.Struct("<32sIIQ")
_RECIPE_RUN = struct.Struct("<III")
RECIPE_HEADER_SIZE = _RECIPE_HEADER.size
RECIPE_CHUNK_SIZE = _RECIPE_CHUNK.size
RECIPE_RUN_SIZE = _RECIPE_RUN.size


class RecipeChunk(NamedTuple):
    chunk_id: bytes  # raw SHA-256 of the chunk
    length: int
    pack_id: str  # hex
    offset: int  # in the pack


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A file's chunks in order, each with where it lives (a version 1 recipe, or a resolved version 2)."""

    oid: str
    size: int
    chunks: tuple[RecipeChunk, ...]
    version: int = 1

    @property
    def pack_ids(self) -> list[str]:
        """The packs this recipe reads, in first-use order."""
        seen: dict[str, None] = {}
        for c in self.chunks:
            seen.setdefault(c.pack_id, None)
        return list(seen)

    def iter_offsets(self) -> Iterator[tuple[int, RecipeChunk]]:
        """(offset in the file, chunk), in file order."""
        pos = 0
        for c in self.chunks:
            yield pos, c
            pos += c.length

    def encode(self) -> bytes:
        """The version 1 encoding (kept for tests of old remotes; pushes write `encode_runs`)."""
        packs = self.pack_ids
        number = {p: i for i, p in enumerate(packs)}
        return self._sealed(1, packs, [_RECIPE_CHUNK.pack(c.chunk_id, number[c.pack_id], c.length, c.offset)
                                       for c in self.chunks])

    def encode_runs(self, entry_index: Callable[[str, int], int]) -> bytes:
        """The version 2 encoding; `entry_index(pack id, offset)` is the chunk's place in that pack's index."""
        packs = self.pack_ids
        number = {p: i for i, p in enumerate(packs)}
        runs: list[list[int]] = []
        for c in self.chunks:
            pack_no, index = number[c.pack_id], entry_index(c.pack_id, c.offset)
            last = runs[-1] if runs else None
            if last is not None and last[0] == pack_no and last[1] + last[2] == index:
                last[2] += 1
            else:
                runs.append([pack_no, index, 1])
        return self._sealed(2, packs, [_RECIPE_RUN.pack(*run) for run in runs])

    def _sealed(self, version: int, packs: list[str], items: list[bytes]) -> bytes:
        """Header, pack table and the encoded chunks or runs, then the SHA-256 footer."""
        header = _RECIPE_HEADER.pack(RECIPE_MAGIC, version, 0, bytes.fromhex(self.oid), self.size,
                                     len(packs), len(items), 0)
        body = b"".join([header, *(bytes.fromhex(p) for p in packs), *items])
        return body + hashlib.sha256(body).digest()

    @classmethod
    def decode(cls, blob: bytes, expect_oid: str | None = None) -> "Recipe":
        """A version 1 recipe (see `decode_recipe` for either version)."""
        decoded = decode_recipe(blob, expect_oid)
        if not isinstance(decoded, Recipe):
            raise FormatError("a version 2 recipe needs its packs' indexes: use decode_recipe and resolve")
        return decoded


@dataclasses.dataclass(frozen=True)
class RecipeRuns:
    """A version 2 recipe as stored: runs of entries of its packs' indexes."""

    oid: str
    size: int
    packs: tuple[str, ...]
    runs: tuple[tuple[int, int, int], ...]  # (pack number, first entry, number of entries)
    version: int = 2

    @property
    def pack_ids(self) -> list[str]:
        return list(self.packs)

    def resolve(self, entries_of: Callable[[str], Sequence[PackEntry]]) -> Recipe:
        """The chunk list, from the indexes of the packs (`entries_of(pack id)`)."""
        chunks: list[RecipeChunk] = []
        for pack_no, first, count in self.runs:
            pack_id = self.packs[pack_no]
            entries = entries_of(pack_id)
            if first + count > len(entries):
                raise FormatError(f"recipe reads entries {first}-{first + count - 1} of pack {pack_id}, "
                                  f"whose index has {len(entries)}")
            chunks.extend(RecipeChunk(e.chunk_id, e.length, pack_id, e.offset) for e in entries[first:first + count])
        if sum(c.length for c in chunks) != self.size:
            raise FormatError("recipe chunk lengths do not add up to its size")
        return Recipe(self.oid, self.size, tuple(chunks), version=2)


def decode_recipe(blob: bytes, expect_oid: str | None = None) -> Recipe | RecipeRuns:
    """Either version: a Recipe (version 1) or RecipeRuns (version 2, to `resolve`)."""
    if len(blob) < RECIPE_HEADER_SIZE + 32:
        raise FormatError("truncated recipe")
    body, check = blob[:-32], blob[-32:]
    magic, version, flags, oid_raw, size, n_packs, n_items, _ = _RECIPE_HEADER.unpack_from(body)
    if magic != RECIPE_MAGIC:
        raise FormatError("not a gitmodels recipe (bad magic)")
    if version not in (1, 2):
        raise FormatError(f"recipe version {version} is not supported (this gitmodels reads versions 1 and 2); "
                          "upgrade gitmodels")
    if hashlib.sha256(body).digest() != check:
        raise FormatError("recipe checksum mismatch")
    if flags != 0:
        raise FormatError(f"recipe flags {flags:#x} are not supported")
    item_size = RECIPE_CHUNK_SIZE if version == 1 else RECIPE_RUN_SIZE
    if len(body) != RECIPE_HEADER_SIZE + 32 * n_packs + item_size * n_items:
        raise FormatError("recipe length does not match its counts")
    oid = oid_raw.hex()
    if expect_oid is not None and oid != expect_oid:
        raise FormatError(f"recipe is for {oid}, not {expect_oid}")
    pos = RECIPE_HEADER_SIZE
    packs = [body[pos + 32 * i:pos + 32 * (i + 1)].hex() for i in range(n_packs)]
    pos += 32 * n_packs
    if version == 2:
        runs = tuple(_RECIPE_RUN.iter_unpack(body[pos:]))
        order: dict[int, None] = {}
        for pack_no, _first, count in runs:
            if pack_no >= n_packs or count == 0:
                raise FormatError("recipe run out of range")
            order.setdefault(pack_no, None)
        if list(order) != list(range(n_packs)):
            raise FormatError("recipe pack table is not in first-use order")
        return RecipeRuns(oid, size, tuple(packs), runs)
    chunks = []
    total = 0
    for chunk_id, pack_no, length, offset in _RECIPE_CHUNK.iter_unpack(body[pos:]):
        if pack_no >= n_packs or not 0 < length <= MAX_CHUNK or offset < PACK_HEADER_SIZE:
            raise FormatError("recipe entry out of range")
        chunks.append(RecipeChunk(chunk_id, length, packs[pack_no], offset))
        total += length
    if total != size:
        raise FormatError("recipe chunk lengths do not add up to its size")
    recipe = Recipe(oid, size, tuple(chunks))
    if recipe.pack_ids != packs:
        raise FormatError("recipe pack table is not in first-use order")
    return recipe


def build_recipe(oid: str, chunks: Iterable[tuple[bytes, int]], where: dict[bytes, tuple[str, int]],
                 size: int) -> Recipe:
    """A recipe from (chunk id, length) in file order and chunk id -> (pack id, offset)."""
    out = []
    for chunk_id, length in chunks:
        if len(chunk_id) != ID_SIZE:
            raise ValueError("bad chunk id")
        pack_id, offset = where[chunk_id]
        out.append(RecipeChunk(chunk_id, length, pack_id, offset))
    return Recipe(oid, size, tuple(out))
