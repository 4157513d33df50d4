"""Calibration of the statistics layer, at more repetitions than the test suite can afford.

    python benchmarks/calibration.py            # ~1-2 minutes on 2 cores

Prints, for every analysis type in ``interpclaims.stats``, the measured rate with its binomial
standard error and the rate a calibrated procedure should have:

* false-SUPPORTED rates of the claim rules (``_claim.py``) on 95% intervals when the truth sits
  exactly on the reference (target: at most 2.5%, the size of one tail; the suite's bound is 5%);
* rejection rates of the permutation / sign-flip p-values under the null (target 5% at p < 0.05);
* family-wise false-SUPPORTED rates over families of 5 null claims, raw and Holm / BH adjusted;
* power for planted effects;
* coverage of 95% intervals (percentile, BCa, Student t, the automatic choice, multi-seed);

then the time of our vectorized bootstrap against ``scipy.stats.bootstrap`` (same number of
resamples, n = 1000 prompts, percentile and BCa), measured in this run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import stats

from interpclaims.stats import (
    BootstrapMethod,
    adjust_pvalues,
    bootstrap_mean,
    bootstrap_mean_batch,
    bootstrap_mean_diff,
    bootstrap_multiseed,
    mean_interval,
    one_sample_p,
    paired_sign_flip_test,
    permutation_test,
    t_interval,
    tost_p,
)

N_BATCH = 20_000  # simulated claims per setting where bootstrap_mean_batch does them at once
N_LOOP = 2_000  # simulated claims per setting where each needs its own call
B = 1_000  # resamples / permutations per simulated claim (999 for p-values)
PERM = 999

Row = tuple[str, str, float, int, str]
ROWS: list[Row] = []


def record(check: str, setting: str, rate: float | np.floating, n: int, target: str) -> None:
    ROWS.append((check, setting, float(rate), n, target))
    se = math.sqrt(max(rate * (1 - rate), 1e-12) / n)
    print(f"{check:<36} {setting:<44} {rate:>8.4f} {se:>7.4f} {n:>7}  {target}", flush=True)


def draw(g: np.random.Generator, dist: str, shape: tuple[int, ...]) -> np.ndarray:
    """Mean-0 samples: normal (sd 1), exponential - 1 (sd 1, skew 2), lognormal - e^0.5 (skew 6)."""
    if dist == "normal":
        return g.normal(size=shape)
    if dist == "exponential":
        return g.exponential(size=shape) - 1.0
    return (g.lognormal(0.0, 1.0, size=shape) - math.exp(0.5)) / math.sqrt(
        (math.exp(1.0) - 1.0) * math.exp(1.0))


def batch_intervals(x: np.ndarray, g: np.random.Generator, method: str) -> tuple[np.ndarray, ...]:
    out = [bootstrap_mean_batch(x[i : i + 2000], g, n_resamples=B, method=method)  # type: ignore[arg-type]
           for i in range(0, x.shape[0], 2000)]
    return tuple(np.concatenate([o[k] for o in out]) for k in range(3))


def loop(fn: Callable[[np.random.Generator], float], g: np.random.Generator, n: int) -> np.ndarray:
    return np.array([fn(g) for _ in range(n)])


def null_claims(g: np.random.Generator) -> None:
    v = 0.2
    for n in (30, 100):
        for dist in ("normal", "exponential", "lognormal"):
            x = v + draw(g, dist, (N_BATCH, n))
            for method in ("percentile", "bca"):
                _, lo, hi = batch_intervals(x, g, method)
                record("null is_at_least (ci_low>=v)", f"{method}, {dist}, n={n}",
                       np.mean(lo >= v), N_BATCH, "<= 0.025")
                record("null is_at_most (ci_high<=v)", f"{method}, {dist}, n={n}",
                       np.mean(hi <= v), N_BATCH, "<= 0.025")
    for n in (10, 20):
        x = v + draw(g, "normal", (N_LOOP, n))
        res = [mean_interval(row, g, n_resamples=B) for row in x]
        record("null is_at_least (ci_low>=v)", f"auto ({res[0].method}), normal, n={n}",
               np.mean([r.low >= v for r in res]), N_LOOP, "<= 0.025")
    d = 0.25
    x = d + draw(g, "normal", (N_BATCH, 100))
    for method in ("percentile", "bca"):
        _, lo, hi = batch_intervals(x, g, method)
        record("null is_negligible (true = d)", f"{method}, normal, n=100",
               np.mean((-d < lo) & (hi < d)), N_BATCH, "<= 0.025")

    def paired(gg: np.random.Generator) -> float:
        off = gg.normal(0.0, 5.0, size=80)
        a, b = off + gg.exponential(size=80), off + gg.exponential(size=80)
        return bootstrap_mean_diff(a, b, gg, paired=True, n_resamples=B, method="bca")[1]

    record("null exceeds(by=0), paired", "bca, exponential noise, n=80",
           np.mean(loop(paired, g, N_LOOP) > 0), N_LOOP, "<= 0.025")
    for method in ("percentile", "bca"):
        def unpaired(gg: np.random.Generator, m: str = method) -> float:
            a, b = gg.exponential(size=40), gg.exponential(size=120)
            return bootstrap_mean_diff(a, b, gg, paired=False, n_resamples=B, method=m)[1]  # type: ignore[arg-type]

        record("null exceeds(by=0), unpaired", f"{method}, exponential, n=40 vs 120",
               np.mean(loop(unpaired, g, N_LOOP) > 0), N_LOOP, "<= 0.025")


def null_pvalues(g: np.random.Generator) -> None:
    tests: dict[str, Callable[[np.random.Generator], float]] = {
        "paired_sign_flip_test, greater": lambda gg: paired_sign_flip_test(
            gg.normal(size=60), gg, n_permutations=PERM),
        "paired_sign_flip_test, two-sided": lambda gg: paired_sign_flip_test(
            gg.normal(size=60), gg, alternative="two-sided", n_permutations=PERM),
        "paired_sign_flip, exponential": lambda gg: paired_sign_flip_test(
            gg.exponential(size=60) - 1.0, gg, n_permutations=PERM),
        "permutation_test, normal 40 vs 50": lambda gg: permutation_test(
            gg.normal(size=40), gg.normal(size=50), gg, n_permutations=PERM),
        "permutation_test, margin 0.3": lambda gg: permutation_test(
            0.3 + gg.exponential(size=40), gg.exponential(size=50), gg, margin=0.3,
            n_permutations=PERM),
        "one_sample_p at threshold, less": lambda gg: one_sample_p(
            0.7 + gg.normal(size=60), 0.7, "less", gg, n_permutations=PERM),
        "tost_p, true effect = d": lambda gg: tost_p(
            0.25 + gg.normal(size=100), 0.25, gg, n_permutations=PERM),
    }
    for name, fn in tests.items():
        p = loop(fn, g, N_LOOP)
        record("null p < 0.05", name, np.mean(p < 0.05), N_LOOP, "= 0.05")


def families(g: np.random.Generator) -> None:
    n_fam, size = N_LOOP, 5
    raw = holm = bh = 0
    for _ in range(n_fam):
        p = np.array([one_sample_p(g.normal(size=60), 0.0, "greater", g, n_permutations=PERM)
                      for _ in range(size)])
        raw += bool(np.any(p < 0.05))
        holm += bool(np.any(adjust_pvalues(p, "holm") < 0.05))
        bh += bool(np.any(adjust_pvalues(p, "bh") < 0.05))
    record("family-wise false SUPPORTED", "5 null claims, unadjusted p < 0.05", raw / n_fam,
           n_fam, "1-0.95^5 = 0.226")
    record("family-wise false SUPPORTED", "5 null claims, Holm", holm / n_fam, n_fam, "<= 0.05")
    record("family-wise false SUPPORTED", "5 null claims, BH (all null: = FWER)", bh / n_fam,
           n_fam, "<= 0.05")


def power(g: np.random.Generator) -> None:
    for effect, expect in ((0.5, "~0.998"), (0.3, "~0.85"), (0.2, "~0.52")):
        x = effect + draw(g, "normal", (N_BATCH, 100))
        for method in ("percentile", "bca"):
            _, lo, _ = batch_intervals(x, g, method)
            record("power is_at_least", f"{method}, +{effect} sd, n=100", np.mean(lo >= 0),
                   N_BATCH, expect)
    p = loop(lambda gg: one_sample_p(0.3 + gg.normal(size=100), 0.0, "greater", gg,
                                     n_permutations=PERM), g, N_LOOP)
    record("power one_sample_p <= 0.025", "+0.3 sd, n=100", np.mean(p <= 0.025), N_LOOP, "~0.85")

    def paired(gg: np.random.Generator) -> float:
        off = gg.normal(0.0, 5.0, size=100)
        return bootstrap_mean_diff(off + 0.3 + gg.normal(size=100), off, gg, paired=True,
                                   n_resamples=B)[1]

    record("power exceeds(by=0), paired", "+0.3 sd, offsets sd 5, n=100",
           np.mean(loop(paired, g, N_LOOP) > 0), N_LOOP, "~0.85")
    p = loop(lambda gg: permutation_test(0.5 + gg.normal(size=100), gg.normal(size=100), gg,
                                         n_permutations=PERM), g, N_LOOP)
    record("power permutation_test <= 0.025", "+0.5 sd, 100 vs 100", np.mean(p <= 0.025),
           N_LOOP, "~0.94")
    x = draw(g, "normal", (N_BATCH, 100)) * 0.5
    _, lo, hi = batch_intervals(x, g, "percentile")
    # SUPPORTED when |mean| < 0.15 - 1.96 * 0.05: probability 2 * Φ(1.04) - 1 = 0.70
    record("power is_negligible(0.15)", "true 0, sd 0.5, n=100",
           np.mean((-0.15 < lo) & (hi < 0.15)), N_BATCH, "~0.70")
    p = loop(lambda gg: tost_p(0.5 * gg.normal(size=100), 0.15, gg, n_permutations=PERM), g,
             N_LOOP)
    record("power tost_p <= 0.025", "true 0, sd 0.5, n=100", np.mean(p <= 0.025), N_LOOP, "~0.70")


def coverage(g: np.random.Generator) -> None:
    for n in (10, 30, 100):
        for dist in ("normal", "exponential", "lognormal"):
            x = draw(g, dist, (N_BATCH, n))
            for method in ("percentile", "bca"):
                _, lo, hi = batch_intervals(x, g, method)
                record("coverage 95%", f"{method}, {dist}, n={n}",
                       np.mean((lo <= 0) & (0 <= hi)), N_BATCH, "0.95")
            t = np.array([t_interval(row)[1:] for row in x[:N_LOOP * 5]])
            record("coverage 95%", f"t, {dist}, n={n}",
                   np.mean((t[:, 0] <= 0) & (0 <= t[:, 1])), t.shape[0], "0.95")
    for n_seeds, seed_sd, shared in ((5, 0.0, True), (5, 0.5, True), (20, 0.5, True),
                                     (5, 0.0, False), (5, 0.5, False), (20, 0.5, False)):
        hits = naive = 0
        reps = N_LOOP // 2
        for _ in range(reps):
            prompt = (g.normal(size=(1, 50)) if shared else g.normal(size=(n_seeds, 50)))
            noise = g.normal(size=(n_seeds, 50))
            table = g.normal(0.0, seed_sd, size=(n_seeds, 1)) + prompt + noise
            _, low, high = bootstrap_multiseed(list(table), g, n_resamples=B,
                                               shared_prompts=shared)
            hits += low <= 0 <= high
            pooled = table.mean(axis=0) if shared else table.ravel()
            _, low, high = bootstrap_mean(pooled, g, n_resamples=B)
            naive += low <= 0 <= high
        design = "crossed" if shared else "nested"
        record("coverage 95% multiseed", f"{design}, {n_seeds} seeds sd {seed_sd}, 50 prompts",
               hits / reps, reps, "0.95")
        record("coverage 95% pooled (ignores seeds)", f"{design}, {n_seeds} seeds sd {seed_sd}",
               naive / reps, reps, "0.95")


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timings() -> None:
    print("\ntimings (best of 5; one process, this machine)")
    x = np.random.default_rng(0).exponential(size=1000)
    pairs: tuple[tuple[BootstrapMethod, str], ...] = (("percentile", "percentile"), ("bca", "BCa"))
    for ours, theirs in pairs:
        t_ours = best_of(partial(bootstrap_mean, x, np.random.default_rng(1),
                                 n_resamples=10_000, method=ours))
        t_scipy = best_of(partial(stats.bootstrap, (x,), np.mean, n_resamples=10_000,
                                  method=theirs, vectorized=True,
                                  random_state=np.random.default_rng(1)))
        print(f"  n=1000, 10,000 resamples, {ours:<10}: ours {t_ours * 1e3:7.1f} ms, "
              f"scipy.stats.bootstrap {t_scipy * 1e3:7.1f} ms, ratio scipy/ours "
              f"{t_scipy / t_ours:5.2f}x")
    big = np.random.default_rng(2).exponential(size=5000)
    for m in ("percentile", "bca"):
        t = best_of(partial(bootstrap_mean, big, np.random.default_rng(3), n_resamples=10_000,
                            method=m))
        print(f"  n=5000, 10,000 resamples, {m:<10}: ours {t * 1e3:7.1f} ms")
    rows = np.random.default_rng(4).normal(size=(2000, 100))
    t = best_of(partial(bootstrap_mean_batch, rows, np.random.default_rng(5), n_resamples=1000,
                        method="bca"))

    def one_call_each() -> None:
        for r in rows[:200]:
            bootstrap_mean(r, np.random.default_rng(5), n_resamples=1000, method="bca")

    t1 = best_of(one_call_each, repeats=3)
    print(f"  2000 claims x n=100 x 1000 resamples, BCa: batch {t * 1e3:7.1f} ms, "
          f"one call each {t1 * 10 * 1e3:7.1f} ms (extrapolated from 200)")


def main() -> None:
    start = time.perf_counter()
    g = np.random.default_rng(20_240_601)
    print(f"{'check':<36} {'setting':<44} {'rate':>8} {'SE':>7} {'n':>7}  target")
    null_claims(g)
    null_pvalues(g)
    families(g)
    power(g)
    coverage(g)
    timings()
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
