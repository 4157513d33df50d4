"""The result cache: a decided result is computed once, then read back on every unchanged rerun.

Every public analysis (and the statistics of a comparison, in ``verdicts``) is wrapped by
:func:`cached`. While a :class:`ResultCache` is active (:func:`use_result_cache`; the plugin
enters one per test unless ``--claims-cache`` is ``off`` or ``activations``), a call is keyed by
:func:`~interpclaims.analyses._result_key.call_digest` — everything that determines the result —
and answered from a :class:`~interpclaims.activations.ResultStore` when it can be: no forward
pass, no resample. A hit replays what the call did besides returning: the datasets it noted for
the manifest (:func:`interpclaims._context.note_data`) and the warnings it raised.

A call is computed, never cached, when the model is not clean (a hook, an edit, an open
intervention), when an argument cannot be hashed reliably, or when its result holds something
the format cannot rebuild exactly; the last two are said once per analysis and reason
(:class:`~interpclaims.StoreWarning`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from interpclaims import _context
from interpclaims._errors import StoreWarning
from interpclaims.analyses._result_codec import Unencodable, decode, encode
from interpclaims.analyses._result_key import NotClean, Uncacheable, call_digest
from interpclaims.models import Model

__all__ = ["ResultCache", "cached", "use_result_cache"]

F = TypeVar("F", bound=Callable[..., Any])


class ResultCache:
    """Decided results on a store (an :class:`~interpclaims.activations.ResultStore`, or any
    object with its ``get(digest)`` / ``put(digest, meta, arrays)``), with this process's counters:
    ``hits``, ``misses`` (computed and stored), ``uncacheable`` and ``bypassed`` (a model that is
    not clean) calls."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.hits = 0
        self.misses = 0
        self.uncacheable = 0
        self.bypassed = 0
        self._said: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"ResultCache({self.store!r})"

    def counters(self) -> dict[str, int]:
        """Cumulative counters of this process (the store's ``corrupt`` included)."""
        return {"hits": self.hits, "misses": self.misses, "uncacheable": self.uncacheable,
                "bypassed": self.bypassed, "corrupt": self.store.stats.corrupt}

    def _say(self, fn: Callable[..., Any], why: str) -> None:
        self.uncacheable += 1
        if (fn.__qualname__, why) not in self._said:
            self._said.add((fn.__qualname__, why))
            warnings.warn(f"interpclaims result cache: {fn.__qualname__} is not cached ({why}); "
                          "it is computed on every run", StoreWarning, stacklevel=4)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``fn(*args, **kwargs)``, from the store when an entry is there. Under
        ``--claims-sequential`` an estimate grows while its claim is decided: computed, not
        cached (counted as ``bypassed``)."""
        if _context.current().sequential:
            self.bypassed += 1
            return fn(*args, **kwargs)
        try:
            digest = call_digest(fn, args, kwargs)
        except NotClean:
            self.bypassed += 1
            return fn(*args, **kwargs)
        except Uncacheable as e:
            self._say(fn, f"an argument cannot be hashed reliably: {e}")
            return fn(*args, **kwargs)
        found = self.store.get(digest)
        if found is not None:
            try:
                value = decode(found[0]["result"], found[1], _models(args, kwargs))
            except (ValueError, KeyError, TypeError, AttributeError, ImportError):
                found = None  # written by another version of a class: computed again below
            else:
                self.hits += 1
                _replay(found[0])
                return value
        return self._compute(fn, args, kwargs, digest)

    def _compute(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 digest: str) -> Any:
        outer = _context.current()
        inner = dataclasses.replace(outer, data_used={})
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught, _context.use(inner):
                warnings.simplefilter("always")
                value = fn(*args, **kwargs)
        finally:  # also when fn raised: its datasets and warnings are the claim's
            outer.data_used.update(inner.data_used)
            said = [_warning(w) for w in caught]
            _reemit(said)
        try:
            tree, arrays = encode(value, _models(args, kwargs))
        except Unencodable as e:
            self._say(fn, f"its result holds {e}")
            return value
        self.store.put(digest, {"result": tree, "data_used": inner.data_used, "warnings": said,
                                "function": f"{fn.__module__}.{fn.__qualname__}"}, arrays)
        self.misses += 1
        return value


def _models(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The models a call was given (a result may keep a reference to one)."""
    return tuple(a for a in (*args, *kwargs.values()) if isinstance(a, Model))


def _warning(w: warnings.WarningMessage) -> dict[str, Any]:
    cat = w.category
    return {"category": f"{cat.__module__}:{cat.__qualname__}", "message": str(w.message),
            "filename": w.filename, "lineno": w.lineno}


def _category(name: str) -> type[Warning]:
    module, _, qualname = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return UserWarning
    return cls if isinstance(cls, type) and issubclass(cls, Warning) else UserWarning


def _reemit(said: list[dict[str, Any]]) -> None:
    for w in said:
        warnings.warn_explicit(w["message"], _category(w["category"]), w["filename"], w["lineno"])


def _replay(meta: dict[str, Any]) -> None:
    """What a computed call did besides returning: the datasets it read, the warnings it gave."""
    for name, sha in meta.get("data_used", {}).items():
        _context.note_data(name, sha)
    _reemit(meta.get("warnings", []))


_ACTIVE: contextvars.ContextVar[ResultCache | None] = contextvars.ContextVar(
    "interpclaims_result_cache", default=None)


@contextlib.contextmanager
def use_result_cache(cache: ResultCache | None) -> Iterator[ResultCache | None]:
    """Answer the analyses called inside from ``cache`` (``None``: compute everything)."""
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def cached(fn: F) -> F:
    """``fn`` answered from the active :class:`ResultCache`, when there is one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        cache = _ACTIVE.get()
        if cache is None:
            return fn(*args, **kwargs)
        return cache.call(fn, args, kwargs)

    return wrapper  # type: ignore[return-value]
