"""The pack format, shared by the remote's chunk store and the local cache's packs (docs/storage.md).

Binary, little-endian, versioned and deterministic: the same entries always
give the same bytes. A pack is named by the SHA-256 of its trailer, which
names every entry by its SHA-256, so the name pins every byte of the pack.
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple, Sequence

MAX_CHUNK = 16 * 1024 * 1024  # larger lengths are refused when parsing (bounds every read)


class FormatError(ValueError):
    """Bytes that are not a valid pack index or recipe."""


# ---------------------------------------------------------------------------
# Packs
#
#   header   16 B   magic "GMPK", u32 version (1), u64 reserved (0)
#   data            the chunks, back to back, in index order
#   index    48 B * count: chunk id (32 B), u64 offset from the pack start, u32 length, u32 flags (0)
#   footer   56 B   u64 index offset, u32 count, u32 version (1), SHA-256 of the index (32 B), magic "GMPKEND\0"
#
# pack id = SHA-256 of the trailer (index + footer). The index names every
# chunk by its SHA-256 and covers the data without gaps, so the trailer pins
# every byte of the pack, and naming a pack costs no second pass over its data.

PACK_VERSION = 1
PACK_MAGIC = b"GMPK"
PACK_END_MAGIC = b"GMPKEND\x00"
_PACK_HEADER = struct.Struct("<4sIQ")
_PACK_ENTRY = struct.Struct("<32sQII")
_PACK_FOOTER = struct.Struct("<QII32s8s")
PACK_HEADER_SIZE = _PACK_HEADER.size
PACK_FOOTER_SIZE = _PACK_FOOTER.size
PACK_ENTRY_SIZE = _PACK_ENTRY.size


class PackEntry(NamedTuple):
    chunk_id: bytes
    offset: int
    length: int


def pack_header() -> bytes:
    return _PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION, 0)


def encode_pack_trailer(entries: Sequence[PackEntry], index_offset: int) -> bytes:
    """The index and footer that close a pack whose data ends at `index_offset`."""
    index = b"".join(_PACK_ENTRY.pack(e.chunk_id, e.offset, e.length, 0) for e in entries)
    footer = _PACK_FOOTER.pack(index_offset, len(entries), PACK_VERSION, hashlib.sha256(index).digest(),
                               PACK_END_MAGIC)
    return index + footer


def parse_pack_footer(footer: bytes, pack_size: int) -> tuple[int, int]:
    """(index offset, entry count) from the last PACK_FOOTER_SIZE bytes of a pack."""
    if len(footer) != PACK_FOOTER_SIZE:
        raise FormatError("truncated pack footer")
    index_offset, count, version, _, magic = _PACK_FOOTER.unpack(footer)
    if magic != PACK_END_MAGIC:
        raise FormatError("not a gitmodels pack (bad footer magic)")
    if version != PACK_VERSION:
        raise FormatError(f"pack version {version} is not supported (this gitmodels reads version {PACK_VERSION})")
    if index_offset + count * PACK_ENTRY_SIZE + PACK_FOOTER_SIZE != pack_size or index_offset < PACK_HEADER_SIZE:
        raise FormatError("pack footer does not match the pack size")
    return index_offset, count


def parse_pack_index(index: bytes, footer: bytes, pack_size: int) -> list[PackEntry]:
    """The entries of a pack, checked against the footer's SHA-256 and the pack's bounds."""
    index_offset, count = parse_pack_footer(footer, pack_size)
    if len(index) != count * PACK_ENTRY_SIZE:
        raise FormatError("truncated pack index")
    if hashlib.sha256(index).digest() != _PACK_FOOTER.unpack(footer)[3]:
        raise FormatError("pack index checksum mismatch")
    entries = []
    expected = PACK_HEADER_SIZE
    for chunk_id, offset, length, flags in _PACK_ENTRY.iter_unpack(index):
        if flags != 0:
            raise FormatError(f"pack entry flags {flags:#x} are not supported")
        if offset != expected or not 0 < length <= MAX_CHUNK:
            raise FormatError("pack index entries are not contiguous")
        expected = offset + length
        entries.append(PackEntry(chunk_id, offset, length))
    if expected != index_offset:
        raise FormatError("pack index does not cover the pack data")
    return entries


def parse_pack_tail(tail: bytes, pack_size: int) -> list[PackEntry]:
    """Entries from the last bytes of a pack (at least the index and footer)."""
    index_offset, count = parse_pack_footer(tail[-PACK_FOOTER_SIZE:], pack_size)
    need = count * PACK_ENTRY_SIZE + PACK_FOOTER_SIZE
    if len(tail) < need:
        raise FormatError("pack tail too short for its index")
    return parse_pack_index(tail[len(tail) - need:-PACK_FOOTER_SIZE], tail[-PACK_FOOTER_SIZE:], pack_size)


def pack_id_of(trailer: bytes) -> str:
    return hashlib.sha256(trailer).hexdigest()


def pack_trailer_size(count: int) -> int:
    return count * PACK_ENTRY_SIZE + PACK_FOOTER_SIZE
