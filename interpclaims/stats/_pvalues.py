"""Monte Carlo p-values: sign-flip (paired, one-sample, TOST) and permutation (two-sample) tests.

All return ``p = (count + 1) / (n_permutations + 1)``: never 0, valid at any number of
permutations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interpclaims.stats._defaults import _CHUNK_ELEMENTS, DEFAULT_PERMUTATIONS
from interpclaims.stats._resample import random_signs
from interpclaims.stats._validation import (
    Alternative,
    _as_samples,
    _check_alternative,
    _check_count,
    _check_finite,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["one_sample_p", "paired_sign_flip_test", "permutation_test", "tost_p"]


def _tail_counts(
    null: NDArray[np.float64], observed: NDArray[np.float64], scale: NDArray[np.float64],
    alternative: Alternative,
) -> NDArray[np.int64]:
    """How many null statistics (rows × columns) are at least as extreme as ``observed``.

    Statistics within ``1e-9 · scale`` of the observed one count as ties, and ties count as
    extreme (rounding never makes a test anti-conservative).
    """
    tol = 1e-9 * scale
    if alternative == "greater":
        hit = null >= observed - tol
    elif alternative == "less":
        hit = null <= observed + tol
    else:
        hit = np.abs(null) >= np.abs(observed) - tol
    return np.sum(hit, axis=0)


# -- sign flips -----------------------------------------------------------------------------------


def _sign_flip_pvalues(
    d: NDArray[np.float64], rng: np.random.Generator, alternatives: Sequence[Alternative],
    n_permutations: int,
) -> NDArray[np.float64]:
    """Sign-flip p-values of ``H0: mean(d[:, j]) = 0`` for each column ``j`` of ``d`` (n × k),
    column ``j`` against ``alternatives[j]``; all columns share the random signs."""
    n, k = d.shape
    observed = d.mean(axis=0)
    scale = np.abs(d).mean(axis=0)
    counts = np.zeros(k, dtype=np.int64)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    total = d.sum(axis=0)
    for start in range(0, n_permutations, chunk):
        stop = min(n_permutations, start + chunk)
        plus = random_signs(rng, stop - start, n).astype(np.float64)
        # mean(s · d) with s = 2·plus - 1, as one matrix product
        null = (2.0 * (plus @ d) - total) / n
        for j, alt in enumerate(alternatives):
            counts[j] += _tail_counts(null[:, j : j + 1], observed[j : j + 1],
                                      scale[j : j + 1], alt)[0]
    return np.asarray((counts + 1.0) / (n_permutations + 1.0), dtype=np.float64)


def paired_sign_flip_test(
    diffs: ArrayLike,
    rng: np.random.Generator,
    *,
    margin: float = 0.0,
    alternative: Alternative = "greater",
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> float:
    """Monte Carlo sign-flip test of the mean of paired differences against ``margin``.

    ``alternative="greater"`` tests ``H0: mean(diffs) <= margin`` (the null of
    ``exceeds(other, by=margin)``); ``"less"`` tests ``H0: mean(diffs) >= margin``; ``"two-sided"``
    tests ``H0: mean(diffs) = margin``. The statistic is ``mean(diffs - margin)``; its null
    distribution is that of ``mean(s · (diffs - margin))`` for independent random signs ``s``.
    Returns ``p = (count + 1) / (n_permutations + 1)``, ``count`` the random sign vectors giving
    a statistic at least as extreme as the observed one: never 0, and a valid p-value for any
    number of permutations. Exact when the centred differences are symmetric under H0 (as when
    the two conditions are exchangeable); asymptotically valid for any distribution with a finite
    variance, slightly liberal in one tail for small, skewed samples.
    """
    d = _as_samples(diffs, "paired_sign_flip_test") - _check_finite(margin, "margin")
    alternative = _check_alternative(alternative)
    n_permutations = _check_count(n_permutations, "n_permutations")
    return float(_sign_flip_pvalues(d[:, None], rng, [alternative], n_permutations)[0])


def one_sample_p(
    samples: ArrayLike,
    threshold: float,
    alternative: Alternative,
    rng: np.random.Generator,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> float:
    """p-value of a threshold claim by sign flips of ``samples - threshold``.

    ``is_at_least(v)``: ``one_sample_p(x, v, "greater", rng)`` (``H0: mean <= v``);
    ``is_at_most(v)``: ``one_sample_p(x, v, "less", rng)`` (``H0: mean >= v``). The 95% interval
    rule corresponds to ``p <= 0.025``. See :func:`paired_sign_flip_test`.
    """
    return paired_sign_flip_test(samples, rng, margin=threshold, alternative=alternative,
                                 n_permutations=n_permutations)


def _tost_p_iv(
    samples: ArrayLike, within: float, n_permutations: int
) -> tuple[NDArray[np.float64], float, int]:
    x = _as_samples(samples, "tost_p")
    d = _check_finite(within, "within")
    if d <= 0:
        raise ValueError(f"within must be > 0, got {d}")
    return x, d, _check_count(n_permutations, "n_permutations")


def tost_p(
    samples: ArrayLike,
    within: float,
    rng: np.random.Generator,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> float:
    """p-value of the equivalence test ``H0: |mean| >= within`` (two one-sided tests, TOST).

    The larger of the sign-flip p-values of ``H0: mean <= -within`` (against "greater") and
    ``H0: mean >= within`` (against "less"); both use the same random signs. Equivalence at size
    ``α`` when ``p <= α``. The claim rule ``is_negligible(within=d)`` — the whole two-sided
    ``level`` interval inside ``(-d, d)`` — is TOST at size ``(1 - level) / 2``: with the default
    95% intervals that is ``p <= 0.025``, the conservative choice; ``p <= 0.05`` would match a
    90% interval.
    """
    x, d, n_permutations = _tost_p_iv(samples, within, n_permutations)
    cols = np.stack([x + d, x - d], axis=1)
    p = _sign_flip_pvalues(cols, rng, ["greater", "less"], n_permutations)
    return float(p.max())


# -- label shuffles -------------------------------------------------------------------------------


def _permutation_test_iv(
    a: ArrayLike, b: ArrayLike, margin: float, alternative: str, n_permutations: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], Alternative, int]:
    xa = _as_samples(a, "permutation_test (a)") - _check_finite(margin, "margin")
    xb = _as_samples(b, "permutation_test (b)")
    return (xa, xb, _check_alternative(alternative),
            _check_count(n_permutations, "n_permutations"))


def permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    rng: np.random.Generator,
    *,
    margin: float = 0.0,
    alternative: Alternative = "greater",
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> float:
    """Monte Carlo permutation (label-shuffle) test of ``mean(a) - mean(b)`` against ``margin``
    for independent samples.

    ``alternative="greater"`` tests ``H0: mean(a) - mean(b) <= margin``, ``"less"`` the reverse,
    ``"two-sided"`` equality with ``margin``. ``a`` is shifted by ``-margin``, the pooled values
    are shuffled between the groups (group sizes kept), and the statistic is the difference of
    group means. Returns ``p = (count + 1) / (n_permutations + 1)``. Exact when the shifted
    samples are exchangeable under H0 (same distribution); for equal means with unequal spreads
    it is approximate, exact-ish for equal group sizes.
    """
    xa, xb, alternative, n_permutations = _permutation_test_iv(
        a, b, margin, alternative, n_permutations
    )
    na, nb = xa.size, xb.size
    pooled = np.concatenate([xa, xb])
    total = float(pooled.sum())
    big = na + nb
    observed = np.array([xa.mean() - xb.mean()])
    scale = np.array([np.abs(pooled - pooled.mean()).mean()])
    count = 0
    chunk = max(1, _CHUNK_ELEMENTS // big)
    for start in range(0, n_permutations, chunk):
        stop = min(n_permutations, start + chunk)
        perm = rng.permuted(np.broadcast_to(np.arange(big), (stop - start, big)), axis=1)
        sum_a = pooled[perm[:, :na]].sum(axis=1)
        null = sum_a / na - (total - sum_a) / nb
        count += int(_tail_counts(null[:, None], observed, scale, alternative)[0])
    return (count + 1.0) / (n_permutations + 1.0)
