"""The actual effect of a transcoder feature: remove its decoder contribution from the real
model's MLP output and measure the logit difference (what a graph's direct edge is not).

The edit keeps the transcoder's error term: ``mlp_out ← mlp_out − a · W_dec[feature]`` at the
feature's position, ``a`` being its activation there. It runs through the ``model`` fixture's own
backend (the plain model, not the replacement model), inside :func:`run_strict`, which proves it
fired and removes it afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._sites import Site
from interpclaims.analyses._metrics import resolve
from interpclaims.analyses._prepare import check_model, prepare
from interpclaims.backends import transcoder_decoders
from interpclaims.interventions import patch_edit, run_strict

if TYPE_CHECKING:
    import numpy as np

    from interpclaims.models import Model

__all__ = ["ablation_effects"]


def ablation_effects(model: Model | None, data: DataSpec | Dataset, transcoders: str, layer: int,
                     feature: int, positions: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """Per prompt: logit difference of the model minus that with the feature removed at
    ``positions[i]`` (its activation ``activations[i]``; 0 where the feature is inactive)."""
    __tracebackhide__ = True
    import numpy as np
    import torch

    if model is None:
        raise InterpClaimsError(
            "edge(means='ablation') on graphs loaded from disk needs the model to ablate the "
            "feature in: pass model=model (the `model` fixture)")
    model = check_model(model, "edge")
    ds, batch = prepare(model, data)
    if len(ds.rows) != len(positions):
        raise InterpClaimsError(f"edge(): the graphs cover {len(positions)} prompts, the dataset "
                                f"{ds.name} {len(ds.rows)}; ablate on the data the graphs were built on")
    w_dec = transcoder_decoders(Path(transcoders))[layer][feature]
    site = Site("mlp_out", layer)
    tokens = batch.tokens
    clean_logits, acts = model.run(tokens, read=[site])
    clean = acts[site]
    where = torch.zeros(tokens.shape, dtype=torch.bool)
    source = clean.clone()
    for i, (p, a) in enumerate(zip(positions.tolist(), activations.tolist(), strict=True)):
        if a != 0.0:
            where[i, p] = True
            source[i, p] -= a * torch.from_numpy(w_dec).to(source.dtype)
    edited = run_strict(model, tokens, [(site, patch_edit(site, source, where))], read=[site],
                        baseline={site: clean}, where=where,
                        what="transcoder feature ablation",
                        why=f"L{layer}/tc:{feature} has a zero decoder contribution")
    m = resolve("logit_diff", ("logit_diff",), "attribution_graph", model, ds, batch)
    effect = m.state(clean_logits) - m.state(edited, "ablated")
    return np.asarray(effect.numpy(), dtype=np.float64)
