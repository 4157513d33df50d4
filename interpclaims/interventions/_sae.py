"""SAE feature edits that keep the SAE's error term.

``x ← x + decode(f′) − decode(f)``, with ``f = encode(x)`` and ``f′`` equal to ``f`` except at the
edited features: the activation changes by exactly the edited features' decoder contributions
(``Σ_i (f′_i − f_i) W_dec[i]``), and whatever the SAE does not reconstruct stays in place. No
``HookedSAETransformer`` is involved: the edit is an ordinary edit of the base site, applied by
:meth:`Model.intervene` on either backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from interpclaims.backends import PlainEdit, SaeOp

if TYPE_CHECKING:
    import torch

    from interpclaims.interventions._edits import Edit
    from interpclaims.models import SparseAutoencoder

__all__ = ["FeatureEditMode", "sae_feature_edit"]

FeatureEditMode = Literal["set", "add"]


def sae_feature_edit(sae: SparseAutoencoder, features: Sequence[int], mode: FeatureEditMode,
                     value: float, where: torch.Tensor) -> Edit:
    """An edit of ``sae.site`` that sets (``mode="set"``) or shifts (``mode="add"``) the
    activations of ``features`` by ``value`` at the positions ``where`` (``[batch, pos]`` bool).

    Positions where the edited features keep their values are returned bit-identical.
    """
    import torch

    feats = torch.tensor(list(features), dtype=torch.long)
    w_dec = sae.W_dec[feats]  # [k, d_in]

    def edit_sae(act: torch.Tensor, rows: slice) -> torch.Tensor:
        f = sae.encode(act)[..., feats]  # [rows, pos, k]
        new = torch.full_like(f, value) if mode == "set" else f + value
        delta = ((new - f) @ w_dec).to(act.dtype)  # [rows, pos, d_in]
        moved = where[rows][..., None] & (new != f).any(-1, keepdim=True)
        return torch.where(moved, act + delta, act)

    op = SaeOp(mode, sae.W_enc, sae.b_enc, sae.b_dec, w_dec, sae.threshold,
               sae.apply_b_dec_to_input, where, feats=feats, value=value)
    return PlainEdit(edit_sae, (op,))
