"""The preamble every analysis shares: argument checks, data → batch, components, positions.

torch is imported inside the functions: importing interpclaims (and loading the pytest plugin)
stays free of it.
"""

from __future__ import annotations

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
    "check_model",
    "choice",
    "parse_component",
    "position_label",
    "positions_mask",
    "prepare",
]

# "all", an int (absolute index, bos = 0; negative counts from each prompt's last token), or the
# name of a dataset field holding one index per prompt
Positions = int | str
_NOT_INTERVENABLE = ("pattern", "result", "logits")


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


def choice(value: str, allowed: Sequence[str], what: str, analysis: str) -> str:
    """``value``, if it is one of ``allowed`` (the runtime check behind a ``Literal`` type)."""
    __tracebackhide__ = True
    if value not in allowed:
        raise InterpClaimsError(
            f"{analysis}(): unknown {what} {value!r}; choose one of {', '.join(allowed)}"
        )
    return value


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


def positions_mask(batch: Batch, ds: Dataset, positions: Positions, analysis: str
                   ) -> torch.Tensor:
    """``[batch, pos]`` bool mask of the targeted positions (always inside the real tokens).

    ``"all"``; an int (absolute index, bos = 0; negative counts from each prompt's last token);
    or the name of a dataset field holding one index per prompt (e.g. ``"subject_pos"``).
    """
    __tracebackhide__ = True
    import torch

    mask = batch.mask
    if positions == "all":
        return mask
    n, width = batch.tokens.shape
    if isinstance(positions, str):
        idx = torch.tensor([int(v) for v in ds.field(positions, analysis=f"{analysis}(positions=)")])
    elif isinstance(positions, int) and not isinstance(positions, bool):
        idx = torch.full((n,), positions)
        idx = torch.where(idx < 0, batch.lengths + idx, idx)
    else:
        raise InterpClaimsError(
            f"{analysis}(positions=): expected 'all', an int or a dataset field name, got "
            f"{positions!r}"
        )
    bad = (idx < 0) | (idx >= batch.lengths)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise DataError(
            f"{analysis}(positions={positions!r}): position {int(idx[i])} is outside prompt "
            f"{batch.ids[i]!r} ({int(batch.lengths[i])} tokens incl. bos)"
        )
    out = torch.zeros((n, width), dtype=torch.bool)
    out[torch.arange(n), idx] = True
    return out


def position_label(positions: Positions) -> str:
    return "all positions" if positions == "all" else f"position {positions}"
