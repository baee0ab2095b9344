"""Streaming SHA-256: constant memory, large blocks, the CPU's SHA instructions via hashlib."""

from __future__ import annotations

import hashlib
import os
import re
from typing import BinaryIO

BLOCK_SIZE = 8 * 1024 * 1024
OID_PREFIX = "sha256:"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hex_oid(value: str) -> bool:
    return bool(_HEX64.fullmatch(value))


def prefixed(oid: str | None) -> str | None:
    """An oid as users see it, in pointers and in `--json` output: `sha256:<hex>` (docs/json.md)."""
    return None if oid is None else OID_PREFIX + oid


def hash_file(path: str | os.PathLike, block_size: int = BLOCK_SIZE) -> tuple[str, int]:
    """Return (hex sha256, size) of a file, reading it once in large blocks."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(block_size)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def hash_stream(stream: BinaryIO, block_size: int = BLOCK_SIZE) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream.read(block_size)
        if not block:
            break
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
