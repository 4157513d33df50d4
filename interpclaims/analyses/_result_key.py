"""The key of a cached result: everything that determines what an analysis returns, hashed.

:func:`call_digest` canonicalizes a call into JSON and hashes it: the function (module, qualname),
every bound argument (defaults applied), the claim context (seed, claim key, resamples, interval
level), the harness's own source code and the versions of its dependencies, and the
``INTERPCLAIMS_*`` environment. Arguments are canonicalized by content: arrays and tensors by a
hash of their bytes, a model by its weights hash, backend, tokenizer hash, placement and a hash of
its folder's other files (companion SAEs, transcoders), a string argument naming a file, folder or shipped
dataset also by a hash of that content, value objects (dataclasses) field by field, callables by
module, qualname, a hash of their source and their closure, defaults and the globals they read.
What cannot be hashed reliably raises :class:`Uncacheable`: that call is not cached.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import marshal
import math
import os
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from interpclaims import _context
from interpclaims._data import fixtures_dir
from interpclaims.models import Model

__all__ = ["NotClean", "Uncacheable", "call_digest", "harness_hash"]

_KEY_FORMAT = "interpclaims.result-key/1"
#: The parts of the package whose code decides a result (the plugin and report only show it).
_HARNESS = ("analyses", "stats", "interventions", "models", "backends", "activations", "verdicts")
_DEPENDENCIES = ("numpy", "scipy", "torch", "transformers", "transformer_lens", "nnsight",
                 "scikit-learn", "statsmodels", "sae_lens", "circuit_tracer", "safetensors")
_MAX_FOLDER_FILES = 2000


class Uncacheable(Exception):
    """An argument (or the model) cannot be hashed reliably; the message says which and why."""


class NotClean(Uncacheable):
    """A model carries a hook, an edit or an open intervention: its results are not the clean
    model's, so they are neither read from nor written to the cache."""


@functools.cache
def harness_hash() -> str:
    """sha256 over the source of the harness (its layers' folders and top-level modules)."""
    pkg = Path(__file__).resolve().parent.parent
    files = sorted(pkg.glob("_*.py")) + sorted(p for d in _HARNESS for p in (pkg / d).rglob("*.py"))
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(pkg)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version}
    for name in _DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def _file_digest(path: str, ident: tuple[int, int, int]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _path_digest(p: Path, skip_top_weights: bool = False) -> str:
    """sha256 of a file's bytes, or of a folder's files (names and contents) recursively."""
    def one(f: Path) -> str:
        st = f.stat()
        return _file_digest(str(f.resolve()), (st.st_ino, st.st_size, st.st_mtime_ns))

    if p.is_file():
        return one(p)
    files = sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    if skip_top_weights:  # covered by the model's weights hash
        files = [f for f in files if not (f.parent == p and f.suffix == ".safetensors")]
    if len(files) > _MAX_FOLDER_FILES:
        raise Uncacheable(f"the folder {p} holds {len(files)} files, too many to hash")
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(p)).encode() + b"\0" + one(f).encode() + b"\0")
    return h.hexdigest()


def _string(s: str) -> Any:
    """A string, with the content of the file or folder it names (a path, a shipped dataset)."""
    if not s or s.strip() in (".", "..") or "\n" in s or len(s) > 4096:
        return s
    found = []
    for p in (Path(s), fixtures_dir() / "data" / f"{s}.jsonl"):
        try:
            if p.exists():
                found.append([str(p.resolve()), _path_digest(p)])
        except OSError:
            continue
    return {"str": s, "files": found} if found else s


def _model(m: Any) -> Any:
    if m.leaks():
        raise NotClean(f"{m!r} is not clean ({', '.join(m.leaks())})")
    if not m.weights_hash or m.weights_hash.startswith("hub:"):
        raise Uncacheable(f"the weights of {m.name!r} (loaded from the hub) have no content hash")
    folder = Path(m.source)
    devices, dtypes = m.placement()
    return {"model": m.name, "backend": m.backend, "weights": m.weights_hash,
            "tokenizer": m.tokenizer_hash, "devices": devices, "dtypes": dtypes,
            "folder": _path_digest(folder, skip_top_weights=True) if folder.is_dir() else None}


def _tensor(t: Any) -> Any:
    import torch

    if t.requires_grad or t.is_sparse:
        raise Uncacheable("a tensor that requires grad or is sparse")
    flat = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    return {"tensor": str(t.dtype), "shape": list(t.shape), "device": str(t.device),
            "sha256": hashlib.sha256(flat.tobytes()).hexdigest()}


