"""The research actions. Each returns an :class:`Estimate` with a bootstrap interval over prompts.

torch is imported inside the functions: importing interpclaims (and loading the pytest plugin)
stays free of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._sites import Site
from interpclaims.analyses._metrics import STATE_METRICS, Targets, state

if TYPE_CHECKING:
    import torch

    from interpclaims.models import Batch, Model

__all__ = ["attention_score", "measure"]

PATTERNS = ("induction", "previous_token")
N_CONTROL_HEADS = 4


def _check_model(model: Any, analysis: str) -> Model:
    __tracebackhide__ = True
    from interpclaims.models import Model

    if not isinstance(model, Model):
        raise InterpClaimsError(
            f"{analysis}() takes the `model` fixture (a model loaded by interpclaims), got "
            f"{type(model).__name__}. Mark the test module with "
            "`pytestmark = ic.model(\"zoo/agreement\")` and take `model` as an argument."
        )
    return model


def _choice(value: str, allowed: Sequence[str], what: str, analysis: str) -> str:
    __tracebackhide__ = True
    if value not in allowed:
        raise InterpClaimsError(
            f"{analysis}(): unknown {what} {value!r}; choose one of {', '.join(allowed)}"
        )
    return value


def _prepare(model: Model, data: DataSpec | Dataset) -> tuple[Dataset, Batch]:
    ds = load_data(data)
    _context.note_data(ds.name, ds.sha256)
    return ds, model.tokenize(ds.texts, ds.ids)


# -- attention patterns --------------------------------------------------------------------------
def _targets(tokens: list[int], pattern: str) -> list[tuple[int, int]]:
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


def _head_scores(model: Model, batch: Batch, pattern: str, ds_name: str) -> tuple[
    torch.Tensor, list[int]
]:
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


def attention_score(
    model: Model,
    data: DataSpec | Dataset,
    head: str | Site,
    pattern: str = "induction",
    controls: Sequence[str] = ("random_heads",),
) -> Estimate:
    """How much ``head`` attends along ``pattern``, averaged per prompt.

    ``pattern="previous_token"``: attention from each position to the one before it.
    ``pattern="induction"``: attention from each position whose token occurred before to the
    token *after* that earlier occurrence (prompts without repeats are left out).

    Controls: ``random_heads`` — the same score of ``N_CONTROL_HEADS`` other heads drawn at random
    (seeded per claim), averaged per prompt and compared pairwise with the head's own score;
    ``random_heads_same_layer`` — the same, drawn from the head's own layer; ``reset_network`` —
    the same head in the same architecture with re-initialized weights.
    """
    __tracebackhide__ = True
    model = _check_model(model, "attention_score")
    _choice(pattern, PATTERNS, "pattern", "attention_score")
    for c in controls:
        _choice(c, ("random_heads", "random_heads_same_layer", "reset_network"), "control",
                "attention_score")
    site = model.site(head, default_kind="pattern")
    if site.head is None:
        raise InterpClaimsError(f"attention_score(head=): {head!r} names no head; write e.g. 'L1H2'")
    ds, batch = _prepare(model, data)
    scores, rows = _head_scores(model, batch, pattern, ds.name)
    ids = tuple(batch.ids[r] for r in rows)
    assert site.layer is not None
    label = f"attention_score(L{site.layer}H{site.head}, {pattern})"
    est_controls = {}
    s = model.spec
    for name in ("random_heads", "random_heads_same_layer"):
        if name not in controls:
            continue
        others = [(ly, h) for ly in range(s.n_layers) for h in range(s.n_heads)
                  if (ly, h) != (site.layer, site.head)
                  and (name == "random_heads" or ly == site.layer)]
        if not others:
            raise InterpClaimsError(f"attention_score(): no other head for control {name!r}")
        pick = _context.rng(name, label).choice(
            len(others), size=min(N_CONTROL_HEADS, len(others)), replace=False)
        chosen = [others[i] for i in sorted(pick)]
        ctrl = scores[:, [c[0] for c in chosen], [c[1] for c in chosen]].mean(-1)
        names = ", ".join(f"L{ly}H{h}" for ly, h in chosen)
        est_controls[name] = estimate_from_samples(
            ctrl.numpy(), method=f"mean {pattern} score of random heads {names}",
            label=f"control:{name}", unit_ids=ids,
        )
    if "reset_network" in controls:
        reset = model.reset_network(0)
        reset_scores, reset_rows = _head_scores(reset, batch, pattern, ds.name)
        est_controls["reset_network"] = estimate_from_samples(
            reset_scores[:, site.layer, site.head].numpy(),
            method=f"mean {pattern} attention of L{site.layer}H{site.head} in the same "
                   "architecture with re-initialized weights",
            label="control:reset_network", unit_ids=tuple(batch.ids[r] for r in reset_rows),
        )
    return estimate_from_samples(
        scores[:, site.layer, site.head].numpy(),
        method=f"mean {pattern} attention of L{site.layer}H{site.head} per prompt on {ds.name}",
        label=label, unit_ids=ids, controls=est_controls,
    )


# -- behaviour -----------------------------------------------------------------------------------
def measure(model: Model, data: DataSpec | Dataset, metric: str = "logit_diff") -> Estimate:
    """A behaviour metric of the unmodified model, per prompt (see :mod:`interpclaims.analyses._metrics`).

    ``logit_diff``: logit of ``answer`` minus logit of ``wrong`` after the prompt; ``accuracy``:
    whether ``answer`` is preferred; ``prob``: probability of ``answer``; ``loss``: mean
    next-token cross-entropy over the prompt.
    """
    __tracebackhide__ = True
    model = _check_model(model, "measure")
    _choice(metric, STATE_METRICS, "metric", "measure")
    ds, batch = _prepare(model, data)
    logits, _ = model.run(batch.tokens)
    values = state(Targets.of(model, ds, batch, metric), logits, metric)
    return estimate_from_samples(
        values.numpy(), method=f"{metric} per prompt on {ds.name}",
        label=f"{metric}({ds.name})", unit_ids=tuple(batch.ids), rate=metric == "accuracy",
    )
