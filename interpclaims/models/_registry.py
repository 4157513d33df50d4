"""The loaded models of one process, and their counters (forward passes, cache hits/misses)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from interpclaims._errors import ModelLoadError
from interpclaims.models._model import CleanCache, Model

__all__ = ["ModelRegistry"]


class ModelRegistry:
    """Loaded models of one process, keyed by (name, backend); each is loaded once.

    Every model shares one :class:`CleanCache`: ``cache``, or the one ``cache_factory`` opens when
    the first model loads (so that opening it costs nothing in a run that loads no model).
    """

    def __init__(self, cache: CleanCache | None = None,
                 cache_factory: Callable[[], CleanCache] | None = None,
                 remote: str = "off") -> None:
        self.cache = cache
        self.remote = remote  # where nnsight models run their traces: off | local | ndif
        self._cache_factory = cache_factory
        self._models: dict[tuple[str, str], Model] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self._seen_cache: dict[str, int] = {}
        self._seen_remote: Counter[str] = Counter()
        self._errors: dict[tuple[str, str], ModelLoadError] = {}

    def get(self, name: str, backend: str, remote: str | None = None) -> Model:
        """``name`` on ``backend``; ``remote`` (nnsight only; ``None``: the registry's default)
        says where its traces run. A model run elsewhere than the default is its own entry."""
        __tracebackhide__ = True
        default = self.remote if backend == "nnsight" else "off"
        mode = default if remote is None else remote
        key = self._key(name, backend, mode)
        if key in self._errors:
            raise self._errors[key]
        if key not in self._models:
            if self.cache is None and self._cache_factory is not None:
                self.cache = self._cache_factory()
            try:
                self._models[key] = Model(name, backend, cache=self.cache, remote=mode)
            except ModelLoadError as e:
                self._errors[key] = e
                raise
        return self._models[key]

    def _key(self, name: str, backend: str, mode: str) -> tuple[str, str]:
        default = self.remote if backend == "nnsight" else "off"
        return (name, backend if mode == default else f"{backend}, remote={mode}")

    def discard(self, model: Model) -> None:
        """Forget ``model`` (its weights were edited in place): the next :meth:`get` reloads it
        from disk. Its forward passes still count."""
        key = self._key(model.name, model.backend, model.remote)
        model.close()
        if self._models.get(key) is model:
            del self._models[key]
            self._seen[key] = self._seen.get(key, 0) - model.forward_passes
            self._seen_remote.subtract(model.remote_counters())

    def close(self) -> None:
        """Release every loaded model's companions (circuit-tracer replacement models), at the end
        of the session: explicitly, not left to garbage collection at interpreter exit."""
        for m in self._models.values():
            m.close()

    def take_counters(self) -> dict[str, Any]:
        """Forward passes per model and backend, and cache hits/misses, since the last call."""
        passes = {}
        for key in sorted(self._models.keys() | self._seen.keys()):
            done = self._models[key].forward_passes if key in self._models else 0
            n = done - self._seen.get(key, 0)
            self._seen[key] = done
            if n:
                passes[f"{key[0]} [{key[1]}]"] = n
        out: dict[str, Any] = {}
        if passes:
            out["forward_passes"] = passes
        remote: Counter[str] = Counter()
        for m in self._models.values():
            remote.update(m.remote_counters())
        delta = {k: v - self._seen_remote[k] for k, v in remote.items() if v != self._seen_remote[k]}
        self._seen_remote = remote
        if delta:
            out["remote"] = delta
        if self.cache is not None:
            now = self.cache.counters()
            delta = {k: v - self._seen_cache.get(k, 0) for k, v in now.items()}
            self._seen_cache = now
            if any(delta.values()):
                out["cache"] = delta
        return out
