"""The preamble every analysis shares: argument checks, data → batch, components, positions.

torch is imported inside the functions: importing interpclaims (and loading the pytest plugin)
stays free of it.
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import DataError, InterpClaimsError

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = [
    "Positions",
    "as_vector",
    "check_model",
    "choice",
    "class_labels",
    "count",
    "fraction",
    "names",
    "parse_component",
    "position_label",
    "positions_mask",
    "prepare",
    "reals",
    "seed_list",
]

# "all", an int (absolute index, bos = 0; negative counts from each prompt's last token), or the
# name of a dataset field holding one index per prompt
Positions = int | str
_NOT_INTERVENABLE = ("pattern", "result", "ln_final", "logits")


def check_model(model: Any, analysis: str) -> Model:
    """``model``, if it is a model loaded by interpclaims (the ``model`` fixture)."""
    __tracebackhide__ = True
    from interpclaims.models import Model

    if not isinstance(model, Model):
        raise InterpClaimsError(
            f"{analysis}() takes the `model` fixture (a model loaded by interpclaims), got "
            f"{type(model).__name__}. Mark the test module with "
            "`pytestmark = ic.model(\"zoo/agreement\")` and take `model` as an argument."
        )
    return model


def choice(value: str, allowed: Sequence[str], what: str, analysis: str,
           param: str | None = None) -> str:
    """``value``, if it is one of ``allowed`` (the runtime check behind a ``Literal`` type);
    ``param`` names the argument in the error (default ``what``)."""
    __tracebackhide__ = True
    if not isinstance(value, str) or value not in allowed:
        near = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise InterpClaimsError(
            f"{analysis}({param or what}=): unknown {what} {_short(value)}{hint}; choose one of "
            f"{', '.join(allowed)}"
        )
    return value


def _short(value: Any) -> str:
    return reprlib.repr(value)


def names(value: Any, allowed: Sequence[str], what: str, param: str, analysis: str
          ) -> tuple[str, ...]:
    """``value`` as a tuple of distinct names, each one of ``allowed`` — for an argument that
    takes a list of names (``controls=``, ``metrics=``). A bare string is an error: iterating
    it would read its letters as names."""
    __tracebackhide__ = True
    if isinstance(value, str):
        raise InterpClaimsError(
            f"{analysis}({param}=) takes a list of {what}s, got the string {value!r}; write "
            f"{param}=[{value!r}] (choose from {', '.join(allowed)})"
        )
    if not isinstance(value, (list, tuple)):
        raise InterpClaimsError(
            f"{analysis}({param}=) takes a list of {what}s, got {type(value).__name__} "
            f"{_short(value)}; write e.g. {param}=[{allowed[0]!r}]"
        )
    out = tuple(choice(v, allowed, what, analysis, param) for v in value)
    twice = sorted({v for v in out if out.count(v) > 1})
    if twice:
        raise InterpClaimsError(f"{analysis}({param}=) names {', '.join(map(repr, twice))} more "
                                "than once; list each once")
    return out


def count(value: Any, param: str, analysis: str, low: int = 1) -> int:
    """``value``, if it is an int ``>= low`` (a bool or a float is an error, not a count)."""
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InterpClaimsError(
            f"{analysis}({param}=): expected a whole number >= {low}, got "
            f"{type(value).__name__} {_short(value)}"
        )
    return value


def fraction(value: Any, param: str, analysis: str, low: float, high: float) -> float:
    """``value``, if it is a real number in ``[low, high]``."""
    __tracebackhide__ = True
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not low <= float(value) <= high):
        raise InterpClaimsError(
            f"{analysis}({param}=): expected a number from {low} to {high}, got "
            f"{type(value).__name__} {_short(value)}"
        )
    return float(value)


def seed_list(seeds: Any, analysis: str) -> list[int]:
    """``seeds=``: a count ``n`` (seeds ``0..n-1``) or a list of distinct integer seeds."""
    __tracebackhide__ = True
    fix = "give a count (seeds=3 pools seeds 0, 1, 2) or a list of integers (seeds=[0, 7])"
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InterpClaimsError(f"{analysis}(seeds=): give at least one seed, got {seeds}; "
                                    f"{fix}")
        return list(range(seeds))
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds)):
        raise InterpClaimsError(f"{analysis}(seeds=): expected a count or a non-empty list of "
                                f"integers, got {type(seeds).__name__} {_short(seeds)}; {fix}")
    if len(set(seeds)) < len(seeds):
        raise InterpClaimsError(f"{analysis}(seeds=): {list(seeds)} repeats a seed, which would "
                                "count the same split twice; list distinct seeds")
    return list(seeds)


def reals(values: Any, param: str, analysis: str) -> tuple[float, ...]:
    """``values`` as a non-empty tuple of finite numbers (a bare number is an error: write a
    list)."""
    __tracebackhide__ = True
    if isinstance(values, (numbers.Real, str)):
        raise InterpClaimsError(f"{analysis}({param}=) takes a list of numbers, got "
                                f"{type(values).__name__} {values!r}; write {param}=[{values!r}]")
    if not isinstance(values, (list, tuple)) or not values:
        raise InterpClaimsError(f"{analysis}({param}=) takes a non-empty list of numbers, got "
                                f"{type(values).__name__} {_short(values)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise InterpClaimsError(f"{analysis}({param}=): every value must be a finite "
                                    f"number, got {type(v).__name__} {v!r} in {_short(values)}")
    return tuple(float(v) for v in values)


def as_vector(value: Any, param: str, analysis: str) -> torch.Tensor:
    """``value`` (a tensor, an array or a list of numbers) as a float32 tensor."""
    __tracebackhide__ = True
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        arr = value.detach().cpu().to(torch.float32).numpy()
    else:
        try:
            arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InterpClaimsError(
                f"{analysis}({param}=): expected a vector of numbers (a tensor, an array or a "
                f"list), got {type(value).__name__} {_short(value)}"
            ) from e
    if value is None or arr.ndim == 0:
        raise InterpClaimsError(f"{analysis}({param}=): expected a vector of numbers, got "
                                f"{type(value).__name__} {value!r}")
    return torch.from_numpy(arr.copy())


def class_labels(ds: Dataset, task: str, analysis: str) -> tuple[tuple[str, ...], list[str]]:
    """The classes of field ``task`` and each row's label; at least two classes, each with
    at least two rows (one to train on, one to test on)."""
    __tracebackhide__ = True
    labels = ds.labels(task, analysis=f"{analysis}(task={task!r})")
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise DataError(f"{analysis}(task={task!r}): every row of {ds.name} has the same label "
                        f"{classes[0]!r}; a probe needs two or more classes")
    rare = [c for c in classes if labels.count(c) < 2]
    if rare:
        many = len(rare) > len(classes) / 2
        raise DataError(
            f"{analysis}(task={task!r}): {len(rare)} of {len(classes)} classes of {ds.name} have "
            f"a single row ({', '.join(map(repr, rare[:5]))}{', ...' if len(rare) > 5 else ''}); "
            "each class needs two rows or more, one to train on and one to test on — "
            + ("the field looks continuous: bin its values into a few classes first" if many
               else "add prompts of that class or drop it")
        )
    return classes, labels


def prepare(model: Model, data: DataSpec | Dataset) -> tuple[Dataset, Batch]:
    """Load ``data``, note it on the claim, and tokenize it."""
    ds = load_data(data)
    _context.note_data(ds.name, ds.sha256)
    return ds, model.tokenize(ds.texts, ds.ids)


def parse_component(model: Model, spec: str | Site, analysis: str) -> Site:
    """The site of a component an analysis intervenes on (a head defaults to its output ``z``)."""
    __tracebackhide__ = True
    site = model.site(spec, default_kind="z")
    if site.kind in _NOT_INTERVENABLE:
        raise InterpClaimsError(
            f"{analysis}(): cannot intervene on {site}; use a head by its output ('L1H2' = z), a "
            "neuron ('L0N17') or a layer site ('L1.mlp_out', 'L0.attn_out', 'L1.resid_post')"
        )
    return site


def positions_mask(batch: Batch, ds: Dataset, positions: Positions, analysis: str,
                   param: str = "positions") -> torch.Tensor:
    """``[batch, pos]`` bool mask of the targeted positions (always inside the real tokens).

    ``"all"``; an int (absolute index, bos = 0; negative counts from each prompt's last token);
    or the name of a dataset field holding one index per prompt (e.g. ``"subject_pos"``).
    ``param`` names the argument in errors.
    """
    __tracebackhide__ = True
    import torch

    mask = batch.mask
    if positions == "all":
        return mask
    n, width = batch.tokens.shape
    if isinstance(positions, str):
        idx = torch.tensor(ds.indices(positions, analysis=f"{analysis}({param}={positions!r})"))
    elif isinstance(positions, int) and not isinstance(positions, bool):
        idx = torch.full((n,), positions)
        idx = torch.where(idx < 0, batch.lengths + idx, idx)
    else:
        raise InterpClaimsError(
            f"{analysis}({param}=): expected 'all', an int (bos = 0, -1 = last token) or the "
            f"name of a dataset field holding one position per row, got {_short(positions)}"
        )
    bad = (idx < 0) | (idx >= batch.lengths)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise DataError(
            f"{analysis}({param}={positions!r}): position {int(idx[i])} is outside prompt "
            f"{batch.ids[i]!r} ({int(batch.lengths[i])} tokens incl. bos; prompts of {ds.name} "
            f"have {int(batch.lengths.min())} to {int(batch.lengths.max())}); use a position "
            "inside every prompt, a negative one counted from the end (-1 = last token), or a "
            "field naming one position per row"
        )
    out = torch.zeros((n, width), dtype=torch.bool)
    out[torch.arange(n), idx] = True
    return out


def position_label(positions: Positions) -> str:
    return "all positions" if positions == "all" else f"position {positions}"
