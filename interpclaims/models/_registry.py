"""The loaded models of one process, and their counters (forward passes, cache hits/misses)."""

from __future__ import annotations

from collections import Counter
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
                 planning: bool = False, remote: str = "off") -> None:
        self.cache = cache
        self.planning = planning  # --claims-plan: planning stand-ins (Model.planned), no weights
        self.remote = remote  # where nnsight models run their traces: off | local | ndif
        self._cache_factory = cache_factory
        self._models: dict[tuple[str, str, Placement], Model] = {}
        self._seen: dict[tuple[str, str, Placement], int] = {}
        self._seen_edited: dict[tuple[str, str, Placement], int] = {}
        self._seen_backward: dict[tuple[str, str, Placement], int] = {}
        self._seen_cache: dict[str, int] = {}
        self._seen_remote: Counter[str] = Counter()
        self._seen_requests: dict[tuple[str, str, Placement], int] = {}
        self._errors: dict[tuple[str, str, Placement], ModelLoadError] = {}

    def get(self, name: str, backend: str, placement: Placement | None = None,
            remote: str | None = None) -> Model:
        """``name`` on ``backend`` in ``placement``; ``remote`` (nnsight only; ``None``: the
        registry's default) says where its traces run. A model run elsewhere than the default is
        its own entry."""
        __tracebackhide__ = True
        default = self.remote if backend == "nnsight" else "off"
        mode = default if remote is None else remote
        key = self._key(name, backend, placement or Placement(), mode)
        if key in self._errors:
            raise self._errors[key]
        if key not in self._models:
            if self.cache is None and self._cache_factory is not None:
                self.cache = self._cache_factory()
            try:
                self._models[key] = (
                    Model.planned(name, backend, self.cache, remote=mode) if self.planning
                    else Model(name, backend, cache=self.cache, placement=key[2], remote=mode))
            except ModelLoadError as e:
                self._errors[key] = e
                raise
        return self._models[key]

    def _key(self, name: str, backend: str, placement: Placement, mode: str
             ) -> tuple[str, str, Placement]:
        default = self.remote if backend == "nnsight" else "off"
        return (name, backend if mode == default else f"{backend}, remote={mode}", placement)

    def discard(self, model: Model) -> None:
        """Forget ``model`` (its weights were edited in place): the next :meth:`get` reloads it
        from disk. Its forward passes still count."""
        key = self._key(model.name, model.backend, model.placement_spec, model.remote)
        model.close()
        if self._models.get(key) is model:
            del self._models[key]
            self._seen[key] = self._seen.get(key, 0) - model.forward_passes
            self._seen_edited[key] = (self._seen_edited.get(key, 0)
                                      - model.intervention_passes)
            self._seen_backward[key] = (self._seen_backward.get(key, 0)
                                        - model.backward_passes)
            self._seen_remote.subtract(model.remote_counters())
            self._seen_requests[key] = (self._seen_requests.get(key, 0)
                                        - model.remote_counters().get("requests", 0))

    def close(self) -> None:
        """Release every loaded model's companions (circuit-tracer replacement models), at the end
        of the session: explicitly, not left to garbage collection at interpreter exit."""
        for m in self._models.values():
            m.close()

    def take_counters(self) -> dict[str, Any]:
        """Forward passes per model and backend (all; those run with edits:
        ``intervention_passes``; those of gradient passes: ``backward_passes``), remote requests
        per model (``remote_requests``: mode and count) and in all (``remote``), and cache
        hits/misses, since the last call."""
        passes, edited, backward, requests = {}, {}, {}, {}
        for key in sorted(self._models.keys() | self._seen.keys(), key=_order):
            model = self._models.get(key)
            done = model.forward_passes if model else 0
            done_edited = model.intervention_passes if model else 0
            done_backward = model.backward_passes if model else 0
            b = done_backward - self._seen_backward.get(key, 0)
            self._seen_backward[key] = done_backward
            n, k = done - self._seen.get(key, 0), done_edited - self._seen_edited.get(key, 0)
            self._seen[key], self._seen_edited[key] = done, done_edited
            label = key[2].label()
            name = f"{key[0]} [{key[1]}{', ' + label if label else ''}]"
            if n:
                passes[name] = n
            if k:
                edited[name] = k
            if b:
                backward[name] = b
            sent = model.remote_counters().get("requests", 0) if model else 0
            r = sent - self._seen_requests.get(key, 0)
            self._seen_requests[key] = sent
            if model is not None and model.remote != "off" and (n or r):
                requests[name] = {"mode": model.remote, "requests": r}
        out: dict[str, Any] = {}
        if requests:
            out["remote_requests"] = requests
        if passes:
            out["forward_passes"] = passes
        if edited:
            out["intervention_passes"] = edited
        if backward:
            out["backward_passes"] = backward
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


def _order(key: tuple[str, str, Placement]) -> tuple[str, str, str]:
    return key[0], key[1], key[2].label()
