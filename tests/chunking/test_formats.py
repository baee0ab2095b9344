"""Packs and recipes: deterministic bytes, strict parsing, versioned."""

from __future__ import annotations

import hashlib
import struct

import pytest

from gitmodels.chunking import formats
from gitmodels.storage import objects
from gitmodels.chunking.formats import FormatError, PackEntry, Recipe, RecipeChunk


def _ids(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def _recipe() -> Recipe:
    ids = _ids(5)
    packs = ["aa" * 32, "bb" * 32]
    chunks = tuple(RecipeChunk(ids[i], 100 + i, packs[i % 2], 16 + 1000 * i) for i in range(5))
    return Recipe("cc" * 32, sum(c.length for c in chunks), chunks)


def test_recipe_round_trip_and_determinism():
    recipe = _recipe()
    blob = recipe.encode()
    assert blob == _recipe().encode()
    assert len(blob) == formats.RECIPE_HEADER_SIZE + 2 * 32 + 5 * formats.RECIPE_CHUNK_SIZE + 32
    assert blob.startswith(b"GMRECIPE\x01\x00\x00\x00")
    back = Recipe.decode(blob, expect_oid="cc" * 32)
    assert back == recipe and back.pack_ids == ["aa" * 32, "bb" * 32]
    assert [pos for pos, _ in back.iter_offsets()] == [0, 100, 201, 303, 406]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "checksum|truncated"),
    (lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], "checksum"),
    (lambda b: b"XXRECIPE" + b[8:], "magic"),
    (lambda b: b[:8] + struct.pack("<I", 3) + b[12:], "version 3"),
    (lambda b: b[:10], "truncated"),
])
def test_recipe_damage_is_refused(damage, message):
    with pytest.raises(FormatError, match=message):
        Recipe.decode(damage(_recipe().encode()))


def test_recipe_for_another_oid_is_refused():
    with pytest.raises(FormatError, match="not"):
        Recipe.decode(_recipe().encode(), expect_oid="dd" * 32)


def test_recipe_sizes_must_add_up():
    recipe = _recipe()
    bad = Recipe(recipe.oid, recipe.size + 1, recipe.chunks)
    with pytest.raises(FormatError, match="add up"):
        Recipe.decode(bad.encode())


def _packs_of(recipe: Recipe) -> dict[str, list[PackEntry]]:
    """Pack indexes holding the recipe's chunks at its offsets (plus one chunk no recipe uses)."""
    out: dict[str, list[PackEntry]] = {}
    for c in recipe.chunks:
        out.setdefault(c.pack_id, []).append(PackEntry(c.chunk_id, c.offset, c.length))
    for entries in out.values():
        entries.sort(key=lambda e: e.offset)
    return out


def _index_in(packs: dict[str, list[PackEntry]]):
    return lambda pack_id, offset: [e.offset for e in packs[pack_id]].index(offset)


def test_version_2_recipe_lists_runs_of_pack_entries():
    ids = _ids(300)
    packs = {"aa" * 32: [], "bb" * 32: []}
    chunks = []
    for i, cid in enumerate(ids):  # 200 chunks back to back in one pack, 100 in another
        pack = "aa" * 32 if i < 200 else "bb" * 32
        entry = PackEntry(cid, 16 + 1000 * len(packs[pack]), 1000)
        packs[pack].append(entry)
        chunks.append(RecipeChunk(cid, 1000, pack, entry.offset))
    recipe = Recipe("cc" * 32, 300_000, tuple(chunks))
    blob = recipe.encode_runs(_index_in(packs))
    assert blob == recipe.encode_runs(_index_in(packs))
    assert blob.startswith(b"GMRECIPE\x02\x00\x00\x00")
    assert len(blob) == formats.RECIPE_HEADER_SIZE + 2 * 32 + 2 * formats.RECIPE_RUN_SIZE + 32  # two runs
    runs = formats.decode_recipe(blob, expect_oid="cc" * 32)
    assert isinstance(runs, formats.RecipeRuns) and runs.pack_ids == ["aa" * 32, "bb" * 32]
    back = runs.resolve(packs.__getitem__)
    assert back.chunks == recipe.chunks and back.version == 2
    with pytest.raises(FormatError, match="entries"):
        runs.resolve(lambda p: packs[p][:50])  # a pack index shorter than the recipe reads
    with pytest.raises(FormatError, match="version 2"):
        Recipe.decode(blob)


def test_version_1_recipes_stay_readable():
    recipe = _recipe()
    assert formats.decode_recipe(recipe.encode()) == recipe
    assert formats.decode_recipe(recipe.encode_runs(_index_in(_packs_of(recipe)))).resolve(
        _packs_of(recipe).__getitem__).chunks == recipe.chunks


def test_pack_trailer_round_trip():
    ids = _ids(3)
    entries = [PackEntry(ids[0], 16, 10), PackEntry(ids[1], 26, 20), PackEntry(ids[2], 46, 5)]
    pack = formats.pack_header() + b"x" * 35 + formats.encode_pack_trailer(entries, 51)
    assert pack[:8] == b"GMPK\x01\x00\x00\x00"
    assert formats.parse_pack_tail(pack, len(pack)) == entries
    assert formats.parse_pack_tail(pack[-formats.pack_trailer_size(3):], len(pack)) == entries
    with pytest.raises(FormatError, match="size"):
        formats.parse_pack_tail(pack, len(pack) + 1)
    damaged = pack[:60] + bytes([pack[60] ^ 1]) + pack[61:]
    with pytest.raises(FormatError, match="checksum"):
        formats.parse_pack_tail(damaged, len(pack))


def test_pack_index_must_cover_the_data():
    ids = _ids(2)
    gap = [PackEntry(ids[0], 16, 10), PackEntry(ids[1], 30, 5)]
    pack = formats.pack_header() + b"x" * 19 + formats.encode_pack_trailer(gap, 35)
    with pytest.raises(FormatError, match="contiguous"):
        formats.parse_pack_tail(pack, len(pack))


def test_keys():
    """The chunk keys come from the one object layout (gitmodels.storage.objects)."""
    oid = "ab" + "0" * 62
    assert objects.pack_key(oid) == f"packs/ab/{oid}"
    assert objects.recipe_key(oid) == f"recipes/ab/{oid}"
    assert objects.pack_id_from_key(objects.pack_key(oid)) == oid
    assert objects.oid_from_recipe_key(objects.recipe_key(oid)) == oid
    assert objects.pack_id_from_key(f"packs/cd/{oid}") is None
    assert objects.pack_id_from_key(f"packs/ab/{oid}.tmp") is None
    assert objects.oid_from_recipe_key(objects.pack_key(oid)) is None
