"""nnsight's local simulation of NDIF, made strict, and a stand-in NDIF server for tests.

nnsight's ``LocalSimulationBackend`` serializes a request, deserializes it with the modules an
NDIF server lacks blocked (by emptying ``sys.path``), and runs it with the caller's own objects.
A package installed in editable mode (as interpclaims is in development) would still import
through its finder, so the simulation here also refuses, while the request is deserialized, any
import of interpclaims or of a module outside site-packages and the standard library.

With ``serve=True`` the simulation plays the server: the request, deserialized against the
modules of another model (one that holds the weights), runs there, and only its saved values come
back to the caller — as on NDIF, where the caller's model has no weights.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["simulation"]


def simulation(model: Any, *, serve: bool, job_id: str, sent: Callable[[int], None]) -> Any:
    """A backend object for one request, run against ``model``'s modules; ``sent`` is told the
    size of the serialized request."""
    from nnsight.intervention.backends.local_simulation import LocalSimulationBackend
    from nnsight.schema.request import RequestModel

    class Strict(LocalSimulationBackend):  # type: ignore[misc]
        def __call__(self, tracer: Any) -> Any:
            serialize = RequestModel.serialize

            def counted(request: Any, compress: bool = False) -> bytes:
                data: bytes = serialize(request, compress)
                sent(len(data))
                return data

            RequestModel.serialize = counted
            try:
                return self._serve(tracer) if serve else super().__call__(tracer)
            finally:
                RequestModel.serialize = serialize

        def _serve(self, tracer: Any) -> Any:
            from nnsight.intervention.backends.base import Backend
            from nnsight.intervention.tracing.globals import Globals

            fn = Backend.__call__(self, tracer)
            payload = RequestModel(interventions=fn, tracer=tracer).serialize()
            blocked = self._block_user_modules()
            try:
                restored = RequestModel.deserialize(
                    payload, self.model._remoteable_persistent_objects())
            finally:
                self._restore_modules(blocked)
            saved = restored.tracer.execute(restored.interventions)
            Globals.saves.update(id(v) for v in saved.values())  # what the caller may receive
            tracer.push(saved)
            return saved

        def _block_user_modules(self) -> Any:
            blocked = super()._block_user_modules()
            blocked["finder"] = _ImportBlocker(blocked["modules"])
            sys.meta_path.insert(0, blocked["finder"])
            return blocked

        def _restore_modules(self, blocked: Any) -> None:
            sys.meta_path.remove(blocked["finder"])
            super()._restore_modules(blocked)

    backend = Strict(model)
    backend.job_id = job_id
    return backend


class _ImportBlocker:
    """A ``sys.meta_path`` finder refusing interpclaims and every module that is neither in
    site-packages nor in the standard library (what an NDIF server would not have)."""

    def __init__(self, popped: Mapping[str, Any]) -> None:
        self.roots = {"interpclaims"} | {
            name.split(".")[0] for name, mod in popped.items()
            if not _installed(getattr(mod, "__file__", None) or "")}

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in self.roots:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name.split(".")[0])


def _installed(path: str) -> bool:
    return not path or "site-packages" in path or "/lib/python" in path
