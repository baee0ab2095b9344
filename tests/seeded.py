"""The one source of reproducible stand-in model bytes for the tests.

`seeded_bytes(seed, size)` is the same for the same (seed, size) on every run,
machine and Python version (Mersenne Twister, seeded from an int, str or bytes),
and does not repeat within itself, so content-defined chunking, part splits and
ranged reads see realistic data and a misplaced range never reads as correct.
Different seeds give unrelated bytes. A failure is reproducible from its seed,
which `os.urandom` is not.
"""

from __future__ import annotations

import random

MiB = 1024 * 1024


def seeded_bytes(seed: int | str | bytes, size: int) -> bytes:
    """`size` pseudo-random bytes determined by `seed` alone."""
    return random.Random(seed).randbytes(size)
