"""Analyses: the research actions, each returning an Estimate (or a table of them).

One module per action: ``_attention`` (attention-pattern scores), ``_behaviour`` (a metric of the
unmodified model), ``_ablation``, ``_patching``, ``_steering``, ``_localize``, ``_circuit``,
``_probe`` (its classifiers in ``_classifiers``, its permutation null in ``_permutation_null``),
``_feature_comparison``, ``_polysemanticity``, ``_collapse`` (the layer sweeps they share in
``_decodability``), ``_graphs`` (attribution graphs, with ``_graph_ablation`` and
``_graph_files``); shared by them: ``_prepare`` (argument checks, data → batch, components,
positions) and ``_metrics``. SAE features: ``_sae`` (activation, selectivity, ablation,
steering) and ``_sae_quality``.
"""

from __future__ import annotations

from interpclaims.analyses._ablation import PairwiseAblation, ablate, ablate_pair
from interpclaims.analyses._atp import AttributionSweep
from interpclaims.analyses._attention import attention_score
from interpclaims.analyses._behaviour import measure
from interpclaims.analyses._circuit import Circuit, circuit
from interpclaims.analyses._collapse import Collapse, representation_collapse
from interpclaims.analyses._feature_comparison import FeatureComparison, compare_features
from interpclaims.analyses._graphs import AttributionGraph, AttributionGraphs, attribution_graph
from interpclaims.analyses._localize import Localization, localize
from interpclaims.analyses._patching import patch
from interpclaims.analyses._polysemanticity import Polysemanticity, polysemanticity
from interpclaims.analyses._probe import ProbeResult, probe
from interpclaims.analyses._result_cache import ResultCache, cached, use_result_cache
from interpclaims.analyses._sae import (
    FeatureEdit,
    Selectivity,
    sae_ablate,
    sae_activation,
    sae_selectivity,
    sae_steer,
)
from interpclaims.analyses._sae_quality import SAEQuality, sae_quality
from interpclaims.analyses._steering import SteeringResult, mean_difference, steer
from interpclaims.analyses._sweeps import patch_heads, patch_sweep

# every public analysis answers from the active result cache (see _result_cache)
ablate = cached(ablate)
ablate_pair = cached(ablate_pair)
attention_score = cached(attention_score)
attribution_graph = cached(attribution_graph)
circuit = cached(circuit)
compare_features = cached(compare_features)
localize = cached(localize)
mean_difference = cached(mean_difference)
measure = cached(measure)
patch = cached(patch)
patch_heads = cached(patch_heads)
patch_sweep = cached(patch_sweep)
polysemanticity = cached(polysemanticity)
probe = cached(probe)
representation_collapse = cached(representation_collapse)
sae_ablate = cached(sae_ablate)
sae_activation = cached(sae_activation)
sae_quality = cached(sae_quality)
sae_selectivity = cached(sae_selectivity)
sae_steer = cached(sae_steer)
steer = cached(steer)

__all__ = [
    "AttributionGraph",
    "AttributionGraphs",
    "AttributionSweep",
    "Circuit",
    "Collapse",
    "FeatureComparison",
    "FeatureEdit",
    "Localization",
    "PairwiseAblation",
    "Polysemanticity",
    "ProbeResult",
    "ResultCache",
    "SAEQuality",
    "Selectivity",
    "SteeringResult",
    "ablate",
    "ablate_pair",
    "attention_score",
    "attribution_graph",
    "cached",
    "circuit",
    "compare_features",
    "localize",
    "mean_difference",
    "measure",
    "patch",
    "patch_heads",
    "patch_sweep",
    "polysemanticity",
    "probe",
    "representation_collapse",
    "sae_ablate",
    "sae_activation",
    "sae_quality",
    "sae_selectivity",
    "sae_steer",
    "steer",
    "use_result_cache",
]
