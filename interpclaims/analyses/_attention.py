"""Attention-pattern scores: how much a head attends along a known pattern, with controls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, get_args

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._sites import Site
from interpclaims.analyses._prepare import check_model, choice, names, prepare

if TYPE_CHECKING:
    import torch

    from interpclaims.models import Batch, Model

__all__ = ["Pattern", "attention_score"]

Pattern = Literal["induction", "previous_token"]
PATTERNS: tuple[Pattern, ...] = get_args(Pattern)
CONTROLS = ("random_heads", "random_heads_same_layer", "reset_network")


def _targets(tokens: list[int], pattern: Pattern) -> list[tuple[int, int]]:
    """(query, key) pairs that a head of this pattern attends along, for one prompt (bos at 0)."""
    if pattern == "previous_token":
        return [(i, i - 1) for i in range(1, len(tokens))]
    last: dict[int, int] = {}
    pairs = []
    for i, t in enumerate(tokens):
        if i > 0 and t in last:
            pairs.append((i, last[t] + 1))
        last[t] = i
    return pairs


def _head_scores(model: Model, batch: Batch, pattern: Pattern, ds_name: str
                 ) -> tuple[torch.Tensor, list[int]]:
    """Per-prompt score of every head: ``[n_kept_prompts, n_layers, n_heads]`` and kept rows."""
    import torch

    s = model.spec
    sites = [Site("pattern", layer) for layer in range(s.n_layers)]
    _, acts = model.run(batch.tokens, read=sites)
    pats = torch.stack([acts[site] for site in sites], dim=1)  # [b, layer, head, q, k]
    rows, scores = [], []
    for b in range(batch.tokens.shape[0]):
        toks = batch.tokens[b, : int(batch.lengths[b])].tolist()
        pairs = _targets(toks, pattern)
        if not pairs:
            continue
        q = torch.tensor([p[0] for p in pairs])
        k = torch.tensor([p[1] for p in pairs])
        scores.append(pats[b][:, :, q, k].mean(-1))  # [layer, head]
        rows.append(b)
    if not rows:
        raise DataError(
            f"attention_score(pattern={pattern!r}): no prompt of dataset {ds_name!r} has a "
            "position this pattern is defined on (an induction score needs repeated tokens)"
        )
    return torch.stack(scores), rows


def _random_heads(model: Model, site: Site, scores: torch.Tensor, name: str, pattern: Pattern,
                  label: str, ids: tuple[str, ...]) -> Estimate:
    """Control ``random_heads`` (or ``random_heads_same_layer``): per prompt, the mean score of
    *every* other head (of the head's own layer).

    This is exactly the expectation of "the mean score of k other heads drawn at random" over all
    draws, for any k: every other head is drawn equally often. So nothing is drawn and the
    control does not depend on the seed — a single draw of a few heads could land on the other
    induction heads or miss them, and that luck was not in the interval.
    """
    __tracebackhide__ = True
    s = model.spec
    others = [(ly, h) for ly in range(s.n_layers) for h in range(s.n_heads)
              if (ly, h) != (site.layer, site.head)
              and (name == "random_heads" or ly == site.layer)]
    if not others:
        raise InterpClaimsError(
            f"{label}: control {name!r} needs another head"
            + (" in the same layer" if name == "random_heads_same_layer" else "")
            + f", and {model.name} has none; use controls=['reset_network'] instead")
    ctrl = scores[:, [c[0] for c in others], [c[1] for c in others]].mean(-1)
    where = "the other heads" + (f" of layer {site.layer}" if name != "random_heads" else "")
    return estimate_from_samples(
        ctrl.numpy(), method=f"mean {pattern} score of {where} ({len(others)} heads: the "
                             "expectation over random draws of other heads)",
        label=f"control:{name}", unit_ids=ids,
    )


def _reset_network(model: Model, site: Site, batch: Batch, pattern: Pattern, ds_name: str
                   ) -> Estimate:
    """Control ``reset_network``: the same head in the same architecture, re-initialized."""
    reset = model.reset_network(0)
    reset_scores, reset_rows = _head_scores(reset, batch, pattern, ds_name)
    return estimate_from_samples(
        reset_scores[:, site.layer, site.head].numpy(),
        method=f"mean {pattern} attention of L{site.layer}H{site.head} in the same "
               "architecture with re-initialized weights",
        label="control:reset_network", unit_ids=tuple(batch.ids[r] for r in reset_rows),
    )


def attention_score(
    model: Model,
    data: DataSpec | Dataset,
    head: str | Site,
    pattern: Pattern = "induction",
    controls: Sequence[str] = ("random_heads",),
) -> Estimate:
    """How much ``head`` attends along ``pattern``, averaged per prompt.

    ``pattern="previous_token"``: attention from each position to the one before it.
    ``pattern="induction"``: attention from each position whose token occurred before to the
    token *after* that earlier occurrence (prompts without repeats are left out).

    Controls: ``random_heads`` — per prompt, the mean score of every other head of the model
    (which is the expectation over random draws of other heads, so no draw and no seed enters),
    compared pairwise with the head's own score; ``random_heads_same_layer`` — the same over the
    other heads of the head's own layer; ``reset_network`` — the same head in the same
    architecture with re-initialized weights.
    """
    __tracebackhide__ = True
    model = check_model(model, "attention_score")
    choice(pattern, PATTERNS, "pattern", "attention_score")
    controls = names(controls, CONTROLS, "control", "controls", "attention_score")
    site = model.site(head, default_kind="pattern")
    if site.head is None:
        raise InterpClaimsError(f"attention_score(head=): {head!r} names no head; write e.g. 'L1H2'")
    ds, batch = prepare(model, data)
    scores, rows = _head_scores(model, batch, pattern, ds.name)
    ids = tuple(batch.ids[r] for r in rows)
    assert site.layer is not None
    label = f"attention_score(L{site.layer}H{site.head}, {pattern})"
    est_controls: dict[str, Estimate] = {}
    for name in ("random_heads", "random_heads_same_layer"):
        if name in controls:
            est_controls[name] = _random_heads(model, site, scores, name, pattern, label, ids)
    if "reset_network" in controls:
        est_controls["reset_network"] = _reset_network(model, site, batch, pattern, ds.name)
    return estimate_from_samples(
        scores[:, site.layer, site.head].numpy(),
        method=f"mean {pattern} attention of L{site.layer}H{site.head} per prompt on {ds.name}",
        label=label, unit_ids=ids, controls=est_controls,
    )
