"""A progress bar for long extractions, shown only where a person watches: an interactive
terminal, not CI, not an xdist worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress"]

T = TypeVar("T")
MIN_STEPS = 20  # fewer batches than this finish too fast to need a bar


def _interactive() -> bool:
    return (sys.stderr.isatty() and not os.environ.get("CI")
            and not os.environ.get("PYTEST_XDIST_WORKER"))


def progress(steps: Iterable[T], what: str) -> Iterator[T]:
    items = list(steps)
    if len(items) < MIN_STEPS or not _interactive():
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, desc=f"interpclaims: {what}", unit="batch", leave=False)
