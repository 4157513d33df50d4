"""Attention-pattern scores: how much a head attends along a known pattern, with controls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims._sites import Site
from interpclaims.analyses._prepare import check_model, choice, names, positions_mask, prepare

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


# (query, key) pairs of one prompt, from its row index in the batch and its tokens (bos at 0)
PairsOf = Callable[[int, list[int]], list[tuple[int, int]]]


def _head_scores(model: Model, batch: Batch, pairs_of: PairsOf, args: str, ds_name: str
                 ) -> tuple[torch.Tensor, list[int]]:
    """Per-prompt score of every head: ``[n_kept_prompts, n_layers, n_heads]`` and kept rows
    (``args`` names the pattern in errors: ``"pattern='induction'"``)."""
    import torch

    s = model.spec
    sites = [Site("pattern", layer) for layer in range(s.n_layers)]
    _, acts = model.run(batch.tokens, read=sites)
    pats = torch.stack([acts[site] for site in sites], dim=1)  # [b, layer, head, q, k]
    rows, scores = [], []
    for b in range(batch.tokens.shape[0]):
        toks = batch.tokens[b, : int(batch.lengths[b])].tolist()
        pairs = pairs_of(b, toks)
        if not pairs:
            continue
        q = torch.tensor([p[0] for p in pairs])
        k = torch.tensor([p[1] for p in pairs])
        scores.append(pats[b][:, :, q, k].mean(-1))  # [layer, head]
        rows.append(b)
    if not rows:
        raise DataError(
            f"attention_score({args}): no prompt of dataset {ds_name!r} has a "
            "position this pattern is defined on (an induction score needs repeated tokens)"
        )
    return torch.stack(scores), rows


def _pattern_pairs(pattern: Pattern) -> PairsOf:
    return lambda b, toks: _targets(toks, pattern)


def _position(batch: Batch, ds: Dataset, spec: Any, param: str) -> torch.Tensor:
    """``query=`` / ``key=`` as one position per prompt ``[batch]`` (checked inside each prompt)."""
    __tracebackhide__ = True
    if spec == "all" or not isinstance(spec, (str, int)) or isinstance(spec, bool):
        raise InterpClaimsError(
            f"attention_score({param}=): expected an int (bos = 0, -1 = the last real token) or "
            f"the name of a dataset field holding one position per row"
            + (", or 'previous' (query - 1)" if param == "key" else "") + f"; got {spec!r}"
        )
    return positions_mask(batch, ds, spec, "attention_score", param).int().argmax(1)


def _query_key_pairs(batch: Batch, ds: Dataset, query: Any, key: Any) -> PairsOf:
    """One (query, key) pair per prompt, from the data (``key="previous"``: query − 1)."""
    __tracebackhide__ = True
    q = _position(batch, ds, query, "query")
    k = q - 1 if key == "previous" else _position(batch, ds, key, "key")
    bad = ((k < 0) | (k > q)).nonzero().flatten().tolist()
    if bad:
        i = bad[0]
        raise DataError(
            f"attention_score(query={query!r}, key={key!r}): in prompt {batch.ids[i]!r} of "
            f"{ds.name} the key position {int(k[i])} is "
            + ("before the first token" if int(k[i]) < 0 else f"after the query {int(q[i])}")
            + "; a causal head attends only from a position to itself and earlier ones: choose a "
            "key at or before the query"
        )
    return lambda b, toks: [(int(q[b]), int(k[b]))]


def _random_heads(model: Model, site: Site, scores: torch.Tensor, name: str, pattern: str,
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


def _reset_network(model: Model, site: Site, batch: Batch, pairs_of: PairsOf, what: str,
                   args: str, ds_name: str) -> Estimate:
    """Control ``reset_network``: the same head in the same architecture, re-initialized."""
    reset = model.reset_network(0)
    reset_scores, reset_rows = _head_scores(reset, batch, pairs_of, args, ds_name)
    return estimate_from_samples(
        reset_scores[:, site.layer, site.head].numpy(),
        method=f"mean {what} attention of L{site.layer}H{site.head} in the same "
               "architecture with re-initialized weights",
        label="control:reset_network", unit_ids=tuple(batch.ids[r] for r in reset_rows),
    )


def attention_score(
    model: Model,
    data: DataSpec | Dataset,
    head: str | Site,
    pattern: Pattern | None = None,
    controls: Sequence[str] = ("random_heads",),
    *,
    query: int | str | None = None,
    key: int | str | None = None,
) -> Estimate:
    """How much ``head`` attends along ``pattern``, or from ``query`` to ``key``, per prompt.

    ``pattern="previous_token"``: attention from each position to the one before it.
    ``pattern="induction"`` (the default when no ``query``/``key`` is given): attention from each
    position whose token occurred before to the token *after* that earlier occurrence (prompts
    without repeats are left out).
    ``query=`` and ``key=`` (instead of ``pattern=``, both needed): the attention weight from one
    position to another in each prompt, each a dataset field holding one position per row (e.g.
    ``"subject_pos"``) or an int (bos = 0; negative ints count back from the prompt's last real
    token, -1 = the last one, where the next token is predicted); ``key="previous"`` is the
    position before the query.

    Controls: ``random_heads`` — per prompt, the mean score of every other head of the model
    (which is the expectation over random draws of other heads, so no draw and no seed enters),
    compared pairwise with the head's own score; ``random_heads_same_layer`` — the same over the
    other heads of the head's own layer; ``reset_network`` — the same head in the same
    architecture with re-initialized weights.
    """
    __tracebackhide__ = True
    model = check_model(model, "attention_score")
    by_position = query is not None or key is not None
    if by_position and pattern is not None:
        raise InterpClaimsError(
            f"attention_score(): pattern={pattern!r} and query=/key= are two ways to say where "
            "the head attends; give one: pattern='induction' | 'previous_token', or query= and key="
        )
    if by_position and (query is None or key is None):
        raise InterpClaimsError(
            f"attention_score(): query={query!r}, key={key!r} — give both, e.g. "
            "query=-1, key='subject_pos' (from the last token to the subject)"
        )
    controls = names(controls, CONTROLS, "control", "controls", "attention_score")
    site = model.site(head, default_kind="pattern")
    if site.head is None:
        raise InterpClaimsError(f"attention_score(head=): {head!r} names no head; write e.g. 'L1H2'")
    ds, batch = prepare(model, data)
    if by_position:
        what, args = f"{query}→{key}", f"query={query!r}, key={key!r}"
        pairs_of = _query_key_pairs(batch, ds, query, key)
    else:
        what = choice(pattern or "induction", PATTERNS, "pattern", "attention_score")
        args = f"pattern={what!r}"
        pairs_of = _pattern_pairs(cast("Pattern", what))
    scores, rows = _head_scores(model, batch, pairs_of, args, ds.name)
    ids = tuple(batch.ids[r] for r in rows)
    assert site.layer is not None
    label = f"attention_score(L{site.layer}H{site.head}, {what})"
    est_controls: dict[str, Estimate] = {}
    for name in ("random_heads", "random_heads_same_layer"):
        if name in controls:
            est_controls[name] = _random_heads(model, site, scores, name, what, label, ids)
    if "reset_network" in controls:
        est_controls["reset_network"] = _reset_network(model, site, batch, pairs_of, what,
                                                       args, ds.name)
    return estimate_from_samples(
        scores[:, site.layer, site.head].numpy(),
        method=f"mean {what} attention of L{site.layer}H{site.head} per prompt on {ds.name}",
        label=label, unit_ids=ids, controls=est_controls,
    )
