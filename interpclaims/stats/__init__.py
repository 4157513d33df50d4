"""Statistics: pure numpy/scipy (statsmodels inside :func:`adjust_pvalues`), no torch, no pytest.

Every interval here is a bootstrap over *prompts*: the caller first reduces each prompt to one
number (its mean over tokens), so tokens of one prompt — which are not independent — are resampled
together (a cluster bootstrap by construction).

What is here, and how it maps onto the claim rules of ``_claim.py`` (``I`` is a two-sided interval
at level ``1 - α``, 95% by default, so each of its tails holds ``α/2`` = 2.5%):

* intervals of a mean (``_bootstrap.py``, ``_intervals.py``): :func:`bootstrap_mean`
  (``method="percentile"`` or ``"bca"``), :func:`t_interval` (Student t), and
  :func:`mean_interval`, which picks one by sample size (:func:`choose_interval`: Student t below
  :data:`SMALL_N` prompts, BCa from there on) and says which in its :class:`Interval`;
  :func:`bootstrap_mean_batch` does many quantities measured on the same prompts at once;
  :func:`wilson_interval` for rates;
* functions of several means on the same prompts (``_functionals.py``):
  :func:`bootstrap_means_function` (a ratio of means, a max or an area over ratios; prompts
  resampled jointly for every mean — the paired bootstrap of a ratio);
* differences: :func:`bootstrap_mean_diff` (paired: the interval of the per-prompt differences;
  unpaired: the two samples resampled independently);
* a ratio of two means on the same prompts (``_ratio.py``): :func:`bootstrap_ratio` (prompts
  resampled jointly, BCa; unbounded where the denominator's interval reaches zero);
* p-values (``_pvalues.py``), all Monte Carlo with ``p = (count + 1) / (n_permutations + 1)``
  (never 0, valid at any number of permutations): :func:`paired_sign_flip_test`,
  :func:`permutation_test`, :func:`one_sample_p` and the equivalence test :func:`tost_p`;
  :func:`null_p_value` (``_nulls.py``) for a statistic against null replicates the caller built
  by retraining (a probe's ``permutation_null``), ties counted against the claim;
* the one resampling kernel (``_resample.py``): every bootstrap above draws its resampled prompt
  sets there (exact uniform indices in ``uint16``, gathered or counted), and the sign-flip tests
  draw their random signs as bits;
* similarity (``_similarity.py``): :func:`linear_cka` (linear CKA of two activation sets);
* multiplicity (``_multiplicity.py``): :func:`bonferroni` (one claim, from its family's size:
  what verdicts use), :func:`adjust_pvalues` (Holm for family-wise error, Benjamini–Hochberg for
  FDR);
* diagnostics (``_power.py``): :data:`MIN_PROMPTS` and :func:`sample_size_warnings`;
* several training / sampling seeds (``_multiseed.py``): :func:`bootstrap_multiseed` (seeds and
  prompts resampled) and :func:`table_interval` (a seeds × prompts table, two-way random effects:
  what pooled probe splits and donor draws use);
* sequential decisions (``_sequential.py``): :func:`confidence_sequence` (an anytime-valid
  asymptotic confidence sequence of a mean), :func:`look_sizes` (the growing batches of prompts);
* plumbing: :func:`derive_rng` (``_rng.py``), defaults (``_defaults.py``), input checks and the
  option types (``_validation.py``).

Duality of intervals and tests. ``is_at_least(v)`` is SUPPORTED when ``I.low >= v``: a one-sided
test of ``H0: mean <= v`` at level ``α/2`` (2.5%), not ``α``. ``exceeds(other, by)`` likewise
tests ``H0: mean(x - other) <= by`` at 2.5%. ``is_negligible(within=d)`` is SUPPORTED when ``I``
lies inside ``(-d, d)``: two one-sided tests (TOST) each at ``α/2``, so the equivalence test has
size ``α/2`` = 2.5%. The textbook TOST at size ``α`` uses a ``1 - 2α`` (90%) interval; the 95%
interval rule is the conservative one. In p-value terms: the interval rule matches
``one_sample_p(...) <= α/2`` and ``tost_p(...) <= α/2`` (approximately — the interval is a
bootstrap and the p-value a sign-flip test, so they can disagree right at the boundary).

scipy (~0.3 s for scipy.special, ~0.7 s for scipy.stats) and statsmodels are imported inside the
functions that need them: importing interpclaims stays cheap.
"""

from __future__ import annotations

from interpclaims.stats._auroc import auroc_interval
from interpclaims.stats._bootstrap import bootstrap_mean, bootstrap_mean_batch, bootstrap_mean_diff
from interpclaims.stats._defaults import DEFAULT_CI_LEVEL, DEFAULT_PERMUTATIONS, DEFAULT_RESAMPLES
from interpclaims.stats._functionals import MeansFunction, bootstrap_means_function
from interpclaims.stats._intervals import (
    SMALL_N,
    Interval,
    choose_interval,
    mean_interval,
    t_interval,
    wilson_interval,
)
from interpclaims.stats._multiplicity import adjust_pvalues, bonferroni
from interpclaims.stats._multiseed import bootstrap_multiseed, table_interval
from interpclaims.stats._nulls import null_p_value
from interpclaims.stats._power import MIN_PROMPTS, sample_size_warnings
from interpclaims.stats._pvalues import one_sample_p, paired_sign_flip_test, permutation_test, tost_p
from interpclaims.stats._ratio import RatioInterval, bootstrap_ratio
from interpclaims.stats._rng import derive_rng, generators_derived
from interpclaims.stats._sequential import (
    FIRST_LOOK,
    GROWTH,
    ConfidenceSequence,
    confidence_sequence,
    look_sizes,
)
from interpclaims.stats._similarity import linear_cka
from interpclaims.stats._validation import Alternative, BootstrapMethod, IntervalMethod

__all__ = [
    "DEFAULT_CI_LEVEL",
    "DEFAULT_PERMUTATIONS",
    "DEFAULT_RESAMPLES",
    "FIRST_LOOK",
    "GROWTH",
    "MIN_PROMPTS",
    "SMALL_N",
    "Alternative",
    "BootstrapMethod",
    "ConfidenceSequence",
    "Interval",
    "IntervalMethod",
    "MeansFunction",
    "RatioInterval",
    "adjust_pvalues",
    "auroc_interval",
    "bonferroni",
    "bootstrap_mean",
    "bootstrap_mean_batch",
    "bootstrap_mean_diff",
    "bootstrap_means_function",
    "bootstrap_multiseed",
    "bootstrap_ratio",
    "choose_interval",
    "confidence_sequence",
    "derive_rng",
    "generators_derived",
    "linear_cka",
    "look_sizes",
    "mean_interval",
    "null_p_value",
    "one_sample_p",
    "paired_sign_flip_test",
    "permutation_test",
    "sample_size_warnings",
    "t_interval",
    "table_interval",
    "tost_p",
    "wilson_interval",
]
