"""The plugin's result cache: opened by the first test that runs on a model, active while each
such test runs, its counters sent to the controller with each test's teardown report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from interpclaims.plugin._stash import MODEL, RESULT_CACHE, SETTINGS

__all__ = ["clear_results", "result_cache_of", "take_result_counters"]


def _results_dir(config: pytest.Config) -> object:
    return config.stash[SETTINGS].cache_dir / "results"


def clear_results(config: pytest.Config) -> None:
    """Empty the result cache (``--claims-cache-clear``)."""
    from interpclaims.activations import ResultStore

    ResultStore(_results_dir(config), mode="rw").clear()  # type: ignore[arg-type]


@contextlib.contextmanager
def result_cache_of(item: pytest.Item) -> Iterator[None]:
    """Answer the analyses of ``item`` from the result cache: for a test on a model, unless
    ``--claims-cache`` is ``off`` or ``activations``."""
    config = item.config
    mode = config.stash[SETTINGS].results_mode
    if mode == "off" or MODEL not in item.stash:
        yield
        return
    from interpclaims.analyses import ResultCache, use_result_cache

    if RESULT_CACHE not in config.stash:
        from interpclaims.activations import ResultStore

        store = ResultStore(_results_dir(config), mode=mode)  # type: ignore[arg-type]
        config.stash[RESULT_CACHE] = (ResultCache(store), {})
    with use_result_cache(config.stash[RESULT_CACHE][0]):
        yield


def take_result_counters(config: pytest.Config) -> dict[str, int]:
    """The result cache's counters since the last call (empty when nothing changed)."""
    if RESULT_CACHE not in config.stash:
        return {}
    cache, seen = config.stash[RESULT_CACHE]
    now = cache.counters()
    delta = {k: v - seen.get(k, 0) for k, v in now.items()}
    seen.update(now)
    return delta if any(delta.values()) else {}
