"""Research correctness, measured: on null setups built from the zoo the harness rarely calls a
claim SUPPORTED, and on the zoo's known mechanisms it almost always does.

Each simulation runs ≥ 200 claims through the real analyses and the real claim rules; the
activations come from the activation store after the first claim (one forward pass), so the
whole file stays fast.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

import interpclaims as ic
from interpclaims import _context
from interpclaims._context import ClaimContext
from interpclaims._data import load_data
from interpclaims.verdicts import Claim, Verdict

# deliberately under-powered claims are decided here: their ClaimWarnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::interpclaims.ClaimWarning")


N_SIM = 200
ALPHA = 0.05
BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / N_SIM)  # α + 3 SE ≈ 0.096


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    from interpclaims.activations import ActivationStore, StoreCache
    from interpclaims.models import ModelRegistry

    store = ActivationStore(tmp_path_factory.mktemp("store"), mode="rw")
    return ModelRegistry(cache=StoreCache(store)).get("zoo/agreement", "tl")


def _verdict(estimate, decide) -> Verdict:
    """The verdict of one claim (REFUTED / INCONCLUSIVE raise; the record keeps the verdict)."""
    results = []
    claim = Claim(results.append)
    with contextlib.suppress(ic.ClaimRefuted, ic.ClaimInconclusive):
        decide(claim.that(estimate))
    return results[0].verdict


def _rate(verdicts: list[Verdict]) -> float:
    return sum(v is Verdict.SUPPORTED for v in verdicts) / len(verdicts)


@pytest.mark.parametrize("setup", ["nonexistent_feature", "shuffled_labels"])
def test_null_probes_are_rarely_supported(zoo_model, setup: str) -> None:
    """A probe for a feature that does not exist (a coin flip per prompt), or for the real
    feature with its labels shuffled across prompts, is claimed decodable above chance."""
    rows = [dict(r) for r in load_data("agreement").rows]
    rng = np.random.default_rng(2026)
    verdicts = []
    for sim in range(N_SIM):
        if setup == "nonexistent_feature":
            labels = rng.integers(0, 2, size=len(rows))
        else:
            labels = rng.permutation([int(r["number"] == "plural") for r in rows])
        data = [{**r, "null_label": str(v)} for r, v in zip(rows, labels, strict=True)]
        with _context.use(ClaimContext(seed=sim, key=setup, n_resamples=1000)):
            probe = ic.probe(zoo_model, ic.resid_post(1), "null_label", data=data, controls=())
            verdicts.append(_verdict(probe.accuracy, lambda s: s.is_at_least(0.5)))
    rate = _rate(verdicts)
    print(f"false-SUPPORTED rate, {setup}: {rate:.3f} over {N_SIM}")
    assert rate <= BOUND, f"false-SUPPORTED rate {rate:.3f} > {BOUND:.3f} ({setup})"


def test_random_split_controls_are_rarely_supported(zoo_model) -> None:
    """The shuffled-label control never beats the real feature's own shuffled twin: comparing two
    independent shuffles of the same labels (exchangeable by construction) is a null. Both pool
    10 draws (disjoint seeds), so the claim compares them per seed and prompt and its interval
    carries the draws' variance."""
    rows = [dict(r) for r in load_data("agreement").rows]
    verdicts = []
    for sim in range(N_SIM):
        with _context.use(ClaimContext(seed=sim, key="shuffle-vs-shuffle", n_resamples=1000)):
            a = ic.probe(zoo_model, ic.resid_post(0), "number", data=rows, controls=["label_shuffle"],
                         seeds=10)
            b = ic.probe(zoo_model, ic.resid_post(0), "number", data=rows, controls=["label_shuffle"],
                         seeds=list(range(10, 20)))
            verdicts.append(_verdict(a.control("label_shuffle"),
                                     lambda s, b=b: s.exceeds(b.control("label_shuffle"))))
    rate = _rate(verdicts)
    print(f"false-SUPPORTED rate, shuffle vs shuffle: {rate:.3f} over {N_SIM}")
    assert rate <= BOUND, f"false-SUPPORTED rate {rate:.3f} > {BOUND:.3f}"


def test_known_mechanisms_are_found_on_small_samples(zoo_model) -> None:
    """Power on planted mechanisms: on random 30-prompt subsets, L1H2 is found to be an
    induction head, and ablating the previous-token head L0H1 is found to raise the loss."""
    rows = [dict(r) for r in load_data("repeated_tokens").rows]
    with _context.use(ClaimContext(seed=0, key="power")):
        score = ic.attention_score(zoo_model, data=rows, head="L1H2", pattern="induction")
        effect = ic.ablate(zoo_model, "L0H1", data=rows, how="mean", metric="loss")
    control = score.control("random_heads")
    rng = np.random.default_rng(7)
    induction, necessity = [], []
    from interpclaims._estimate import estimate_from_samples

    for sim in range(N_SIM):
        pick = rng.choice(len(rows), size=30, replace=False)
        ids = tuple(str(i) for i in pick)
        with _context.use(ClaimContext(seed=sim, key="power", n_resamples=1000)):
            s = estimate_from_samples(score.samples[pick], method="m", label="s", unit_ids=ids)
            c = estimate_from_samples(control.samples[pick], method="m", label="c", unit_ids=ids)
            e = estimate_from_samples(effect.samples[pick], method="m", label="e")
            induction.append(_verdict(s, lambda x, c=c: x.exceeds(c, by=0.3)))
            necessity.append(_verdict(e, lambda x: x.is_at_least(0.5)))
    print(f"power on 30 prompts: induction {_rate(induction):.3f}, necessity {_rate(necessity):.3f}")
    assert _rate(induction) >= 0.9
    assert _rate(necessity) >= 0.9


def test_cache_off_gives_identical_numbers(tmp_path) -> None:
    from interpclaims.activations import ActivationStore, StoreCache
    from interpclaims.models import ModelRegistry

    with _context.use(ClaimContext(seed=3, key="cache")):
        cache = StoreCache(ActivationStore(tmp_path, mode="rw"))
        cached = ModelRegistry(cache=cache).get("zoo/agreement", "nnsight")
        first = ic.attention_score(cached, data="repeated_tokens", head="L1H2")
        warm = ic.attention_score(cached, data="repeated_tokens", head="L1H2")
        passes = cached.forward_passes
        plain = ModelRegistry().get("zoo/agreement", "nnsight")
        uncached = ic.attention_score(plain, data="repeated_tokens", head="L1H2")
    assert cached.forward_passes == passes  # the warm call ran no forward pass
    for other in (warm, uncached):
        assert (other.value, other.ci_low, other.ci_high) == (first.value, first.ci_low,
                                                              first.ci_high)
