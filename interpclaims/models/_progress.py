"""A progress bar for long extractions, shown only where a person watches: an interactive
terminal, not CI, not an xdist worker.

Under pytest, stdout and stderr are captured while a test runs, so the plugin hands a stream that
writes to the real terminal (:func:`progress_to`); outside pytest the bar goes to stderr when it
is a terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["progress", "progress_to"]

T = TypeVar("T")
MIN_STEPS = 20  # fewer batches than this finish too fast to need a bar

# where the bar is written (an object with write/flush, and optionally done() called when the
# bar is closed); None: stderr, when it is an interactive terminal
_STREAM: contextvars.ContextVar[Any] = contextvars.ContextVar("interpclaims_progress", default=None)


def _watched() -> bool:
    return not os.environ.get("CI") and not os.environ.get("PYTEST_XDIST_WORKER")


@contextlib.contextmanager
def progress_to(stream: Any) -> Iterator[None]:
    """Write progress bars to ``stream`` (the real terminal under pytest's capture) meanwhile."""
    token = _STREAM.set(stream)
    try:
        yield
    finally:
        _STREAM.reset(token)


def progress(steps: Iterable[T], what: str) -> Iterator[T]:
    items = list(steps)
    stream = _STREAM.get()
    if stream is None and sys.stderr.isatty():
        stream = sys.stderr
    if len(items) < MIN_STEPS or stream is None or not _watched():
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    bar = tqdm(items, desc=f"interpclaims: {what}", unit="batch", leave=False, file=stream)
    try:
        yield from bar
    finally:
        bar.close()
        done = getattr(stream, "done", None)
        if done is not None:
            done()
