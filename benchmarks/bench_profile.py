"""A pytest plugin for ``benchmarks/run.py``: where the claim tests' time goes.

Loaded with ``-p bench_profile`` (``benchmarks/`` on ``PYTHONPATH``), it wraps a few interpclaims
functions with timers — statistics (intervals, p-values), forward passes, tokenization,
activation-store I/O — and writes ``{part: {"s": seconds, "n": calls}}`` to
``$BENCH_PROFILE_OUT`` at session finish. Every wrapped function runs inside claim tests' call
phases, the time ``manifest.analysis_seconds`` sums. The wrappers add microseconds per call (a few
hundred calls a run).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from collections import Counter, defaultdict
from typing import Any

SECONDS: dict[str, float] = defaultdict(float)
CALLS: Counter[str] = Counter()
_DEPTH: Counter[str] = Counter()


def _wrap(owner: Any, name: str, part: str) -> None:
    orig = getattr(owner, name, None)
    if orig is None:  # renamed upstream: time less rather than break the run
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        if _DEPTH[part]:  # nested (e.g. get_or_compute_many -> forward): count once
            return orig(*args, **kwargs)
        _DEPTH[part] += 1
        start = time.perf_counter()
        try:
            return orig(*args, **kwargs)
        finally:
            SECONDS[part] += time.perf_counter() - start
            CALLS[part] += 1
            _DEPTH[part] -= 1

    timed.__wrapped__ = orig  # type: ignore[attr-defined]
    setattr(owner, name, timed)


def pytest_configure(config: Any) -> None:
    from interpclaims import _estimate
    from interpclaims.activations import _store
    from interpclaims.models import Model
    from interpclaims.verdicts import _claim

    # statistics: every function of interpclaims.stats that the estimates, claims and analyses
    # call (bootstrap intervals, t / Wilson intervals, p-values, functions of means, similarity),
    # wherever they are imported
    users = [m for name, m in list(sys.modules.items())
             if name.startswith("interpclaims.") and not name.startswith("interpclaims.stats")]
    for module in {id(m): m for m in (_estimate, _claim, *users)}.values():
        for name, obj in list(vars(module).items()):
            if inspect.isfunction(obj) and obj.__module__.startswith("interpclaims.stats"):
                _wrap(module, name, "stats")
    _wrap(Model, "forward", "forward")
    _wrap(Model, "tokenize", "tokenize")
    _wrap(_store.ActivationStore, "_write", "store_io")
    _wrap(_store.ActivationStore, "_load", "store_io")


def pytest_sessionfinish(session: Any) -> None:
    path = os.environ.get("BENCH_PROFILE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({k: {"s": SECONDS[k], "n": CALLS[k]} for k in SECONDS}, f)
