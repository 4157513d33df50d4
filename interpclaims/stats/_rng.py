"""Seeded random generators that do not depend on call order, process or xdist worker."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_rng", "generators_derived"]

# how many generators this process derived: every resample, permutation or random split of the
# package draws from one, so a run that derives none resampled nothing (the result cache's tests)
_DERIVED = [0]


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (not on call order or process)."""
    _DERIVED[0] += 1
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(repr(k).encode()) for k in keys]
    return np.random.default_rng(words)


def generators_derived() -> int:
    """How many generators :func:`derive_rng` made in this process (a cheap resample counter)."""
    return _DERIVED[0]
