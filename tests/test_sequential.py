"""``--claims-sequential``: claims decided on growing batches of prompts by a confidence sequence.

Unit tests drive the real path (``analyses._sequential.in_batches`` → ``Subject``) on known
per-prompt values; a null simulation on the zoo's own per-prompt values (the fast version of
``benchmarks/sequential.py``); pytester runs of the flag on both backends.
"""

from __future__ import annotations

import importlib.util
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from interpclaims import _context
from interpclaims._data import Dataset
from interpclaims._errors import ClaimRefuted
from interpclaims._estimate import estimate_from_samples
from interpclaims.analyses._sequential import in_batches
from interpclaims.verdicts import Claim, Family, Subject, Verdict

BENCH = Path(__file__).parents[1] / "benchmarks" / "sequential.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_sequential", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Model:
    forward_passes = 0


def _stream(values: np.ndarray, *, sequential: bool = True, seed: int = 0):
    """An estimate of ``values`` (one per prompt) as a supported analysis returns it, and the
    rows each batch evaluated."""
    ds = Dataset(name="synthetic", rows=tuple({"id": f"p{i}", "text": "x"} for i in
                                              range(values.size)), sha256="s" * 64)
    by_id = {f"p{i}": float(v) for i, v in enumerate(values)}
    model, batches = _Model(), []

    def run(rows: Dataset):
        model.forward_passes += 1
        batches.append(len(rows.rows))
        return estimate_from_samples([by_id[i] for i in rows.ids], method="values per prompt",
                                     label="x", unit_ids=tuple(rows.ids))

    with _context.use(_context.ClaimContext(seed=seed, key="t", n_resamples=500,
                                            sequential=sequential)):
        return in_batches(model, ds, run, analysis="test", rate=lambda: False), batches


def _decide(est, comparator: str, *args, family: Family | None = None):
    with _context.use(_context.ClaimContext(seed=0, key="t", n_resamples=500, sequential=True)):
        return getattr(Subject(est, lambda r: None, family, "here", "", dry=True),
                       comparator)(*args)


def test_a_far_effect_is_decided_on_the_first_batch() -> None:
    values = np.random.default_rng(1).normal(5.0, 1.0, 200)
    est, batches = _stream(values)
    assert (est.n, batches) == (40, [40])
    assert "the first 40 of 200 prompts" in est.method
    r = _decide(est, "is_at_least", 1.0)
    assert r.verdict is Verdict.SUPPORTED
    info = r.tested.context["sequential"]
    assert (info["prompts"], info["of"], info["looks"], info["forward_passes"]) == (40, 200, 1, 1)
    assert r.tested.n == 40 and r.p is None  # no fixed-n p-value after peeking
    assert "decided sequentially after 40 of 200 prompts (1 look, 1 forward passes)" in r.message
    assert "[95% CS " in r.message
    assert "confidence sequence" in r.tested.method
    assert r.to_json()["tested"]["context"]["sequential"]["fraction"] == 0.2


def test_refuted_and_between_looks() -> None:
    values = np.random.default_rng(2).normal(0.4, 1.0, 200)
    est, batches = _stream(values)
    r = _decide(est, "is_at_most", 0.0)  # true mean 0.4 sd 1: needs more than one batch
    assert r.verdict is Verdict.REFUTED
    assert r.tested.n > 40 and batches[0] == 40 and sum(batches) == r.tested.n
    assert r.tested.ci_low > 0.0
    assert r.tested.value == pytest.approx(float(np.mean(r.tested.samples)))
    claim = Claim(lambda r: None)
    with pytest.raises(ClaimRefuted, match="decided sequentially"):
        with _context.use(_context.ClaimContext(sequential=True)):
            claim.that(_stream(values)[0]).is_at_most(0.0)


def test_an_effect_at_the_threshold_uses_every_prompt_and_stays_undecided() -> None:
    values = np.random.default_rng(3).normal(0.0, 1.0, 200)
    values -= values.mean()
    est, batches = _stream(values)
    r = _decide(est, "is_at_least", 0.0)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert r.tested.n == 200 and sum(batches) == 200
    assert r.tested.context["sequential"]["looks"] == 5  # 40, 60, 90, 135, 200
    # decided on the confidence sequence at 200, wider than the fixed-n interval
    fixed = estimate_from_samples(values, method="m", label="x")
    assert r.tested.ci_high - r.tested.ci_low > fixed.ci_high - fixed.ci_low


def test_equivalence_and_exceeds_a_number() -> None:
    values = np.random.default_rng(4).normal(0.01, 0.05, 200)
    assert _decide(_stream(values)[0], "is_negligible", 0.5).tested.n == 40
    assert _decide(_stream(values)[0], "is_between", -0.5, 0.5).verdict is Verdict.SUPPORTED
    r = _decide(_stream(values + 3.0)[0], "exceeds", 1.0, 0.5)
    assert r.verdict is Verdict.SUPPORTED and r.tested.n == 40


