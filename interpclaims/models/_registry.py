"""The loaded models of one process, and their counters (forward passes, cache hits/misses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interpclaims._errors import ModelLoadError
from interpclaims.models._model import CleanCache, Model
from interpclaims.models._placement import Placement

__all__ = ["ModelRegistry"]


class ModelRegistry:
    """Loaded models of one process, keyed by (name, backend, placement); each is loaded once.

    Every model shares one :class:`CleanCache`: ``cache``, or the one ``cache_factory`` opens when
    the first model loads (so that opening it costs nothing in a run that loads no model).
    """

    def __init__(self, cache: CleanCache | None = None,
                 cache_factory: Callable[[], CleanCache] | None = None, *,
                 planning: bool = False) -> None:
        self.cache = cache
        self.planning = planning  # --claims-plan: planning stand-ins (Model.planned), no weights
        self._cache_factory = cache_factory
        self._models: dict[tuple[str, str, Placement], Model] = {}
        self._seen: dict[tuple[str, str, Placement], int] = {}
        self._seen_edited: dict[tuple[str, str, Placement], int] = {}
        self._seen_cache: dict[str, int] = {}
        self._errors: dict[tuple[str, str, Placement], ModelLoadError] = {}

    def get(self, name: str, backend: str, placement: Placement | None = None) -> Model:
        __tracebackhide__ = True
        key = (name, backend, placement or Placement())
        if key in self._errors:
            raise self._errors[key]
        if key not in self._models:
            if self.cache is None and self._cache_factory is not None:
                self.cache = self._cache_factory()
            try:
                self._models[key] = (Model.planned(name, backend, self.cache) if self.planning
                                     else Model(name, backend, cache=self.cache,
                                                placement=key[2]))
            except ModelLoadError as e:
                self._errors[key] = e
                raise
        return self._models[key]

    def discard(self, model: Model) -> None:
        """Forget ``model`` (its weights were edited in place): the next :meth:`get` reloads it
        from disk. Its forward passes still count."""
        key = (model.name, model.backend, model.placement_spec)
        model.close()
        if self._models.get(key) is model:
            del self._models[key]
            self._seen[key] = self._seen.get(key, 0) - model.forward_passes
            self._seen_edited[key] = (self._seen_edited.get(key, 0)
                                      - model.intervention_passes)

    def close(self) -> None:
        """Release every loaded model's companions (circuit-tracer replacement models), at the end
        of the session: explicitly, not left to garbage collection at interpreter exit."""
        for m in self._models.values():
            m.close()

    def take_counters(self) -> dict[str, Any]:
        """Forward passes per model and backend (all, and those run with edits:
        ``intervention_passes``), and cache hits/misses, since the last call."""
        passes, edited = {}, {}
        for key in sorted(self._models.keys() | self._seen.keys(), key=_order):
            model = self._models.get(key)
            done = model.forward_passes if model else 0
            done_edited = model.intervention_passes if model else 0
            n, k = done - self._seen.get(key, 0), done_edited - self._seen_edited.get(key, 0)
            self._seen[key], self._seen_edited[key] = done, done_edited
            label = key[2].label()
            name = f"{key[0]} [{key[1]}{', ' + label if label else ''}]"
            if n:
                passes[name] = n
            if k:
                edited[name] = k
        out: dict[str, Any] = {}
        if passes:
            out["forward_passes"] = passes
        if edited:
            out["intervention_passes"] = edited
        if self.cache is not None:
            now = self.cache.counters()
            delta = {k: v - self._seen_cache.get(k, 0) for k, v in now.items()}
            self._seen_cache = now
            if any(delta.values()):
                out["cache"] = delta
        return out


def _order(key: tuple[str, str, Placement]) -> tuple[str, str, str]:
    return key[0], key[1], key[2].label()
