"""Attribution graphs (circuit-tracer) as claims: one graph per prompt, aggregated with intervals.

:func:`attribution_graph` builds, with the transcoders shipped beside the model, one graph per
prompt on the ``model`` fixture's backend, to circuit-tracer's top-logit targets
(``target="top_logits"``) or to the logit difference answer − wrong (``target="logit_diff"``).
What it returns is plain numpy arrays and node descriptors, the same whichever backend made them,
saved and loaded without pickle (:mod:`interpclaims.analyses._graph_files`).

Claims aggregate over prompts, each an :class:`Estimate` with an interval: a feature is in the
top-k nodes by influence (a rate, Wilson interval); it survives pruning (a rate); the replacement
and completeness scores (means); a direct edge to the logit difference, or the actual effect of
ablating the feature (a mean) — a direct edge is not a causal effect, so :meth:`edge` says which
one a claim means and reports both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_samples
from interpclaims.analyses._graph_files import read_graph_files, write_graph_files
from interpclaims.analyses._prepare import check_model, choice, count, prepare

if TYPE_CHECKING:
    import numpy as np

    from interpclaims.models import Model

__all__ = ["AttributionGraph", "AttributionGraphs", "attribution_graph", "parse_feature"]

GraphTarget = Literal["logit_diff", "top_logits"]
EdgeMeaning = Literal["edge", "ablation"]
TARGETS = ("logit_diff", "top_logits")
_FEATURE = re.compile(r"^L(\d+)/tc:(\d+)$")


@dataclass(frozen=True, slots=True)
class AttributionGraph:
    """One prompt's graph. Nodes: ``features`` (one row ``(layer, position, feature)`` each), then
    an error node per layer and position, a token node per position, the logit targets;
    ``adjacency[target, source]`` is the direct effect of ``source`` on ``target``."""

    prompt_id: str
    tokens: np.ndarray
    features: np.ndarray
    activations: np.ndarray
    adjacency: np.ndarray
    logit_labels: tuple[str, ...]
    logit_ids: np.ndarray
    logit_weights: np.ndarray
    influence: np.ndarray
    pruned: np.ndarray
    replacement_score: float
    completeness_score: float
    n_layers: int
    positions: Mapping[str, int] = field(default_factory=dict)  # integer fields of the row

    ARRAYS = ("tokens", "features", "activations", "adjacency", "logit_ids", "logit_weights",
              "influence", "pruned")

    def nodes(self, layer: int, feature: int, at: int | None) -> np.ndarray:
        """Indices of the nodes of ``feature`` of ``layer`` (at position ``at``, or anywhere)."""
        import numpy as np

        f = self.features
        hit = (f[:, 0] == layer) & (f[:, 2] == feature)
        if at is not None:
            hit &= f[:, 1] == at
        return np.flatnonzero(hit)


def parse_feature(spec: Any, where: str) -> tuple[int, int]:
    """``"L1/tc:37"`` (feature 37 of the layer-1 transcoder) or ``(1, 37)``."""
    __tracebackhide__ = True
    if isinstance(spec, tuple) and len(spec) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in spec):
        return spec[0], spec[1]
    m = _FEATURE.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise InterpClaimsError(f"{where}: cannot read the transcoder feature {spec!r}; write "
                                "'L<layer>/tc:<index>' (e.g. 'L1/tc:37') or a (layer, index) pair")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, slots=True)
class AttributionGraphs:
    """The graphs of a dataset's prompts (one per prompt, in dataset order) and claims on them."""

    graphs: tuple[AttributionGraph, ...]
    model: str
    data: str
    target: str
    transcoders: str
    _source: Any = field(default=None, compare=False, repr=False)  # (Model, Dataset): ablations

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the graphs into ``folder`` without pickle (JSON + npz); :meth:`load` reads them."""
        meta = {"model": self.model, "data": self.data, "target": self.target,
                "transcoders": self.transcoders,
                "graphs": [{"prompt_id": g.prompt_id, "logit_labels": list(g.logit_labels),
                            "replacement_score": g.replacement_score,
                            "completeness_score": g.completeness_score,
                            "n_layers": g.n_layers, "positions": dict(g.positions)}
                           for g in self.graphs]}
        arrays = {f"{i}/{k}": getattr(g, k) for i, g in enumerate(self.graphs)
                  for k in AttributionGraph.ARRAYS}
        return write_graph_files(folder, meta, arrays)

    @classmethod
    def load(cls, folder: str | Path) -> AttributionGraphs:
        """Graphs written by :meth:`save` (an ablation then needs ``model=``)."""
        __tracebackhide__ = True
        meta, arrays = read_graph_files(folder)
        fields: list[dict[str, Any]] = [
            {**g, "logit_labels": tuple(g["logit_labels"]),
             **{k: arrays[f"{i}/{k}"] for k in AttributionGraph.ARRAYS}}
            for i, g in enumerate(meta["graphs"])]
        graphs = tuple(AttributionGraph(**f) for f in fields)
        return cls(graphs=graphs, model=meta["model"], data=meta["data"],
                   target=meta["target"], transcoders=meta["transcoders"])

    # -- per-prompt quantities --------------------------------------------------------------
    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(g.prompt_id for g in self.graphs)

    def _estimate(self, values: Any, what: str, label: str, rate: bool = False,
                  context: Mapping[str, Any] | None = None) -> Estimate:
        import dataclasses

        est = estimate_from_samples(values, method=f"attribution graph {what}",
                                    label=f"{label} ({self.data}, {self.target})",
                                    unit_ids=self.ids, rate=rate)
        return dataclasses.replace(est, context=dict(context or {})) if context else est

    def _position(self, g: AttributionGraph, at: int | str | None, where: str) -> int | None:
        __tracebackhide__ = True
        if at is None or (isinstance(at, int) and not isinstance(at, bool)):
            return at if at is None or at >= 0 else len(g.tokens) + at
        if at == "last":
            return len(g.tokens) - 1
        if isinstance(at, str) and at in g.positions:
            return g.positions[at]
        have = ", ".join(sorted(g.positions)) or "none"
        raise InterpClaimsError(f"{where}(at={at!r}): not a position; give an index (bos = 0, "
                                f"negative from the end), 'last', None (any position) or an "
                                f"integer field of {self.data} ({have})")

    def top_feature(self, at: int | str | None = None, layer: int | None = None) -> str:
        """The feature (``"L<layer>/tc:<index>"``) of largest influence summed over these prompts,
        at position ``at`` (None: any) and of ``layer`` (None: any). Choose a feature on some
        prompts and claim on others: choosing and testing on the same prompts inflates the rate."""
        __tracebackhide__ = True
        import numpy as np

        total: dict[tuple[int, int], float] = {}
        for g in self.graphs:
            p = self._position(g, at, "top_feature")
            for (L, pos, f), infl in zip(g.features.tolist(), g.influence[: len(g.features)],
                                         strict=True):
                if (p is None or pos == p) and (layer is None or L == layer):
                    total[L, f] = total.get((L, f), 0.0) + float(infl)
        if not total:
            raise InterpClaimsError(f"top_feature(at={at!r}, layer={layer!r}): no active feature "
                                    f"there in any of the {len(self.graphs)} graphs")
        keys = sorted(total)
        best = keys[int(np.argmax([total[k] for k in keys]))]
        return f"L{best[0]}/tc:{best[1]}"

    def replacement_score(self) -> Estimate:
        """circuit-tracer's replacement score per prompt (the fraction of the token → logit
        influence that flows through features, not error nodes), averaged over prompts."""
        return self._estimate([g.replacement_score for g in self.graphs], "replacement score",
                              "replacement score")

    def completeness_score(self) -> Estimate:
        """circuit-tracer's completeness score per prompt, averaged over prompts."""
        return self._estimate([g.completeness_score for g in self.graphs], "completeness score",
                              "completeness score")

    def in_top_k(self, feature: Any, k: int, at: int | str | None = None) -> Estimate:
        """The rate of prompts in which ``feature`` (at position ``at``; None: any position) is
        among the ``k`` feature nodes of largest influence on the targets (Wilson interval)."""
        __tracebackhide__ = True
        import numpy as np

        layer, idx = parse_feature(feature, "in_top_k(feature=)")
        count(k, "k", "in_top_k")
        hits = []
        for g in self.graphs:
            n_feat = len(g.features)
            order = np.argsort(-g.influence[:n_feat], kind="stable")[:k]
            nodes = g.nodes(layer, idx, self._position(g, at, "in_top_k"))
            hits.append(float(np.isin(nodes, order).any()))
        return self._estimate(hits, "top-k influence", f"L{layer}/tc:{idx} in top {k}", rate=True)

    def in_pruned_graph(self, feature: Any, at: int | str | None = None) -> Estimate:
        """The rate of prompts in which ``feature`` (at ``at``) survives circuit-tracer's pruning
        (node threshold 0.8, edge threshold 0.98)."""
        __tracebackhide__ = True
        layer, idx = parse_feature(feature, "in_pruned_graph(feature=)")
        hits = [float(g.pruned[g.nodes(layer, idx, self._position(g, at, "in_pruned_graph"))]
                      .any()) for g in self.graphs]
        return self._estimate(hits, "pruned-graph membership", f"L{layer}/tc:{idx} in pruned "
                              "graph", rate=True)

    def edge(self, feature: Any, at: int | str, means: EdgeMeaning = "edge",
             model: Model | None = None) -> Estimate:
        """The direct edge from ``feature`` at ``at`` to the logit difference (``means="edge"``:
        the graph's linear, frozen-attention, frozen-norm effect), or the actual effect of the
        feature (``means="ablation"``: logit difference of the real model minus that with the
        feature's decoder contribution removed from the MLP output at ``at``). Same sign
        convention: positive = the feature raises the logit difference. 0 on prompts where the
        feature is inactive. The estimate's ``context`` reports both.
        """
        __tracebackhide__ = True
        import numpy as np

        choice(means, ("edge", "ablation"), "meaning", "edge", "means")
        layer, idx = parse_feature(feature, "edge(feature=)")
        if self.target != "logit_diff":
            raise InterpClaimsError(
                "edge(): edges are read to the logit-difference node; build the graphs with "
                "ic.attribution_graph(model, data, target='logit_diff')")
        edges, acts, pos = [], [], []
        for g in self.graphs:
            p = self._position(g, at, "edge")
            if p is None:
                raise InterpClaimsError(
                    "edge(at=None): an edge and its ablation are read at one position; give an "
                    "index, 'last' or a dataset field (e.g. at='last')")
            nodes = g.nodes(layer, idx, p)
            edges.append(float(g.adjacency[-1, nodes].sum()))
            acts.append(float(g.activations[nodes].sum()))
            pos.append(p)
        if not any(acts):
            raise InterpClaimsError(
                f"edge(): L{layer}/tc:{idx} is active at position {at!r} in none of the "
                f"{len(self.graphs)} prompts of {self.data}; choose an active feature (the "
                "graphs' `features` arrays list them)")
        import dataclasses

        from interpclaims.analyses._graph_ablation import ablation_effects

        edge_est = self._estimate(edges, "direct edge", f"edge L{layer}/tc:{idx}→logit diff")
        source_model, ds = self._source if self._source is not None else (model, None)
        if means == "edge" and model is None and source_model is None:
            # graphs loaded from disk, no model given: the edge alone (no ablation to report)
            return dataclasses.replace(edge_est, context={"edge": edge_est.to_json()})
        effects = ablation_effects(model or source_model, ds or self.data, self.transcoders,
                                   layer, idx, np.array(pos), np.array(acts))
        abl_est = self._estimate(effects, "feature ablation effect",
                                 f"ablation effect of L{layer}/tc:{idx}")
        both = {"edge": edge_est.to_json(), "ablation_effect": abl_est.to_json()}
        return dataclasses.replace(edge_est if means == "edge" else abl_est, context=both)


