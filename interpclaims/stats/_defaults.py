"""Default sizes and levels shared by the intervals and tests of :mod:`interpclaims.stats`."""

from __future__ import annotations

__all__ = ["DEFAULT_CI_LEVEL", "DEFAULT_PERMUTATIONS", "DEFAULT_RESAMPLES"]

DEFAULT_RESAMPLES = 10_000
DEFAULT_CI_LEVEL = 0.95
DEFAULT_PERMUTATIONS = 10_000
# Resample in chunks so that 10k resamples of many thousand prompts stay small in memory. The
# resample indices are drawn row after row, so the chunk size does not change any result; ~0.5M
# elements (4 MB of indices) is about the fastest on a laptop-class cache.
_CHUNK_ELEMENTS = 500_000
