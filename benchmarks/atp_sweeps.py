"""The ``atp`` benchmark of ``benchmarks/run.py``: attribution patching against exact patching on
the sweeps of ``claims/`` (issue 13, section 3).

In process, on both backends (``Model`` without a store, so every run is a forward pass): each
sweep of ``claims/test_causal.py`` by AtP (reading the cells its claims read, which patches them
for real) and exactly; Spearman's rank correlation of the AtP scores with the exact values over
all cells and over the cells whose patch changes something (the noop cells are exactly 0 in
both); forward / backward passes and seconds of each; the largest difference of AtP scores
between the backends. Then ``pytest claims/`` (tl, cold store) twice: as shipped (AtP sweeps)
and with every sweep forced exact (``-p atp_exact_plugin``), only the tests that sweep (the
others run the same passes either way): their forward passes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "zoo/agreement"
HERE = Path(__file__).resolve().parent
# the tests of claims/ that run a sweep (claims/test_causal.py)
SWEEP_TESTS = ("test_layer1_sweep_finds_the_subject_position or test_head_L1H3_carries_subject_number"
               " or test_patching_the_induction_head_restores_agreement")


def _sweeps() -> dict[str, tuple[Callable[[Any, str], Any], list[tuple[str, str]]]]:
    """Each sweep of claims/test_causal.py: how to run it, and the cells its claims read."""
    import interpclaims as ic

    one = [r for r in ic.load_data("agreement").rows if len(r["text"].split()) == 5]
    return {
        "patch_sweep(resid_pre, denoising)": (
            lambda m, how: ic.patch_sweep(m, data=one, kind="resid_pre", direction="denoising",
                                          method=how), [("L1", "pos2")]),
        "patch_heads(denoising, -1)": (
            lambda m, how: ic.patch_heads(m, data="agreement", direction="denoising",
                                          positions=-1, method=how), [("L1", "H3"), ("L1", "H2")]),
    }


def _spearman(x: Any, y: Any) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def measure_sweeps() -> dict[str, Any]:
    """Per backend and sweep: rank correlations, passes and seconds of AtP and exact."""
    import numpy as np

    from interpclaims.models import Model

    out: dict[str, Any] = {}
    scores: dict[str, dict[str, Any]] = {}
    for backend in ("tl", "nnsight"):
        model = Model(MODEL, backend)
        for name, (run, cells) in _sweeps().items():
            f0, b0, t0 = model.forward_passes, model.backward_passes, time.perf_counter()
            atp = run(model, "atp")
            for cell in cells:
                atp[cell]  # what the claims read: patched for real
            f1, b1, t1 = model.forward_passes, model.backward_passes, time.perf_counter()
            exact = run(model, "exact")
            f2, t2 = model.forward_passes, time.perf_counter()
            a, e = np.array(atp.scores).ravel(), np.array(exact.values()).ravel()
            moved = np.array([(r, c) not in set(exact.noop) for r in exact.rows
                              for c in exact.cols])
            out[f"{backend} {name}"] = {
                "spearman": _spearman(a, e),
                "spearman_moved": _spearman(a[moved], e[moved]) if moved.sum() > 2 else None,
                "cells": int(a.size), "moved": int(moved.sum()),
                "atp_forward": f1 - f0, "atp_backward": b1 - b0, "exact_forward": f2 - f1,
                "atp_s": t1 - t0, "exact_s": t2 - t1,
                "max_abs_error": float(np.abs(a - e).max()),
                # AtP's first cell reaches the exact maximum (ties: several cells may)
                "top_agrees": bool(exact[atp.ranking()[0]].value >= e.max() - 1e-9 * abs(e).max()),
            }
            scores.setdefault(name, {})[backend] = a
        assert model.leaks() == [], model.leaks()
    out["parity"] = max(float(np.abs(v["tl"] - v["nnsight"]).max() / max(np.abs(v["tl"]).max(), 1.0))
                        for v in scores.values())
    return out


def bench_atp(add: Callable[..., None], details: dict[str, Any],
              run_claims: Callable[..., dict[str, Any]], tmp: Path) -> None:
    """The rows of the ``atp`` benchmark (``add`` = ``Ctx.add``)."""
    sweeps = measure_sweeps()
    details["atp_sweeps"] = sweeps
    per = {k: v for k, v in sweeps.items() if k != "parity"}
    worst = min(v["spearman"] for v in per.values())
    moved = [v["spearman_moved"] for v in per.values() if v["spearman_moved"] is not None]
    add("atp", "Spearman AtP vs exact, claims/ sweeps (worst)", worst, f"{worst:.3f}", ">= 0.9",
        worst >= 0.9, "over every cell, both backends; " + "; ".join(
            f"{k}: {v['spearman']:.3f} ({v['moved']}/{v['cells']} cells move)"
            for k, v in per.items() if k.startswith("tl ")))
    if moved:
        add("atp", "Spearman over cells that move (worst)", min(moved), f"{min(moved):.3f}",
            "context", None, "noop cells (exactly 0 in both) excluded")
    err = max(v["max_abs_error"] for v in per.values())
    add("atp", "largest |AtP − exact| (normalized effect)", err, f"{err:.3f}", "context", None,
        "why AtP only ranks: claims read exact cells")
    for k, v in per.items():
        if k.startswith("tl "):
            ratio = v["exact_forward"] / max(v["atp_forward"], 1)
            add("atp", f"passes {k[3:]}: exact / AtP+claimed", ratio,
                f"{v['exact_forward']} / {v['atp_forward']}+{v['atp_backward']}bwd",
                "> 1", ratio > 1,
                f"seconds {v['exact_s']:.2f} / {v['atp_s']:.2f}; AtP's top cell = exact's: "
                f"{v['top_agrees']}")
    add("atp", "AtP parity tl vs nnsight (rel.)", sweeps["parity"], f"{sweeps['parity']:.1e}",
        "<= 1e-4", sweeps["parity"] <= 1e-4)
    # only the tests with sweeps: the rest of the suite runs the same passes either way (and the
    # whole suite twice does not fit the runner's 600 s on a loaded 2-core machine)
    extra = ["-k", SWEEP_TESTS]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), old]))
    try:
        with_atp = run_claims(tmp, tmp / "atp-cache-a", extra, label="(AtP sweeps)")
        exact = run_claims(tmp, tmp / "atp-cache-e", [*extra, "-p", "atp_exact_plugin"],
                           label="(exact sweeps)")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    details["atp_suite"] = {"atp": with_atp["forward_passes"], "exact": exact["forward_passes"],
                            "summary_atp": with_atp["summary"], "summary_exact": exact["summary"]}
    fa, fe = with_atp["forward_passes"], exact["forward_passes"]
    same = with_atp["summary"] == exact["summary"]
    add("atp", "sweep tests' forward passes (tl), exact / AtP", fe / fa, f"{fe} / {fa}",
        "AtP < exact", fa < fe,
        f"pytest claims/ -k <the {SWEEP_TESTS.count(' or ') + 1} sweep tests>, cold store; same "
        f"verdicts: {same}")