def attribution_graph(model: Model, data: DataSpec | Dataset, target: GraphTarget = "logit_diff",
                      *, transcoders: str | Path | None = None, max_n_logits: int = 10,
                      desired_logit_prob: float = 0.95) -> AttributionGraphs:
    """circuit-tracer attribution graphs of ``data``'s prompts on the model's backend.

    ``target``: ``"logit_diff"`` (one target node: the direction W_U[answer] − W_U[wrong]) or
    ``"top_logits"`` (circuit-tracer's default: the most probable next tokens until
    ``desired_logit_prob``, at most ``max_n_logits``). ``transcoders``: a folder in
    circuit-tracer's format; by default the ``transcoders/`` folder beside the model.
    """
    __tracebackhide__ = True
    model = check_model(model, "attribution_graph")
    choice(target, TARGETS, "target", "attribution_graph")
    count(max_n_logits, "max_n_logits", "attribution_graph")
    folder = Path(transcoders) if transcoders is not None else Path(model.source) / "transcoders"
    ds, batch = prepare(model, data)
    replacement = model.replacement(folder.resolve())
    diffs: list[tuple[str, int, int] | None] = [None] * len(ds.rows)
    if target == "logit_diff":
        answers, wrongs = ds.words("answer", analysis="attribution_graph"), ds.words(
            "wrong", analysis="attribution_graph")
        diffs = [(f"logit({a})-logit({w})",
                  model.token_id(a, where=f"dataset {ds.name}, row {i!r}, field 'answer'"),
                  model.token_id(w, where=f"dataset {ds.name}, row {i!r}, field 'wrong'"))
                 for a, w, i in zip(answers, wrongs, ds.ids, strict=True)]
    graphs = []
    for row, (prompt_id, n) in enumerate(zip(batch.ids, batch.lengths.tolist(), strict=True)):
        raw = replacement.graph(batch.tokens[row, :n].tolist(), diffs[row], max_n_logits,
                                desired_logit_prob)
        ints = {k: v for k, v in ds.rows[row].items()
                if isinstance(v, int) and not isinstance(v, bool)}
        graphs.append(AttributionGraph(prompt_id=prompt_id, positions=ints, **{
            k: getattr(raw, k) for k in raw.__slots__}))  # type: ignore[attr-defined]
    return AttributionGraphs(graphs=tuple(graphs), model=model.name, data=ds.name, target=target,
                             transcoders=str(folder), _source=(model, ds))
