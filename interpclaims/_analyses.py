"""The research actions. Each returns an :class:`Estimate` with a bootstrap interval over prompts.

torch is imported inside the functions: importing interpclaims (and loading the pytest plugin)
stays free of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interpclaims import _context
from interpclaims._data import DataSpec, Dataset, load_data
from interpclaims._errors import DataError, InterpClaimsError, InterventionDidNotFire
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._sites import Site

if TYPE_CHECKING:
    import torch

    from interpclaims._models import Batch, Model

__all__ = ["ablate", "attention_score", "measure"]

PATTERNS = ("induction", "previous_token")
METRICS = ("loss", "logit_diff")
ABLATIONS = ("zero", "mean")
N_CONTROL_HEADS = 4


def _check_model(model: Any, analysis: str) -> Model:
    __tracebackhide__ = True
    from interpclaims._models import Model

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

    Control ``random_heads``: the same score of ``N_CONTROL_HEADS`` other heads drawn at random
    (seeded per claim), averaged per prompt — compared pairwise with the head's own score.
    """
    __tracebackhide__ = True
    model = _check_model(model, "attention_score")
    _choice(pattern, PATTERNS, "pattern", "attention_score")
    for c in controls:
        _choice(c, ("random_heads",), "control", "attention_score")
    site = model.site(head, default_kind="pattern")
    if site.head is None:
        raise InterpClaimsError(f"attention_score(head=): {head!r} names no head; write e.g. 'L1H2'")
    ds, batch = _prepare(model, data)
    scores, rows = _head_scores(model, batch, pattern, ds.name)
    ids = tuple(batch.ids[r] for r in rows)
    assert site.layer is not None
    label = f"attention_score(L{site.layer}H{site.head}, {pattern})"
    est_controls = {}
    if "random_heads" in controls:
        s = model.spec
        others = [(ly, h) for ly in range(s.n_layers) for h in range(s.n_heads)
                  if (ly, h) != (site.layer, site.head)]
        pick = _context.rng("random_heads", label).choice(
            len(others), size=min(N_CONTROL_HEADS, len(others)), replace=False)
        chosen = [others[i] for i in sorted(pick)]
        ctrl = scores[:, [c[0] for c in chosen], [c[1] for c in chosen]].mean(-1)
        names = ", ".join(f"L{ly}H{h}" for ly, h in chosen)
        est_controls["random_heads"] = estimate_from_samples(
            ctrl.numpy(), method=f"mean {pattern} score of random heads {names}",
            label="control:random_heads", unit_ids=ids,
        )
    return estimate_from_samples(
        scores[:, site.layer, site.head].numpy(),
        method=f"mean {pattern} attention of L{site.layer}H{site.head} per prompt on {ds.name}",
        label=label, unit_ids=ids, controls=est_controls,
    )


# -- behaviour metrics ---------------------------------------------------------------------------
def _metric(model: Model, ds: Dataset, batch: Batch, logits: torch.Tensor, metric: str
            ) -> torch.Tensor:
    """Per-prompt metric ``[batch]`` from logits ``[batch, pos, d_vocab]``."""
    import torch

    if metric == "loss":
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll = -logp.gather(-1, batch.tokens[:, 1:, None])[..., 0]  # [batch, pos-1]
        mask = batch.mask[:, 1:].double()
        return (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
    answers = [model.token_id(a, where=f"dataset {ds.name}, field 'answer'")
               for a in ds.field("answer", analysis="metric='logit_diff'")]
    wrongs = [model.token_id(w, where=f"dataset {ds.name}, field 'wrong'")
              for w in ds.field("wrong", analysis="metric='logit_diff'")]
    last = logits[torch.arange(logits.shape[0]), batch.lengths - 1].double()  # [batch, vocab]
    idx = torch.arange(last.shape[0])
    return last[idx, torch.tensor(answers)] - last[idx, torch.tensor(wrongs)]


def measure(model: Model, data: DataSpec | Dataset, metric: str = "logit_diff") -> Estimate:
    """A behaviour metric of the unmodified model, per prompt.

    ``logit_diff``: logit of ``answer`` minus logit of ``wrong`` after the prompt (rows need both
    fields). ``loss``: mean next-token cross-entropy over the prompt's tokens.
    """
    __tracebackhide__ = True
    model = _check_model(model, "measure")
    _choice(metric, METRICS, "metric", "measure")
    ds, batch = _prepare(model, data)
    logits, _ = model.run(batch.tokens)
    values = _metric(model, ds, batch, logits, metric)
    return estimate_from_samples(
        values.numpy(), method=f"{metric} per prompt on {ds.name}",
        label=f"{metric}({ds.name})", unit_ids=tuple(batch.ids),
    )


# -- ablation ------------------------------------------------------------------------------------
def ablate(
    model: Model,
    component: str | Site,
    data: DataSpec | Dataset,
    how: str = "zero",
    metric: str = "loss",
) -> Estimate:
    """Change of ``metric`` when ``component`` is ablated: ``metric(ablated) - metric(clean)``.

    ``component``: a head (``"L1H2"``, ablated at its output ``z`` before W_O), an MLP neuron
    (``"L0N17"``) or a whole site (``"L1.mlp_out"``, ``"L0.attn_out"``, ...).
    ``how="zero"`` replaces the activation by 0; ``how="mean"`` by its mean over all real tokens
    of ``data`` (computed from the clean run). The ablated run must change the activation at the
    component, or :class:`InterventionDidNotFire` is raised.
    """
    __tracebackhide__ = True
    import torch

    model = _check_model(model, "ablate")
    _choice(how, ABLATIONS, "ablation", "ablate")
    _choice(metric, METRICS, "metric", "ablate")
    site = model.site(component, default_kind="z")
    if site.kind in ("pattern", "result", "logits"):
        raise InterpClaimsError(
            f"ablate(): cannot ablate {site}; ablate a head by its output ('L1H2' = z), a neuron "
            "('L0N17') or a layer site ('L1.mlp_out', 'L0.attn_out', 'L1.resid_post')"
        )
    ds, batch = _prepare(model, data)
    base = site.base
    clean_logits, clean = model.run(batch.tokens, read=[base])
    mask = batch.mask
    clean_part = site.select(clean[base])  # [batch, pos, ...]
    if how == "mean":
        replacement = clean_part[mask].mean(0)
    else:
        replacement = torch.zeros_like(clean_part[0, 0])

    def edit(act: torch.Tensor, rows: slice) -> torch.Tensor:
        act = act.clone()
        if site.head is not None:
            act[:, :, site.head] = replacement
        elif site.neuron is not None:
            act[..., site.neuron] = replacement
        else:
            act[:] = replacement
        return act

    ablated_logits, ablated = model.run(batch.tokens, read=[base], edits={base: edit})
    moved = (site.select(ablated[base]) - clean_part)[mask].abs().max()
    if not float(moved) > 0:
        raise InterventionDidNotFire(
            f"ablate({site}, how={how!r}) on {model.name} [{model.backend}] left the activation "
            "at the site unchanged on every token of the data: the ablation did nothing (is the "
            "component already constant at this value?)"
        )
    effect = (_metric(model, ds, batch, ablated_logits, metric)
              - _metric(model, ds, batch, clean_logits, metric))
    return estimate_from_samples(
        effect.numpy(),
        method=f"{how}-ablation of {site} on {ds.name}: {metric}(ablated) - {metric}(clean) "
               "per prompt",
        label=f"ablate({site}, {how}, {metric})", unit_ids=tuple(batch.ids),
    )
