"""SAE quality as estimates, so that a quality gate is a claim: L0, FVU, CE loss recovered, KL.

All over the real tokens of ``data`` (no ``<bos>``, no pads), one value per prompt:

* **L0**: mean number of active features per token.
* **FVU**: Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the mean over the data's real tokens) — a ratio of sums,
  reported with the delta-method (linearized) per-prompt values
  ``R + (e_i − R·v_i) / mean(v)``, whose mean is exactly ``R`` and whose interval is that of a
  ratio estimator.
* **CE recovered**: ``(CE_zero − CE_sae) / (CE_zero − CE_clean)`` with CE the next-token loss at
  real-token targets, *sae* the run with the activation replaced by the SAE's reconstruction at
  the real tokens, and *zero* the run with it **zero-ablated at the real tokens only** (the
  baseline); linearized per prompt the same way.
* **KL**: KL(clean ‖ sae) of the next-token distribution, mean over real positions per prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from interpclaims._data import Dataset, DataSpec
from interpclaims._estimate import Estimate, estimate_from_samples, estimate_ratio
from interpclaims.analyses._prepare import check_model, prepare
from interpclaims.backends import Assign, PlainEdit, SaeOp
from interpclaims.models import resolve_sae, sae_for

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site

__all__ = ["SAEQuality", "sae_quality"]


@dataclass(frozen=True, slots=True)
class SAEQuality:
    """Quality of an SAE on a dataset's real tokens (see the module doc)."""

    l0: Estimate
    fvu: Estimate
    ce_recovered: Estimate
    kl: Estimate


def _token_nll(logits: torch.Tensor, tokens: torch.Tensor, real: torch.Tensor) -> np.ndarray:
    """Per-prompt summed next-token loss over real-token targets ``[batch]``."""
    import torch

    lp = torch.log_softmax(logits[:, :-1].double(), -1)
    nll = -lp.gather(-1, tokens[:, 1:, None])[..., 0]
    return (nll * real[:, 1:]).sum(1).numpy()


def _replace(sae: Any, where: torch.Tensor) -> Any:
    """The edit that writes, at ``where``, ``sae``'s reconstruction (``None``: zeros)."""
    import torch

    def edit_replace(act: torch.Tensor, rows: slice) -> torch.Tensor:
        new = sae.decode(sae.encode(act)) if sae is not None else torch.zeros_like(act)
        return torch.where(where[rows][..., None], new.to(act.dtype), act)

    if sae is None:
        return PlainEdit(edit_replace, (Assign(torch.zeros(()), where=where),))
    return PlainEdit(edit_replace, (SaeOp("splice", sae.W_enc, sae.b_enc, sae.b_dec, sae.W_dec,
                                          sae.threshold, sae.apply_b_dec_to_input, where),))


def sae_quality(model: Any, data: DataSpec | Dataset, site: str | Site | None = None, *,
                sae: Any = None) -> SAEQuality:
    """L0, FVU, CE recovered and KL of an SAE (default: the model's shipped one; ``site``
    defaults to the SAE's own) on ``data``'s real tokens, each an :class:`Estimate`."""
    __tracebackhide__ = True
    import torch

    model = check_model(model, "sae_quality")
    own = resolve_sae(model, sae, "sae_quality")
    s = own.site if site is None else model.site(site, default_kind="resid_post").base
    enc = sae_for(model, s, sae, "sae_quality")
    ds, batch = prepare(model, data)
    real = batch.mask.clone()
    real[:, 0] = False
    clean_logits, acts = model.run(batch.tokens, read=[s])
    x = acts[s].double()
    feats = enc.encode(acts[s])
    err = ((x - enc.decode(feats).double()) ** 2).sum(-1)
    dev = ((x - x[real].mean(0)) ** 2).sum(-1)
    ntok = real.sum(1).double()
    l0 = ((feats > 0).sum(-1) * real).sum(1) / ntok
    (sae_logits, _), (zero_logits, _) = model.run_many(
        [(batch.tokens, (), [{s: _replace(enc, real)}]),
         (batch.tokens, (), [{s: _replace(None, real)}])])
    ce = {k: _token_nll(v, batch.tokens, real) for k, v in
          (("clean", clean_logits), ("sae", sae_logits), ("zero", zero_logits))}
    p = torch.log_softmax(clean_logits.double(), -1)
    q = torch.log_softmax(sae_logits.double(), -1)
    kl = ((p.exp() * (p - q)).sum(-1) * real).sum(1) / ntok
    ids, name = tuple(batch.ids), f"sae quality of the SAE at {s} on {ds.name}"
    est = {key: estimate_from_samples(values, method=f"{name}: {how}",
                                      label=f"sae_quality({s}).{key}", unit_ids=ids)
           for key, values, how in (
               ("l0", l0.numpy(), "L0 (active features per real token)"),
               ("kl", kl.numpy(), "KL(clean || SAE-spliced), next-token, mean over real tokens"))}
    # ratios of sums over prompts: the paired ratio bootstrap (unbounded where the
    # denominator's interval reaches 0; no per-prompt samples)
    for key, num, den, how in (
        ("fvu", (err * real).sum(1).numpy(), (dev * real).sum(1).numpy(),
         "FVU, summed squared error over summed variance"),
        ("ce_recovered", ce["zero"] - ce["sae"], ce["zero"] - ce["clean"],
         "CE loss recovered vs zero-ablation at real tokens"),
    ):
        est[key] = estimate_ratio(num, den, method=f"{name}: {how}",
                                  label=f"sae_quality({s}).{key}", unit_ids=ids)
    return SAEQuality(**est)
