"""Several seeds: a two-level bootstrap that resamples seeds and prompts (crossed or nested), and
the two-way random-effects interval of a seeds × prompts table that the analyses pool draws with."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from interpclaims.stats._bootstrap import _percentile_interval, bootstrap_mean
from interpclaims.stats._defaults import _CHUNK_ELEMENTS, DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES
from interpclaims.stats._validation import _as_samples, _check_count, _check_level

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["bootstrap_multiseed", "table_interval"]


def _bootstrap_multiseed_iv(
    samples_per_seed: Sequence[ArrayLike], level: float, n_resamples: int,
    shared_prompts: bool | None,
) -> tuple[list[NDArray[np.float64]], float, int, bool]:
    if len(samples_per_seed) == 0:
        raise ValueError("bootstrap_multiseed: no seeds")
    seeds = [
        _as_samples(s, f"bootstrap_multiseed (seed {i})") for i, s in enumerate(samples_per_seed)
    ]
    level = _check_level(level)
    n_resamples = _check_count(n_resamples, "n_resamples")
    sizes = np.array([s.size for s in seeds])
    same_size = bool(np.all(sizes == sizes[0]))
    if shared_prompts is None:
        shared_prompts = same_size
    if shared_prompts and not same_size:
        raise ValueError(
            "bootstrap_multiseed: shared_prompts=True needs the same prompts for every seed, got "
            f"prompt counts {sizes.tolist()}"
        )
    return seeds, level, n_resamples, shared_prompts


def bootstrap_multiseed(
    samples_per_seed: Sequence[ArrayLike],
    rng: np.random.Generator,
    level: float = DEFAULT_CI_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    *,
    shared_prompts: bool | None = None,
) -> tuple[float, float, float]:
    """Mean over seeds and prompts, with a two-level (hierarchical) percentile bootstrap interval.

    ``samples_per_seed[s]`` holds one value per prompt measured with seed ``s`` (a training seed,
    a sampling seed, a random-control draw). The estimate is the mean of the per-seed means (each
    seed weighs the same). Each bootstrap resample draws ``S`` seeds with replacement and then
    prompts with replacement, so the interval carries seed-to-seed variance as well as
    prompt-to-prompt variance; a single-seed interval ignores the former and is too narrow when
    results depend on the seed.

    How prompts are resampled depends on the design:

    * ``shared_prompts=True`` (crossed design: every seed measured on the same prompts, in the same
      order, so ``samples_per_seed`` is a seeds × prompts table): one prompt resample is drawn per
      bootstrap resample and applied to every drawn seed (Owen's "pigeonhole" bootstrap). A
      prompt's effect is shared by all seeds and does not average out over seeds, and this keeps
      it that way.
    * ``shared_prompts=False`` (nested design: each seed has its own prompts): every drawn seed
      gets its own prompt resample (drawn twice, resampled twice, independently).
    * ``None`` (default): crossed when all seeds have the same number of prompts, nested otherwise.
      This is the conservative guess: the crossed resampling applied to independent prompt sets
      overstates the prompt variance, while the nested one applied to shared prompts would
      understate it by up to a factor ``S``.

    Both resamplings overstate the within-seed noise somewhat (it enters once through the seed
    means and once more through the prompt resampling), so with many seeds the interval is mildly
    conservative. With few seeds (``S < 5``) the seed-level bootstrap has few distinct values
    and, when seeds really differ, the interval undercovers like any bootstrap of ``S`` values;
    prefer more seeds. With one seed this is the ordinary prompt bootstrap.
    """
    seeds, level, n_resamples, shared_prompts = _bootstrap_multiseed_iv(
        samples_per_seed, level, n_resamples, shared_prompts
    )
    estimate = float(np.mean([s.mean() for s in seeds]))
    if len(seeds) == 1:
        return bootstrap_mean(seeds[0], rng, n_resamples=n_resamples, level=level)
    boot = (_crossed_boot(np.stack(seeds), rng, n_resamples) if shared_prompts
            else _nested_boot(seeds, rng, n_resamples))
    lo, hi = _percentile_interval(boot, level)
    return estimate, min(lo, estimate), max(hi, estimate)


def _crossed_boot(
    table: NDArray[np.float64], rng: np.random.Generator, n_resamples: int
) -> NDArray[np.float64]:
    """Pigeonhole bootstrap means of a seeds × prompts table: the mean over drawn seeds and drawn
    prompts, ``c_seeds · table · c_prompts / (S n)`` with resample counts ``c``."""
    n_seeds, n = table.shape
    out = np.empty(n_resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (n + n_seeds))
    for start in range(0, n_resamples, chunk):
        rows = min(n_resamples, start + chunk) - start
        seed_idx = rng.integers(0, n_seeds, size=(rows, n_seeds))
        prompt_idx = rng.integers(0, n, size=(rows, n))
        off = np.arange(rows)[:, None]
        c_seed = np.bincount((seed_idx + off * n_seeds).ravel(), minlength=rows * n_seeds)
        c_prompt = np.bincount((prompt_idx + off * n).ravel(), minlength=rows * n)
        weighted = c_seed.reshape(rows, n_seeds).astype(np.float64) @ table  # rows × n
        out[start : start + rows] = np.einsum("rp,rp->r", weighted,
                                              c_prompt.reshape(rows, n)) / (n_seeds * n)
    return out


def _nested_boot(
    seeds: list[NDArray[np.float64]], rng: np.random.Generator, n_resamples: int
) -> NDArray[np.float64]:
    """Two-stage bootstrap means: draw seeds, then each drawn seed's own prompts independently."""
    n_seeds = len(seeds)
    sizes = np.array([s.size for s in seeds])
    n_max = int(sizes.max())
    flat = np.concatenate(seeds)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.empty(n_resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (n_seeds * n_max))
    cols = np.arange(n_max)
    for start in range(0, n_resamples, chunk):
        rows = min(n_resamples, start + chunk) - start
        drawn = rng.integers(0, n_seeds, size=(rows, n_seeds))  # seed in each slot
        n_drawn = sizes[drawn][..., None]  # rows × S × 1
        u = rng.random((rows, n_seeds, n_max))
        idx = starts[drawn][..., None] + np.minimum((u * n_drawn).astype(np.intp), n_drawn - 1)
        vals = np.where(cols < n_drawn, flat[np.minimum(idx, flat.size - 1)], 0.0)
        slot_means = vals.sum(axis=2) / n_drawn[..., 0]
        out[start : start + rows] = slot_means.mean(axis=1)
    return out



def table_interval(
    table: ArrayLike, level: float = DEFAULT_CI_LEVEL, *, rate: bool = False
) -> tuple[float, float, float, float]:
    """Mean of a seeds × prompts table, with a two-way random-effects interval.

    ``table[s, i]`` is prompt ``i`` measured under seed ``s`` (a probe's split and controls, a
    donor draw): a crossed design, every seed measuring every prompt. Its cells are modelled as
    ``mean + seed effect + prompt effect + interaction``, and the variance of the grand mean is
    estimated without bias from the two-way ANOVA mean squares,
    ``(MS_seed + MS_prompt − MS_interaction) / (S n)`` (= σ²_seed/S + σ²_prompt/n + σ²_inter/(S n);
    a component whose mean square falls below the interaction's is set to 0), with
    Satterthwaite's degrees of freedom for the Student-t quantile: few seeds that disagree give few
    degrees of freedom and a wide interval. So the interval carries the seed-to-seed variance (a
    draw shared by every prompt of a seed, e.g. the probe trained on that seed's split) as well as
    the prompt-to-prompt variance.

    Why not a bootstrap: the pigeonhole (seed-and-prompt) bootstrap of
    :func:`bootstrap_multiseed` counts the interaction about three times; where it dominates (a
    probe on random features: each cell a near-independent coin flip) its 95% interval was 1.5×
    too wide and covered the all-draws value 99.4–99.8% of the time on the zoo, where this one
    covers it 96.8% (``benchmarks/draw_coverage.py``). Where a component is really absent
    (exchangeable noise), truncating its estimate at 0 makes this interval mildly conservative
    too: 97% on 10 × 200 Gaussian cells.

    ``rate=True`` (cells in ``[0, 1]``, e.g. accuracy): the Wilson score interval with the
    effective number of cells ``p(1 − p) / variance`` (Korn & Graubard), at most ``S n``, and the
    t quantile; a table of all 0s or all 1s has no variance to estimate and gets the Wilson
    interval of its ``n`` prompts, so 200 correct prompts never claim an accuracy of exactly 1.

    Returns ``(mean, low, high, degrees of freedom)``.
    """
    from scipy import stats as _stats

    y = np.asarray(table, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"table_interval: expected a seeds × prompts table with at least two of "
                         f"each, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("table_interval: the table holds a value that is not finite")
    level = _check_level(level)
    n_seeds, n = y.shape
    mean = float(y.mean())
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    df_s, df_p, df_e = n_seeds - 1, n - 1, (n_seeds - 1) * (n - 1)
    ms_s = n * float(((rows - mean) ** 2).sum()) / df_s
    ms_p = n_seeds * float(((cols - mean) ** 2).sum()) / df_p
    ms_e = float(((y - rows[:, None] - cols[None, :] + mean) ** 2).sum()) / df_e
    # a seed or prompt mean square below the interaction's estimates its variance component as
    # negative: that component is set to 0 (its term replaced by MS_interaction, which cancels),
    # so the combination never nears 0 with Satterthwaite's degrees of freedom collapsing
    above = [(m, d) for m, d in ((ms_s, df_s), (ms_p, df_p)) if m > ms_e]
    # combined = Σ above + (1 − len(above)) MS_interaction
    terms = above + ([(ms_e * (1 - len(above)), df_e)] if len(above) != 1 else [])
    combined = sum(m for m, _ in terms)
    var = combined / (n_seeds * n)
    denom = sum(m * m / d for m, d in terms)
    df = combined * combined / denom if denom > 0 else float(df_e)
    crit = float(_stats.t.ppf(0.5 + level / 2, df))
    if not rate:
        half = crit * math.sqrt(var)
        return mean, mean - half, mean + half, df
    if var == 0.0 or mean * (1 - mean) == 0.0:
        n_eff = float(n)
    else:
        n_eff = min(float(n_seeds * n), mean * (1 - mean) / var)
    c2 = crit * crit
    centre = (mean + c2 / (2 * n_eff)) / (1 + c2 / n_eff)
    half = crit * math.sqrt(mean * (1 - mean) / n_eff + c2 / (4 * n_eff * n_eff)) / (1 + c2 / n_eff)
    return mean, min(mean, max(0.0, centre - half)), max(mean, min(1.0, centre + half)), df
