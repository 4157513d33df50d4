"""Several seeds: a two-level bootstrap that resamples seeds and prompts (crossed or nested)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interpclaims.stats._bootstrap import _percentile_interval, bootstrap_mean
from interpclaims.stats._defaults import _CHUNK_ELEMENTS, DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES
from interpclaims.stats._validation import _as_samples, _check_count, _check_level

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["bootstrap_multiseed"]


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
