"""A decided result as JSON plus arrays, without pickle, and back — exactly.

:func:`encode` turns what an analysis returns (an :class:`~interpclaims.Estimate`, a table of
them, a ``Circuit``, a ``ProbeResult``, a steering vector, ...) into a JSON tree and a dict of
numpy arrays; :func:`decode` rebuilds an equal object: every dataclass field (per-prompt samples,
unit ids, controls, context, nulls), floats bit for bit (JSON keeps ``repr``; infinities and NaN
are spelled out), arrays and tensors with their dtypes. Only dataclasses and enums of the
``interpclaims`` package are rebuilt (by module and qualified name); anything else raises
:class:`Unencodable`, and that result is simply not cached.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import math
import types
from typing import Any

__all__ = ["Unencodable", "decode", "encode"]


class Unencodable(Exception):
    """A result holds something this format cannot rebuild exactly; the message names it."""


def _float(x: float) -> Any:
    return x if math.isfinite(x) else {"float": repr(x)}


def encode(value: Any, models: tuple[Any, ...] = ()) -> tuple[Any, dict[str, Any]]:
    """``(tree, arrays)``: ``tree`` JSON-safe, ``arrays`` named numpy arrays it refers to.

    A reference to one of ``models`` (the models the call was given, e.g. kept by attribution
    graphs for later ablations) is written as its position, and :func:`decode` links it to the
    model of the call that reads the entry (the same model: the key holds its weights hash).
    """
    arrays: dict[str, Any] = {}

    def enc(x: Any) -> Any:
        if x is None or type(x) in (bool, int, str):
            return x
        if type(x) is float:
            return _float(x)
        if type(x) in (list, tuple):
            return {type(x).__name__: [enc(v) for v in x]}
        if type(x) in (dict, types.MappingProxyType):
            kind = "dict" if type(x) is dict else "mappingproxy"
            return {kind: [[enc(k), enc(v)] for k, v in x.items()]}
        mod = type(x).__module__
        if mod.split(".")[0] == "numpy":
            return {"ndarray" if type(x).__name__ == "ndarray" else "npscalar": _array(x)}
        if mod.split(".")[0] == "torch" and hasattr(x, "detach"):
            return {"tensor": _tensor(x)}
        if mod.startswith("interpclaims") and isinstance(x, enum.Enum):
            return {"enum": _name(type(x)), "value": enc(x.value)}
        if mod.startswith("interpclaims") and _is_instance(x):
            fields = {f.name: enc(getattr(x, f.name)) for f in dataclasses.fields(x)}
            return {"dataclass": _name(type(x)), "fields": fields}
        for i, m in enumerate(models):
            if x is m:
                return {"modelref": i}
        raise Unencodable(f"a {mod}.{type(x).__qualname__}")

    def _array(x: Any) -> str:
        import numpy as np

        arr = np.asarray(x)
        if arr.dtype.hasobject or arr.dtype.kind not in "biufc":
            raise Unencodable(f"a numpy array of dtype {arr.dtype}")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return name

    def _tensor(t: Any) -> dict[str, Any]:
        if t.requires_grad or t.is_sparse or str(t.device) != "cpu":
            raise Unencodable(f"a tensor on {t.device} (requires grad: {t.requires_grad})")
        try:
            arr = t.detach().numpy()
        except TypeError as e:  # bfloat16 and friends
            raise Unencodable(f"a tensor of dtype {t.dtype} ({e})") from None
        return {"array": _array(arr.copy()), "dtype": str(t.dtype)}

    return enc(value), arrays


def _is_instance(x: Any) -> bool:
    return dataclasses.is_dataclass(x) and not isinstance(x, type)


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if not module.startswith("interpclaims"):
        raise ValueError(f"refusing to rebuild {name!r}: not a class of interpclaims")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


_KINDS = ("float", "list", "tuple", "dict", "mappingproxy", "ndarray", "npscalar", "tensor", "enum",
          "dataclass")


def decode(tree: Any, arrays: dict[str, Any], models: tuple[Any, ...] = ()) -> Any:
    """The value :func:`encode` was given; ``ValueError`` (or ``KeyError``) on a malformed tree."""
    if isinstance(tree, dict) and "modelref" in tree:
        return models[tree["modelref"]]
    return _decode(tree, arrays, models)


def _decode(tree: Any, arrays: dict[str, Any], models: tuple[Any, ...]) -> Any:
    if tree is None or type(tree) in (bool, int, str, float):
        return tree
    kinds = [k for k in _KINDS if isinstance(tree, dict) and k in tree]
    if len(kinds) != 1:
        raise ValueError(f"malformed result tree {str(tree)[:80]!r}")
    kind = kinds[0]
    body = tree[kind]
    if kind == "float":
        return float(body)
    if kind in ("list", "tuple"):
        items = [decode(v, arrays, models) for v in body]
        return items if kind == "list" else tuple(items)
    if kind in ("dict", "mappingproxy"):
        d = {_hashable(decode(k, arrays, models)): decode(v, arrays, models) for k, v in body}
        return d if kind == "dict" else types.MappingProxyType(d)
    if kind == "ndarray":
        return arrays[body]
    if kind == "npscalar":
        return arrays[body][()]
    if kind == "tensor":
        import torch

        return torch.from_numpy(arrays[body["array"]].copy())
    if kind == "enum":
        return _class(body)(decode(tree["value"], arrays, models))
    if kind == "dataclass":
        cls = _class(body)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"{body!r} is not a dataclass")
        obj = object.__new__(cls)  # as it was: __post_init__ already ran when it was made
        for name, value in tree["fields"].items():
            object.__setattr__(obj, name, decode(value, arrays, models))
        return obj
    raise ValueError(f"unknown kind {kind!r} in a result tree")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