def _array(a: Any) -> Any:
    import numpy as np

    arr = np.ascontiguousarray(a)
    if arr.dtype.hasobject:
        raise Uncacheable("a numpy array of Python objects")
    return {"ndarray": arr.dtype.str, "shape": list(arr.shape),
            "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}


@functools.lru_cache(maxsize=4096)
def _source(obj: Any) -> str:
    try:
        return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()
    except (OSError, TypeError) as e:
        raise Uncacheable(f"the source of {getattr(obj, '__qualname__', obj)!r} cannot be read "
                          f"({e})") from None


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


class _Canon:
    """Canonicalizes one call's arguments, following callables into the globals they read."""

    def __init__(self) -> None:
        self._seen: set[int] = set()  # functions already written out in full
        self._open: set[int] = set()  # value objects being written out (a cycle is refused)

    def __call__(self, x: Any) -> Any:
        if x is None or type(x) in (bool, int):
            return x
        if type(x) is str:  # a string argument itself is looked up as a path (call_digest)
            return x
        if type(x) is float:
            return {"float": repr(x)} if not math.isfinite(x) else x
        if isinstance(x, Path):
            return {"path": _string(str(x))}
        if isinstance(x, (list, tuple)) and type(x) in (list, tuple):
            return {type(x).__name__: [self(v) for v in x]}
        if isinstance(x, Mapping) and type(x) in (dict, types.MappingProxyType):
            return {"dict": sorted(([self(k), self(v)] for k, v in x.items()), key=json.dumps)}
        if isinstance(x, (set, frozenset)):
            return {"set": sorted((self(v) for v in x), key=json.dumps)}
        if isinstance(x, enum.Enum):
            return {"enum": _qualname(type(x)), "value": self(x.value)}
        mod = type(x).__module__.split(".")[0]
        if mod == "numpy":
            return _array(x)
        if mod == "torch" and hasattr(x, "detach"):
            return _tensor(x)
        if isinstance(x, Model):
            return _model(x)
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return self._dataclass(x)
        if isinstance(x, type):
            return {"class": _qualname(x), **self._code_of(x)}
        if isinstance(x, functools.partial):
            return {"partial": self(x.func), "args": self(x.args), "kw": self(dict(x.keywords))}
        if isinstance(x, types.MethodType):
            return {"method": self(x.__func__), "self": self(x.__self__)}
        if isinstance(x, types.FunctionType):
            return self._function(x)
        if isinstance(x, types.BuiltinFunctionType):
            return {"builtin": f"{x.__module__}.{x.__qualname__}"}
        if isinstance(x, types.ModuleType):
            return {"module": x.__name__}
        raise Uncacheable(f"a {type(x).__module__}.{type(x).__qualname__} cannot be hashed "
                          "reliably")

    def _dataclass(self, x: Any) -> Any:
        if id(x) in self._open:
            raise Uncacheable(f"{type(x).__qualname__} refers to itself")
        self._open.add(id(x))
        try:
            fields = {f.name: self(getattr(x, f.name)) for f in dataclasses.fields(x)}
        finally:
            self._open.discard(id(x))
        return {"dataclass": _qualname(type(x)), **self._code_of(type(x)), "fields": fields}

    def _code_of(self, cls: type) -> dict[str, str]:
        """The source hash of a user's class (the package's own is in the harness hash)."""
        if cls.__module__.startswith(("interpclaims", "builtins")):
            return {}
        return {"source": _source(cls)}

    def _function(self, fn: types.FunctionType) -> Any:
        """Identity, compiled code, defaults and closure; for a user's function also its source
        and the globals it reads (the package's own source is in the harness hash)."""
        out: dict[str, Any] = {"function": _qualname(fn), "code": _code_digest(fn.__code__)}
        if id(fn) in self._seen:
            return out
        self._seen.add(id(fn))
        out["defaults"] = self(tuple(fn.__defaults__ or ()))
        out["kwdefaults"] = self(dict(fn.__kwdefaults__ or {}))
        try:
            out["closure"] = [self(c.cell_contents) for c in fn.__closure__ or ()]
        except ValueError:  # a cell not filled yet
            raise Uncacheable(f"{fn.__qualname__} has an empty closure cell") from None
        if (fn.__module__ or "").split(".")[0] == "interpclaims":
            return out
        out["source"] = _source(fn)
        own = fn.__globals__
        reads = {}
        for name in sorted(_names(fn.__code__) & own.keys()):
            value = own[name]
            if isinstance(value, types.FunctionType) and value.__module__ != fn.__module__:
                reads[name] = {"function": _qualname(value), "source": _source(value)}
            else:
                reads[name] = self(value)
        out["globals"] = reads
        return out


def _code_digest(code: types.CodeType) -> str:
    """sha256 of a compiled function (bytecode, constants, names, line table)."""
    return hashlib.sha256(marshal.dumps(code)).hexdigest()


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def call_digest(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The sha256 naming the result of ``fn(*args, **kwargs)`` in the current claim context.

    Raises:
        Uncacheable: when an argument cannot be hashed reliably.
    """
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        raise Uncacheable(f"the arguments do not bind ({e})") from None
    bound.apply_defaults()
    canon = _Canon()
    ctx = _context.current()
    key = {
        "format": _KEY_FORMAT,
        "function": _qualname(fn),
        "arguments": {name: _string(v) if type(v) is str else canon(v)
                      for name, v in bound.arguments.items()},
        "context": {"seed": ctx.seed, "key": ctx.key, "n_resamples": ctx.n_resamples,
                    "ci_level": repr(ctx.ci_level), "allow_inconclusive": ctx.allow_inconclusive,
                    "sequential": ctx.sequential},
        "harness": harness_hash(),
        "versions": _versions(),
        "environment": sorted((k, v) for k, v in os.environ.items()
                              if k.startswith("INTERPCLAIMS_")),
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
