"""The permutation null of a probe: its accuracy recomputed under label permutations, each
probe retrained on the same folds (Ojala & Garriga 2010, test 1), and that null as an estimate.

A claim ``x.exceeds(null_estimate)`` is decided by the permutation p-value (see
``interpclaims.verdicts``), which the estimate's ``null`` replicates make possible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interpclaims import _context
from interpclaims._estimate import Estimate
from interpclaims.analyses._classifiers import Classifier, fit_weights, predict

__all__ = ["null_accuracies", "null_estimate"]


def null_accuracies(x: np.ndarray, y: np.ndarray, k: int,
                    folds_per_seed: Sequence[list[tuple[np.ndarray, np.ndarray]]],
                    classifier: Classifier, permutations: int, rng: np.random.Generator
                    ) -> np.ndarray:
    """The probe's pooled accuracy under ``permutations`` permutations of all the labels: each
    permuted label vector retrained and scored on the same folds of every seed, the statistic
    pooled as the real one is (per prompt over its tests, then over prompts and seeds)."""
    perms = rng.permuted(np.broadcast_to(y, (permutations, y.size)), axis=1).T  # [n, k perms]
    total = np.zeros(permutations)
    for folds in folds_per_seed:
        correct = np.zeros((y.size, permutations))
        tested = np.zeros(y.size)
        for test, train in folds:
            mu, sd, w = fit_weights(x[train], perms[train], k, classifier)
            correct[test] += predict(x[test], mu, sd, w) == perms[test]
            tested[test] += 1
        keep = tested > 0
        total += (correct[keep] / tested[keep, None]).mean(0)
    return total / len(folds_per_seed)


def null_estimate(null: np.ndarray, n: int, label: str, method: str) -> Estimate:
    """The permutation null as an estimate: the mean of the null accuracies, their central
    percentile range at the claim's level (2.5–97.5 at 95%), and the replicates themselves
    (what the claim's p-value is computed on)."""
    level = _context.current().ci_level
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(null, [tail, 100 - tail])
    mean = float(null.mean())
    return Estimate(value=mean, ci_low=min(float(low), mean), ci_high=max(float(high), mean), n=n,
                    method=f"{method}; {null.size} label permutations, interval: {tail:g}–"
                           f"{100 - tail:g} percentiles of the null accuracies",
                    label=label, null=null, ci_level=level)
