"""Deterministic workload data: seeded pseudo-random bytes (incompressible, no repeats),
and derived versions (one contiguous region rewritten, or a region inserted)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil

BLOCK = 16 << 20
MiB = 1 << 20
GiB = 1 << 30


def write_random(path: str, size: int, seed: int) -> str:
    """Write `size` seeded random bytes to path; return its sha256 hex."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(BLOCK, left)
            b = rng.randbytes(n)
            h.update(b)
            f.write(b)
            left -= n
    os.replace(tmp, path)
    return h.hexdigest()


def small_files(folder: str, count: int, size: int, seed: int, prefix: str = "m") -> list[str]:
    """count files of size random bytes named {prefix}0000.bin ...; returns relative names."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    names = []
    for i in range(count):
        name = f"{prefix}{i:04d}.bin"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(rng.randbytes(size))
        names.append(name)
    return names


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def overwrite_region(src: str, dst: str, offset: int, length: int, seed: int) -> str:
    """dst = src with [offset, offset+length) replaced by new random bytes."""
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(random.Random(seed).randbytes(length))
    return sha256_file(dst)


def insert_region(src: str, dst: str, offset: int, length: int, seed: int) -> str:
    """dst = src[:offset] + length new random bytes + src[offset:] (all later bytes shift)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        left = offset
        while left:
            b = fi.read(min(BLOCK, left))
            fo.write(b)
            left -= len(b)
        fo.write(random.Random(seed).randbytes(length))
        shutil.copyfileobj(fi, fo, BLOCK)
    return sha256_file(dst)


def copy(src: str, dst: str) -> None:
    """Untimed setup copy (copy_file_range/sendfile under the hood)."""
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    shutil.copyfile(src, dst)


def tree_bytes(path: str) -> tuple[int, int]:
    """(apparent bytes, file count) of every regular file under path."""
    total = count = 0
    if os.path.isfile(path):
        return os.path.getsize(path), 1
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if os.path.isfile(p) and not os.path.islink(p):
                total += st.st_size
                count += 1
    return total, count
