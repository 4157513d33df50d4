"""Backend parity: the same batch through two backends, compared site by site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interpclaims._sites import GLOBAL_KINDS, LAYER_KINDS, Site

if TYPE_CHECKING:
    import torch

    from interpclaims.models._batch import Batch
    from interpclaims.models._model import Model

__all__ = ["SiteDifference", "all_sites", "compare_backends", "max_difference"]


@dataclass(frozen=True, slots=True)
class SiteDifference:
    site: Site
    max_abs: float  # max |a - b| over real (non-pad) positions
    max_rel: float  # max_abs / max |a|


def all_sites(n_layers: int) -> list[Site]:
    """Every whole-tensor site of every layer, the final norm's output and the logits."""
    return [Site(k, layer) for layer in range(n_layers) for k in LAYER_KINDS] + [
        Site(k) for k in GLOBAL_KINDS]


def max_difference(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, *, pattern: bool = False
                   ) -> tuple[float, float]:
    """``(max|a-b|, max|a-b| / max|a|)`` over real positions of canonical activations.

    ``mask`` is ``[batch, pos]`` (True on real tokens); with ``pattern=True`` the tensors are
    attention patterns ``[batch, head, q, k]``, compared where both query and key are real.
    """
    import torch

    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if pattern:
        keep = (mask[:, None, :, None] & mask[:, None, None, :]).expand_as(a)
    else:
        keep = mask.reshape(*mask.shape, *([1] * (a.dim() - 2))).expand_as(a)
    diff = float((a - b).abs()[keep].max())
    scale = float(a.abs()[keep].max().clamp(min=torch.finfo(a.dtype).tiny))
    return diff, diff / scale


def compare_backends(a: Model, b: Model, batch: Batch, sites: Sequence[Site] | None = None
                     ) -> list[SiteDifference]:
    """Run ``batch`` through both models and compare every site (default: all sites)."""
    sites = list(sites) if sites is not None else all_sites(a.spec.n_layers)
    _, acts_a = a.run(batch.tokens, read=sites)
    _, acts_b = b.run(batch.tokens, read=sites)
    out = []
    for site in sites:
        d_abs, d_rel = max_difference(acts_a[site.base], acts_b[site.base], batch.mask,
                                      pattern=site.kind == "pattern")
        out.append(SiteDifference(site, d_abs, d_rel))
    return out
