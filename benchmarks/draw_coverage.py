"""Do the analyses' random draws enter their intervals? Coverage of the "all-draws value".

    python benchmarks/draw_coverage.py                   # 500 simulations per case, ~1 hour
    python benchmarks/draw_coverage.py --sims 200 --only probe

An analysis that draws something at random (a probe's train/test split, its shuffled labels,
control-task labels and random features; the donors of a resample ablation; formerly the heads of
the ``random_heads`` control) gives a different number under each seed. Its 95% interval is honest
only if it covers what the analysis estimates: the expectation over the draws — and, since an
interval is a statement about prompts, over the prompts too. So each simulation draws a fresh
sample of prompts and a fresh claim seed, and runs the real analysis on ``zoo/agreement``
(TransformerLens backend). The prompts are drawn at random from a pool of 8,000 made by the zoo's
own generator (``interpclaims.zoo.data``, which the shipped evaluation sets come from): the
generator itself cycles through balanced cells (period, number × category), a stratified design
whose sample means vary 3–4× less than independent prompts', which would make any interval over
prompts look over-covering. The "all-draws value" is the mean of the point estimates of all the
other simulations (leave-one-out; ≥ 500 of them); the coverage is the share of simulations whose
interval holds it. A calibrated procedure covers 95% of the time (93–97% with the binomial SE of
500 simulations, 1.0 point, and the Monte Carlo error of the target). ``width`` is the mean
half-width over 1.96 × the standard deviation of the point estimates across simulations: about
1 for a calibrated interval (up to ~1.15 for a Student-t interval with few degrees of freedom,
i.e. few seeds that disagree), well above 1 for a conservative one, below 1 for one that misses a
source of variance.

Beside each default, a procedure that leaves its draw out of the interval (``seeds=1`` probes;
the old control of 4 heads drawn at random) shows what this measures, and so does the former
pooling of probe seeds (the pigeonhole bootstrap of ``bootstrap_multiseed``, too wide).

Second column: the same on the *shipped* data (fixed prompts, only the seed varies) — the
situation of ``pytest claims/ --claims-seed=N``. There the target is the mean over ≥ 500 seeds
on those prompts, and the interval, which also carries prompt-to-prompt variance, should cover it
at least 95% of the time (usually all of it): a claim far from its margin then keeps its verdict
under any seed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import interpclaims as ic  # noqa: E402
from interpclaims import _context  # noqa: E402
from interpclaims._context import ClaimContext  # noqa: E402
from interpclaims._estimate import Estimate, estimate_from_samples  # noqa: E402
from interpclaims.stats import bootstrap_multiseed  # noqa: E402
from interpclaims.verdicts import Claim  # noqa: E402
from interpclaims.zoo.data import agreement_rows, repeated_token_rows  # noqa: E402

N_PROMPTS = 200  # prompts per simulated sample: the size of the shipped evaluation sets
POOL = 8000  # prompts drawn from per dataset (without replacement: finite-population factor 0.975)
Interval = tuple[float, float, float]  # value, low, high
Case = Callable[[Any, Any], dict[str, Interval]]


def _iv(e: Estimate) -> Interval:
    return e.value, e.ci_low, e.ci_high


def _paired(x: Estimate, other: Estimate) -> Interval:
    """The interval a claim ``exceeds(other)`` decides on (the claim's own paired difference)."""
    results: list[Any] = []
    with contextlib.suppress(ic.ClaimRefuted, ic.ClaimInconclusive):
        Claim(results.append).that(x).exceeds(other)
    return _iv(results[0].tested)


# -- the cases: one analysis call per simulation, several quantities each -------------------------
def probe_case(layer: int, seeds: int | None) -> Case:
    kw = {} if seeds is None else {"seeds": seeds}

    def run(model: Any, data: Any) -> dict[str, Interval]:
        p = ic.probe(model, ic.resid_post(layer), "number", data=data, position=-1,
                     controls=["label_shuffle", "control_task", "random_features"],
                     word_field="subject", **kw)
        assert p.selectivity is not None
        out = {"accuracy": _iv(p.accuracy),
               **{c: _iv(p.control(c)) for c in ("label_shuffle", "control_task",
                                                 "random_features")},
               "selectivity": _iv(p.selectivity),
               "accuracy - label_shuffle": _paired(p.accuracy, p.control("label_shuffle"))}
        if seeds is None:  # the same tables pooled the former way
            for c in ("label_shuffle", "random_features"):
                e = p.control(c)
                assert e.samples is not None
                out[f"{c} (pigeonhole bootstrap)"] = bootstrap_multiseed(
                    list(e.samples.reshape(e.seeds, -1)), _context.rng("pigeonhole", c),
                    n_resamples=_context.current().n_resamples, shared_prompts=True)
        return out
    return run


def attention_case(run_model: Any, data: Any) -> dict[str, Interval]:
    score = ic.attention_score(run_model, data=data, head="L1H2", pattern="induction",
                               controls=["random_heads", "random_heads_same_layer"])
    return {"L1H2 - random_heads": _paired(score, score.control("random_heads")),
            "L1H2 - random_heads_same_layer": _paired(score,
                                                      score.control("random_heads_same_layer"))}


def four_random_heads_case(model: Any, data: Any) -> dict[str, Interval]:
    """The control as it was: the mean of 4 other heads drawn at random per claim."""
    per_head = {}
    for layer in range(2):
        for head in range(4):
            per_head[(layer, head)] = ic.attention_score(
                model, data=data, head=f"L{layer}H{head}", pattern="induction", controls=())
    target = per_head[(1, 2)]
    others = [h for h in per_head if h != (1, 2)]
    pick = _context.rng("random_heads", "old").choice(len(others), size=4, replace=False)
    ctrl = np.mean([per_head[others[i]].samples for i in pick], axis=0)
    control = estimate_from_samples(ctrl, method="4 random heads", label="control:4",
                                    unit_ids=target.unit_ids)
    return {"L1H2 - random_heads": _paired(target, control)}


def resample_case(head: str, metric: str, seeds: int = 1) -> Case:
    def run(model: Any, data: Any) -> dict[str, Interval]:
        return {f"resample {head}, {metric}": _iv(ic.ablate(
            model, head, data=data, how="resample", metric=metric, seeds=seeds))}
    return run


CASES: dict[str, tuple[str, Case]] = {
    # name: (dataset, analysis)
    "probe L0 (default seeds)": ("agreement", probe_case(0, None)),
    "probe L0 (seeds=1)": ("agreement", probe_case(0, 1)),
    "probe L1 (default seeds)": ("agreement", probe_case(1, None)),
    "probe L1 (seeds=1)": ("agreement", probe_case(1, 1)),
    "attention (all other heads)": ("repeated_tokens", attention_case),
    "attention (4 random heads, old)": ("repeated_tokens", four_random_heads_case),
    "resample ablation L1H3": ("agreement", resample_case("L1H3", "logit_diff")),
    "resample ablation L0H1": ("repeated_tokens", resample_case("L0H1", "loss")),
    "resample ablation L1H3 (seeds=5)": ("agreement", resample_case("L1H3", "logit_diff", 5)),
}


@functools.cache
def _pool(dataset: str) -> tuple[dict[str, Any], ...]:
    build = agreement_rows if dataset == "agreement" else repeated_token_rows
    return tuple(build(np.random.default_rng(99), POOL))


def fresh_sample(dataset: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``N_PROMPTS`` prompts drawn at random from the generator of the shipped set ``dataset``."""
    pool = _pool(dataset)
    return [dict(pool[i]) for i in rng.choice(len(pool), size=N_PROMPTS, replace=False)]


def simulate(model: Any, name: str, n_sims: int, fixed: bool, resamples: int
             ) -> dict[str, np.ndarray]:
    """``{quantity: [n_sims, 3] array of (value, low, high)}``."""
    dataset, case = CASES[name]
    out: dict[str, list[Interval]] = {}
    for sim in range(n_sims):
        data: Any = dataset if fixed else fresh_sample(
            dataset, np.random.default_rng([2024, sim, zlib.crc32(name.encode())]))
        with _context.use(ClaimContext(seed=sim, key=name, n_resamples=resamples)):
            for quantity, iv in case(model, data).items():
                out.setdefault(quantity, []).append(iv)
    return {q: np.array(v) for q, v in out.items()}


def coverage(ivs: np.ndarray) -> tuple[float, float, float, float]:
    """Share of intervals holding the leave-one-out mean of the other point estimates; its
    binomial SE; the target; the width ratio (mean half-width / 1.96 SD of the estimates)."""
    values, lo, hi = ivs[:, 0], ivs[:, 1], ivs[:, 2]
    n = values.size
    target = (values.sum() - values) / (n - 1)
    scale = max(1.0, float(np.abs(values).max()))
    tol = 1e-12 * scale
    covered = (lo - tol <= target) & (target <= hi + tol)
    rate = float(covered.mean())
    sd = float(values.std(ddof=1))
    # an estimate that no draw moves (fixed prompts, nothing random) has no spread to compare
    ratio = float(((hi - lo) / 2).mean() / (1.96 * sd)) if sd > 1e-9 * scale else math.nan
    return rate, math.sqrt(max(rate * (1 - rate), 1e-12) / n), float(values.mean()), ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=500, help="simulations per case (≥ 500)")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples per interval")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--fixed-only", action="store_true", help="only the shipped-data column")
    args = ap.parse_args()
    from interpclaims.activations import ActivationStore, StoreCache
    from interpclaims.models import ModelRegistry

    with tempfile.TemporaryDirectory() as tmp:
        # the shipped prompts go through an activation store (one forward pass for all seeds);
        # fresh samples must not: each would store every site of 200 prompts (~70 MB), and
        # thousands of them fill a disk
        store = ActivationStore(Path(tmp), mode="rw")
        cached = ModelRegistry(cache=StoreCache(store)).get("zoo/agreement", "tl")
        model = ModelRegistry().get("zoo/agreement", "tl")
        print(f"{'case':<34} {'quantity':<40} {'fresh prompts':>15} {'width':>6}"
              f" {'shipped prompts':>16} {'width':>6} {'target':>8}")
        for name in CASES:
            if args.only not in name:
                continue
            t0 = time.perf_counter()
            fixed = simulate(cached, name, args.sims, True, args.resamples)
            fresh = None if args.fixed_only else simulate(model, name, args.sims, False,
                                                          args.resamples)
            for q in fixed:
                rate, se, target, ratio = coverage(fixed[q])
                shipped = f"{100 * rate:5.1f}% ± {100 * se:.1f} {ratio:6.2f}"
                col = f"{'-':>15} {'-':>6}"
                if fresh is not None:
                    rate, se, target, ratio = coverage(fresh[q])
                    col = f"{100 * rate:5.1f}% ± {100 * se:.1f} {ratio:6.2f}"
                print(f"{name:<34} {q:<40} {col:>22} {shipped:>23} {target:8.4f}", flush=True)
            print(f"    ({args.sims} simulations per column, {time.perf_counter() - t0:.0f} s)",
                  flush=True)

if __name__ == "__main__":
    main()
