"""Markers of the public API (``ic.model``), validated where they are read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from interpclaims._errors import InterpClaimsError
from interpclaims.backends import BACKENDS, REMOTE_MODES

if TYPE_CHECKING:
    from interpclaims.models import Placement

__all__ = [
    "FAMILY_MARKER",
    "MODEL_MARKER",
    "MarkerError",
    "ModelParam",
    "family",
    "model",
    "read_model_marker",
    "read_model_placement",
    "read_model_remote",
]


class MarkerError(InterpClaimsError, pytest.Collector.CollectError):
    """A marker (``ic.model``, ``ic.family``) with a bad argument. Raised while pytest collects
    the module, it is reported as its message alone, without pytest's and pluggy's frames."""

MODEL_MARKER = "interpclaims_model"
MODEL_MARKER_SIGNATURE = (
    f"{MODEL_MARKER}(name, *, backends=None, device_map=None, dtype=None, remote=None): load "
    "the `model` fixture from `name` (zoo/<name>, a local Hugging Face folder or a hub name) on "
    "each backend (default: all selected by --claims-backends), placed by Accelerate's "
    "`device_map` ('auto' or {module: device}) in `dtype` ('float32', 'bfloat16', 'float16'); "
    "remote=True|'ndif'|'local'|False runs its nnsight traces on NDIF (default: "
    "--claims-remote). Usually written `pytestmark = ic.model(\"zoo/agreement\")`."
)


FAMILY_MARKER = "interpclaims_family"
FAMILY_MARKER_SIGNATURE = (
    f"{FAMILY_MARKER}(name): put the claims of this test in the multiple-comparison family "
    "`name` (default: all parametrized instances of one test function form a family)."
)


def family(name: str) -> pytest.MarkDecorator:
    """Mark tests whose claims are corrected together (Holm by default) as one family."""
    if not isinstance(name, str) or not name.strip():
        raise MarkerError(f"ic.family(): expected a non-empty family name, got {name!r}")
    return pytest.mark.interpclaims_family(name)


def read_family_marker(mark: pytest.Mark | None, default: str, where: str) -> str:
    if mark is None:
        return default
    if len(mark.args) != 1 or not isinstance(mark.args[0], str) or not mark.args[0].strip():
        raise MarkerError(f"{where}: the family marker takes one non-empty name, got "
                                f"{mark.args!r}")
    return mark.args[0]


def model(name: str, *, backends: Sequence[str] | None = None,
          device_map: str | Mapping[str, str | int] | None = None,
          dtype: Any = None, remote: bool | str | None = None) -> pytest.MarkDecorator:
    """Mark a test, class or module: its ``model`` fixture loads ``name`` on every backend.

    ``device_map`` (``"auto"`` or ``{module name: device}``) and ``dtype`` (``"float32"``,
    ``"bfloat16"``, ``"float16"`` or a torch dtype) load it through Hugging Face Accelerate.
    ``remote``: where the nnsight backend runs its traces — ``True`` / ``"ndif"`` (NDIF),
    ``"local"`` (nnsight's local simulation of NDIF), ``False`` / ``"off"`` (here); ``None``
    (default): as ``--claims-remote`` says. A remote model needs ``backends=["nnsight"]``.

    >>> pytestmark = model("zoo/agreement")              # ids [tl] and [nnsight]
    >>> pytestmark = model("zoo/agreement", backends=["tl"])
    >>> pytestmark = model("org/big-model", device_map="auto", dtype="bfloat16")
    >>> pytestmark = model("meta-llama/Llama-3.1-70B", backends=["nnsight"], remote=True)
    """
    __tracebackhide__ = True
    chosen = tuple(backends) if isinstance(backends, (list, tuple)) else backends
    placed = {k: v for k, v in (("device_map", device_map), ("dtype", dtype), ("remote", remote))
              if v is not None}
    mark = pytest.mark.interpclaims_model(name, backends=chosen, **placed)
    _validate(mark.mark.args, mark.mark.kwargs, "ic.model()")
    read_model_placement(mark.mark, "ic.model()")
    return mark


@dataclass(frozen=True, slots=True)
class ModelParam:
    """The parameter of the ``model`` fixture: which model on which backend (and devices)."""

    name: str
    backend: str
    placement: Placement | None = None  # None: float32 on the CPU
    remote: str | None = None  # off | local | ndif; None: --claims-remote


def _validate(args: tuple[Any, ...], kwargs: Mapping[str, Any], where: str
              ) -> tuple[str, tuple[str, ...]]:
    if len(args) != 1 or not isinstance(args[0], str) or not args[0]:
        raise MarkerError(
            f"{where}: the model marker takes exactly one model name (e.g. 'zoo/agreement'), "
            f"got args {args!r}"
        )
    unknown = set(kwargs) - {"backends", "device_map", "dtype", "remote"}
    if unknown:
        raise MarkerError(f"{where}: unknown marker argument(s) {sorted(unknown)}; "
                                "the keywords are backends=, device_map=, dtype= and "
                                "remote=")
    backends = _backends(kwargs.get("backends"), where)
    if _remote(kwargs.get("remote"), where) not in (None, "off") and backends != ("nnsight",):
        raise MarkerError(f"{where}: remote= runs the nnsight backend remotely (TransformerLens "
                          "has no remote execution); add backends=['nnsight']")
    return args[0], backends


def _remote(value: Any, where: str) -> str | None:
    """The ``remote=`` of a model marker as a mode (``off``, ``local``, ``ndif``) or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "ndif" if value else "off"
    if value not in REMOTE_MODES:
        raise MarkerError(f"{where}: remote= takes True, False, 'ndif', 'local' or 'off', got "
                          f"{value!r}")
    return str(value)


def read_model_remote(mark: pytest.Mark, where: str) -> str | None:
    """The ``remote=`` mode of a model marker (``None``: as ``--claims-remote`` says)."""
    return _remote(mark.kwargs.get("remote"), where)


def _backends(value: Any, where: str) -> tuple[str, ...]:
    """The ``backends=`` of a model marker: ``None`` (every backend) or a list of distinct
    known backend names."""
    __tracebackhide__ = True
    if value is None:
        return BACKENDS
    if isinstance(value, str):
        names = [b.strip() for b in value.split(",") if b.strip()]
        raise MarkerError(f"{where}: backends= takes a list of backend names, got the "
                                f"string {value!r}; write backends={names or ['tl']!r}")
    if not isinstance(value, (list, tuple)):
        raise MarkerError(f"{where}: backends= takes a list of backend names, got "
                                f"{type(value).__name__} {value!r}; write e.g. backends=['tl']")
    if not value:
        raise MarkerError(f"{where}: backends= is empty, so the test would run on no "
                                "backend; name at least one (e.g. backends=['tl']) or leave "
                                "backends= out to run on every backend")
    bad = [b for b in value if b not in BACKENDS]
    if bad:
        raise MarkerError(f"{where}: unknown backend(s) {bad}; known backends: "
                                f"{', '.join(BACKENDS)}")
    twice = sorted({b for b in value if value.count(b) > 1})
    if twice:
        raise MarkerError(f"{where}: backends= names {', '.join(twice)} more than once, "
                                "which would run each claim twice there; list each once")
    return tuple(value)


def read_model_marker(mark: pytest.Mark, where: str) -> tuple[str, tuple[str, ...]]:
    """``(model name, backends)`` of a model marker, or an error naming the bad argument."""
    return _validate(mark.args, mark.kwargs, where)


def read_model_placement(mark: pytest.Mark, where: str) -> Placement | None:
    """The ``device_map=`` and ``dtype=`` of a model marker (None when it gives neither), or an
    error naming the bad one."""
    __tracebackhide__ = True
    if "device_map" not in mark.kwargs and "dtype" not in mark.kwargs:
        return None
    from interpclaims._errors import ModelLoadError
    from interpclaims.models import make_placement

    try:
        return make_placement(mark.kwargs.get("device_map"), mark.kwargs.get("dtype"),
                              where=where)
    except ModelLoadError as e:
        raise MarkerError(str(e)) from None
