"""Seeded random generators that do not depend on call order, process or xdist worker."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_rng"]


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (not on call order or process)."""
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(repr(k).encode()) for k in keys]
    return np.random.default_rng(words)