def test_rules_the_sequence_does_not_cover_use_every_prompt() -> None:
    """A comparison of two estimates, and a claim in a corrected family, complete the estimate:
    the fixed-n estimate of every prompt in the dataset's order, as without the flag."""
    values = np.random.default_rng(5).normal(2.0, 1.0, 200)
    without, _ = _stream(values, sequential=False)
    assert without.stream is None and without.n == 200
    est, batches = _stream(values)
    complete = est.stream.complete()
    assert sum(batches) == 200
    assert complete.value == without.value and complete.unit_ids == without.unit_ids
    assert np.array_equal(complete.samples, without.samples)
    other = estimate_from_samples(values - 1.0, method="m", label="o",
                                  unit_ids=without.unit_ids)
    r = _decide(_stream(values)[0], "exceeds", other, 0.5)
    assert r.tested.n == 200 and "sequential" not in r.tested.context
    fam = _decide(_stream(values)[0], "is_at_least", 1.0, family=Family("f", size=3))
    assert fam.tested.n == 200 and fam.p is not None and "sequential" not in fam.tested.context


def test_a_dataset_no_larger_than_the_first_batch_runs_as_without_the_flag() -> None:
    est, batches = _stream(np.arange(40.0))
    assert est.stream is None and batches == [40]


def test_the_order_is_seeded_and_random() -> None:
    values = np.arange(200.0)
    a, _ = _stream(values, seed=0)
    b, _ = _stream(values, seed=0)
    c, _ = _stream(values, seed=1)
    assert a.unit_ids == b.unit_ids != c.unit_ids
    assert a.unit_ids != tuple(f"p{i}" for i in range(40))  # not the dataset's first rows


@pytest.fixture(scope="module")
def null_values(zoo_models):
    """The per-prompt effect of mean-ablating L1H2 on agreement (tl): the zoo's most skewed
    supported quantity (skewness about -6)."""
    import interpclaims as ic

    ds = ic.load_data("agreement")
    est = ic.ablate(zoo_models["zoo/agreement", "tl"], "L1H2", ds, how="mean",
                    metric="logit_diff")
    return ds, dict(zip(est.unit_ids, est.samples.tolist(), strict=True))


def test_null_false_supported_rate(null_values) -> None:
    """100 simulations × 2 claims whose threshold is the true mean (prompts drawn with
    replacement from the 200): false-SUPPORTED within α + 3 SE (α = 0.05; each one-sided
    claim's nominal rate is α/2). The benchmark runs 200 per analysis type."""
    bench = _bench()
    ds, values = null_values
    mean = float(np.mean(list(values.values())))
    false = 0
    for seed in range(100):
        draw = np.random.default_rng(seed).integers(0, 200, 200)
        sample, sample_values = bench._resampled(ds, values, draw)
        for comparator in ("is_at_least", "is_at_most"):
            r = bench.decide_on_values(sample_values, sample, mean, comparator, seed)
            false += r.verdict is Verdict.SUPPORTED
    assert false / 200 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200), false


CLAIMS = textwrap.dedent(
    """
    import interpclaims as ic

    pytestmark = ic.model("zoo/agreement")

    def test_margin(model, claim):
        margin = ic.measure(model, data="agreement", metric="logit_diff")
        claim.that(margin).is_at_least(2.0)

    def test_head_needed(model, claim):
        effect = ic.ablate(model, "L1H3", data="agreement", how="mean", metric="logit_diff")
        claim.that(effect).is_at_most(-1.0)
    """
)


def test_plugin_flag_on_both_backends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_seq=CLAIMS)
    rows = {}
    for flag in ((), ("--claims-sequential",)):
        result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "-p",
                                    "no:randomly", f"--claims-report-dir=rep{len(flag)}", *flag)
        assert result.parseoutcomes().get("passed") == 4, result.stdout.str()
        report = json.loads((pytester.path / f"rep{len(flag)}" / "claims.json").read_text())
        rows[bool(flag)] = {(c["nodeid"]): c for c in report["claims"]}
    for nodeid, row in rows[False].items():
        assert row["tested"]["n"] == 200 and "sequential" not in row["tested"].get("context", {})
        seq = rows[True][nodeid]
        info = seq["tested"]["context"]["sequential"]
        assert (info["prompts"], info["of"]) == (40, 200), nodeid
        assert "decided sequentially after 40 of 200 prompts" in seq["message"]
    for test in ("test_margin", "test_head_needed"):  # backend parity of the sequential numbers
        tl, nn = (rows[True][f"test_seq.py::{test}[{b}]"]["tested"] for b in ("tl", "nnsight"))
        scale = max(abs(tl["ci_low"]), abs(tl["ci_high"]))
        for key in ("value", "ci_low", "ci_high"):
            assert tl[key] == pytest.approx(nn[key], abs=1e-4 * scale)
