"""What the activation store would do in a run, without writing: the store of a plan.

:class:`PlanStore` answers the :class:`~interpclaims.activations.StoreCache` the way the real
:class:`~interpclaims.activations.ActivationStore` would: a key already on disk is a hit (read from
there), a key computed earlier in the plan is a hit (kept in memory), anything else is computed —
by the planning model, whose forward passes are counted — and, in ``rw`` mode, counted as a write
of its bytes instead of written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from interpclaims.activations._cache import StoreCache
from interpclaims.activations._key import StoreKey, StoreStats

if TYPE_CHECKING:
    import numpy as np

    from interpclaims.activations._store import ActivationStore

__all__ = ["PlanStore", "plan_cache"]


class PlanStore:
    """The store of a plan over ``store`` (the real one, only read; open it in ``read`` mode so
    that not even a lock file is created), for a run whose store would be in ``mode``."""

    def __init__(self, store: ActivationStore, mode: str) -> None:
        self.store = store
        self.mode = mode
        self.stats = StoreStats()
        self.bytes_written = 0  # the data bytes a real run would write (without sidecars)
        self._planned: dict[StoreKey, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"PlanStore({self.store!r})"

    def __contains__(self, key: object) -> bool:
        return key in self._planned or key in self.store

    def get_or_compute_many(
        self, keys: Sequence[StoreKey],
        compute: Callable[[list[StoreKey]], dict[StoreKey, np.ndarray]],
    ) -> dict[StoreKey, np.ndarray]:
        """``ActivationStore.get_or_compute_many`` as a plan: nothing is written."""
        unique = list(dict.fromkeys(keys))
        found: dict[StoreKey, np.ndarray] = {}
        for key in unique:
            arr = self._planned.get(key)
            if arr is None and key in self.store:
                arr = self.store.get(key)
            if arr is not None:
                found[key] = arr
        missing = [key for key in unique if key not in found]
        if missing:
            computed = compute(missing)
            for key in missing:
                found[key] = computed[key]
                if self.mode == "rw":
                    self._planned[key] = computed[key]
                    self.bytes_written += int(computed[key].nbytes)
                    self.stats.writes += 1
        self.stats.hits += len(unique) - len(missing)
        self.stats.misses += len(missing)
        return {key: found[key] for key in keys}


class _PlanCache(StoreCache):
    def counters(self) -> dict[str, int]:
        assert isinstance(self.store, PlanStore)
        return {**super().counters(), "bytes_written": self.store.bytes_written}


def plan_cache(store: ActivationStore, mode: str) -> StoreCache:
    """The :class:`StoreCache` of a plan over ``store`` for a run whose store is in ``mode``:
    the same policy on a :class:`PlanStore`; its counters add ``bytes_written``."""
    return _PlanCache(PlanStore(store, mode))  # type: ignore[arg-type]
