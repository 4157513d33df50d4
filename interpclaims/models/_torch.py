"""Process-wide torch settings, applied once before the first model loads."""

from __future__ import annotations

import functools
import os

__all__ = ["ensure_torch_settings"]


@functools.cache
def ensure_torch_settings() -> None:
    """One intra-op thread per process (``INTERPCLAIMS_TORCH_THREADS`` overrides).

    On small machines several torch threads per process — times several xdist workers — thrash
    the cores (10–60x slower measured on 2 cores); the zoo's models are far too small to gain.
    Runs once per process (``functools.cache``).
    """
    import torch

    torch.set_num_threads(int(os.environ.get("INTERPCLAIMS_TORCH_THREADS", "1")))
