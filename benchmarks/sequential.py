"""``--claims-sequential``: null simulations (false-SUPPORTED rate where the true effect equals the
threshold) and the prompts the zoo suite's decisive claims use.

    python benchmarks/sequential.py              # both parts, printed
    python benchmarks/run.py --only sequential   # the same, as rows of the benchmark table

Null simulations. For each analysis the flag supports (``measure``, ``ablate`` zero and mean,
``patch`` with ``metric="logit_diff"``), the analysis runs once on all 200 prompts of its zoo
dataset (``zoo/agreement``, tl) to get each prompt's value; the population is those 200 prompts
and the true effect their mean. Each simulation (its own claim seed, so its own random order of
the prompts) decides ``is_at_least(mean)`` and ``is_at_most(mean)`` through the real sequential
path (:func:`interpclaims.analyses._sequential.in_batches`, :class:`interpclaims.Claim`) on those
values; a SUPPORTED verdict is a false one. Target: rate <= α + 3 SE (α = 0.05, the claims'
two-sided level; each one-sided claim's nominal error is α/2).

Suite savings. ``pytest claims/ --claims-sequential --claims-backends=tl``: of the claims decided
sequentially and decisively (SUPPORTED or REFUTED), the fraction of their prompts used. Target:
<= 30% (the mean over those claims; the largest is shown too).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ALPHA = 0.05


class _Counter:
    """What :func:`in_batches` reads of a model: its forward-pass counter."""

    forward_passes = 0


def decide_on_values(values: dict[str, float], ds: Any, threshold: float, comparator: str,
                     seed: int) -> Any:
    """One claim ``comparator(threshold)`` decided sequentially on the prompts of ``ds`` whose
    per-prompt values are ``values`` (by row id), under claim seed ``seed``: its ClaimResult."""
    from interpclaims import _context
    from interpclaims._estimate import estimate_from_samples
    from interpclaims.analyses._sequential import in_batches
    from interpclaims.verdicts import Subject

    def run(rows: Any) -> Any:
        return estimate_from_samples([values[i] for i in rows.ids], method="null values",
                                     label="null", unit_ids=tuple(rows.ids))

    ctx = _context.ClaimContext(seed=seed, key="null", n_resamples=200, sequential=True)
    with _context.use(ctx):
        est = in_batches(_Counter(), ds, run, analysis="null", rate=lambda: False)  # type: ignore[arg-type]
        subject = Subject(est, lambda r: None, None, "null", "", dry=True)
        return getattr(subject, comparator)(threshold)


def per_prompt_values() -> dict[str, tuple[Any, dict[str, float]]]:
    """Each supported analysis's value per prompt on all its prompts (no flag), with its data."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import interpclaims as ic
    from interpclaims.models import ModelRegistry

    model = ModelRegistry().get("zoo/agreement", "tl")
    agreement = ic.load_data("agreement")
    runs: dict[str, Callable[[], Any]] = {
        "measure logit_diff": lambda: ic.measure(model, agreement, "logit_diff"),
        "ablate L1H3 zero logit_diff": lambda: ic.ablate(model, "L1H3", agreement, how="zero",
                                                        metric="logit_diff"),
        "ablate L1H2 mean logit_diff": lambda: ic.ablate(model, "L1H2", agreement, how="mean",
                                                        metric="logit_diff"),
        "patch L0.resid_post logit_diff": lambda: ic.patch(
            model, "L0.resid_post", agreement, positions="subject_pos", metric="logit_diff"),
    }
    out = {}
    for name, make in runs.items():
        est = make()
        out[name] = (agreement, dict(zip(est.unit_ids, est.samples.tolist(), strict=True)))
    return out


def null_simulations(sims: int = 200) -> dict[str, dict[str, Any]]:
    """False-SUPPORTED rates of ``is_at_least(mean)`` and ``is_at_most(mean)`` per analysis,
    each simulation on 200 prompts drawn with replacement from the 200 (i.i.d. draws from the
    population whose mean is the threshold; drawing without replacement would end every stream
    at exactly the threshold, an easier null)."""
    out = {}
    for name, (ds, values) in per_prompt_values().items():
        mean = float(np.mean(list(values.values())))
        false, used = 0, []
        for seed in range(sims):
            draw = np.random.default_rng(seed).integers(0, len(ds.rows), len(ds.rows))
            sample, sample_values = _resampled(ds, values, draw)
            for comparator in ("is_at_least", "is_at_most"):
                r = decide_on_values(sample_values, sample, mean, comparator, seed)
                false += r.verdict.name == "SUPPORTED"
                used.append(r.tested.n)
        rate = false / (2 * sims)
        se = math.sqrt(ALPHA * (1 - ALPHA) / (2 * sims))
        out[name] = {"claims": 2 * sims, "false_supported": false, "rate": rate,
                     "bound": ALPHA + 3 * se, "ok": rate <= ALPHA + 3 * se,
                     "mean_prompts": float(np.mean(used)), "skewness": _skew(values)}
    return out


