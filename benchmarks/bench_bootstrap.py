"""``bootstrap_vs_scipy`` of ``benchmarks/run.py``: our bootstrap against ``scipy.stats.bootstrap``
on the same interval, and the share of statistics in a cold ``pytest claims/`` run.

Same interval means: the same data (1,000 exponential values), level (95%), method (percentile;
BCa in a second row) and resample count (10,000 on both sides: no adaptivity, no approximation).
The two intervals then differ only by Monte Carlo error, which the note states in units of the
bootstrap standard error. The floor row is what any exact index bootstrap at 10,000 resamples
pays whatever its reduction: drawing the 10,000 x 1,000 indices (in the dtype our kernel draws).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

N_PROMPTS = 1000
RESAMPLES = 10_000


def _best(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best wall time of each function, the functions interleaved ``repeats`` times."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def _scipy(data: Any, method: str, axis: int = -1) -> Any:
    import numpy as np
    from scipy import stats

    kw = dict(n_resamples=RESAMPLES, method=method, vectorized=True, axis=axis)
    try:
        return stats.bootstrap((data,), np.mean, rng=np.random.default_rng(1), **kw)
    except TypeError:  # scipy < 1.15
        return stats.bootstrap((data,), np.mean, random_state=np.random.default_rng(1), **kw)


def same_interval(ctx: Any, repeats: int) -> dict[str, Any]:
    """Rows: scipy / ours for the percentile and the BCa interval, and the index-draw floor."""
    import numpy as np

    from interpclaims.stats import bootstrap_mean

    x = np.random.default_rng(0).exponential(size=N_PROMPTS)
    se = float(x.std()) / np.sqrt(N_PROMPTS)
    details: dict[str, Any] = {"n": N_PROMPTS, "resamples_each_side": RESAMPLES}
    for ours_m, sp_m in (("percentile", "percentile"), ("bca", "BCa")):
        t = _best({"ours": lambda m=ours_m: bootstrap_mean(x, np.random.default_rng(1), method=m),
                   "scipy": lambda m=sp_m: _scipy(x, m)}, repeats)
        _, lo, hi = bootstrap_mean(x, np.random.default_rng(1), method=ours_m)
        ci = _scipy(x, sp_m).confidence_interval
        gap = max(abs(lo - ci.low), abs(hi - ci.high)) / se
        ratio = t["scipy"] / t["ours"]
        ctx.add("bootstrap_vs_scipy", f"scipy.stats.bootstrap / bootstrap_mean ({ours_m}, "
                f"n={N_PROMPTS}, {RESAMPLES} resamples each)", ratio,
                f"{ratio:.2f}x ({t['scipy'] * 1e3:.0f}ms / {t['ours'] * 1e3:.0f}ms)",
                ">= 10x" if ours_m == "percentile" else "context",
                ratio >= 10 if ours_m == "percentile" else None,
                f"best of {repeats}, interleaved; ours [{lo:.4f}, {hi:.4f}] scipy "
                f"[{ci.low:.4f}, {ci.high:.4f}]: endpoints {gap:.3f} SE apart (MC error)")
        details[ours_m] = {"ours_s": t["ours"], "scipy_s": t["scipy"], "ours": [lo, hi],
                           "scipy": [float(ci.low), float(ci.high)], "gap_se": gap}
    g = np.random.default_rng(2)
    t_idx = _best({"draw": lambda: g.integers(0, N_PROMPTS, size=(RESAMPLES, N_PROMPTS),
                                              dtype=np.uint16)}, repeats)["draw"]
    pct = details["percentile"]
    ctx.add("bootstrap_vs_scipy", "floor: scipy / drawing the 10k x 1000 uint16 indices alone",
            pct["scipy_s"] / t_idx, f"{pct['scipy_s'] / t_idx:.1f}x (draw {t_idx * 1e3:.0f}ms = "
            f"{t_idx / pct['ours_s']:.0%} of ours)", "context", None,
            "the most any exact 10k-resample index bootstrap can gain over scipy")
    details["index_draw_s"] = t_idx
    return details


def many_quantities(ctx: Any, repeats: int) -> dict[str, float]:
    import numpy as np

    from interpclaims.stats import bootstrap_mean_batch

    rows = np.random.default_rng(3).exponential(size=(28, 200))  # e.g. one sweep's cells
    t = _best({"batch": lambda: bootstrap_mean_batch(rows, np.random.default_rng(1)),
               "scipy": lambda: _scipy(rows, "percentile")}, max(2, repeats // 2))
    ratio = t["scipy"] / t["batch"]
    ctx.add("bootstrap_vs_scipy", "28 quantities x n=200: scipy (2-D, one call) / batch", ratio,
            f"{ratio:.2f}x ({t['scipy'] * 1e3:.0f}ms / {t['batch'] * 1e3:.0f}ms)", "context",
            None, "bootstrap_mean_batch, shared resamples; 10k resamples each")
    return {"batch_s": t["batch"], "scipy_2d_s": t["scipy"]}


def stats_share(ctx: Any, run_claims: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Share of statistics in a cold ``pytest claims/ --claims-backends=tl`` run's analysis time
    (``bench_profile``: every interpclaims.stats function an estimate, claim or analysis calls)."""
    cache = Path(tempfile.mkdtemp(prefix="cold-stats-", dir=ctx.tmp))
    try:
        run = run_claims(ctx.tmp, cache, profile=True, label="(cold, stats share)")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    stats_s = float(run.get("profile", {}).get("stats", {}).get("s", float("nan")))
    share = stats_s / run["analysis_s"]
    ctx.add("bootstrap_vs_scipy", "statistics / analysis time, cold pytest claims/ (tl)", share,
            f"{share:.0%} ({stats_s:.2f}s / {run['analysis_s']:.2f}s)", "<= 15%", share <= 0.15,
            f"other processes used {run['foreign_cores']:.2f} cores at most meanwhile")
    return {"stats_s": stats_s, "analysis_s": run["analysis_s"], "profile": run.get("profile")}