def _resampled(ds: Any, values: dict[str, float], draw: np.ndarray) -> tuple[Any, dict[str, float]]:
    """The rows ``draw`` of ``ds`` (with repeats, each given its own id) and their values."""
    from interpclaims._data import Dataset

    rows = tuple(dict(ds.rows[i], id=f"{ds.rows[i]['id']}~{k}") for k, i in enumerate(draw))
    sample = Dataset(name=ds.name, rows=rows, sha256=f"{ds.sha256}~{hash(tuple(draw))}")
    return sample, {r["id"]: values[ds.rows[i]["id"]] for r, i in zip(rows, draw, strict=True)}


def _skew(values: dict[str, float]) -> float:
    x = np.array(list(values.values()))
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def suite_savings(report: Path | None = None) -> dict[str, Any]:
    """Prompts used by the claims ``pytest claims/ --claims-sequential`` decided sequentially
    (``report``: an existing claims.json of such a run; else one run here, tl only)."""
    if report is None:
        tmp = Path(tempfile.mkdtemp(prefix="interpclaims-seq-"))
        env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
        subprocess.run([sys.executable, "-m", "pytest", "claims/", "-q", "-p", "no:randomly",
                        "-p", "no:cacheprovider", "--claims-sequential", "--claims-backends=tl",
                        f"--claims-report-dir={tmp}"], cwd=ROOT, env=env, check=False,
                       capture_output=True)
        report = tmp / "claims.json"
    rows = json.loads(report.read_text())["claims"]
    seq = [r for r in rows if "sequential" in r["tested"].get("context", {})]
    decisive = [r for r in seq if r["verdict"] in ("SUPPORTED", "REFUTED")]
    fractions = [r["tested"]["context"]["sequential"]["fraction"] for r in decisive]
    return {
        "claims": len(rows), "sequential": len(seq), "decisive": len(decisive),
        "inconclusive": len(seq) - len(decisive),
        "mean_fraction": float(np.mean(fractions)) if fractions else None,
        "max_fraction": max(fractions) if fractions else None,
        "prompts_used": sum(r["tested"]["context"]["sequential"]["prompts"] for r in seq),
        "prompts_total": sum(r["tested"]["context"]["sequential"]["of"] for r in seq),
        "forward_passes": sum(r["tested"]["context"]["sequential"]["forward_passes"]
                              for r in seq),
        "by_claim": {r["nodeid"] + ("#" + r["claim_id"].split("#", 1)[1]
                                    if "#" in r.get("claim_id", "") else ""):
                     (r["verdict"], r["tested"]["context"]["sequential"]["prompts"],
                      r["tested"]["context"]["sequential"]["of"]) for r in seq},
    }


def bench(ctx: Any) -> None:
    """The rows of ``benchmarks/run.py --only sequential``."""
    sims = 50 if ctx.quick else 200
    nulls = null_simulations(sims)
    for name, r in nulls.items():
        ctx.add("sequential", f"null false-SUPPORTED, {name}", r["rate"],
                f"{r['rate']:.3f} ({r['false_supported']}/{r['claims']})",
                f"<= {r['bound']:.3f} (α + 3 SE)", r["ok"],
                f"nominal α/2 = {ALPHA / 2}; skewness {r['skewness']:.2f}")
    s = suite_savings()
    ok = s["mean_fraction"] is not None and s["mean_fraction"] <= 0.3
    ctx.add("sequential", "prompts used by decisive sequential claims (claims/, tl)",
            s["mean_fraction"], f"{s['mean_fraction']:.0%} mean, {s['max_fraction']:.0%} max "
            f"({s['decisive']} claims)" if s["mean_fraction"] is not None else "none",
            "<= 30%", ok, f"{s['prompts_used']} of {s['prompts_total']} prompts over all "
            f"{s['sequential']} sequential claims ({s['inconclusive']} inconclusive)")
    ctx.details["sequential"] = {"nulls": nulls, "suite": s}


def main() -> int:
    report = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    print(json.dumps(null_simulations(), indent=1))
    s = suite_savings(report)
    print(json.dumps({k: v for k, v in s.items() if k != "by_claim"}, indent=1))
    for k, v in sorted(s["by_claim"].items()):
        print(f"  {v[0]:<12} {v[1]:>4}/{v[2]:<4} {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
