"""Research actions on zoo/agreement: probes tested against a permutation null (fixed split,
ridge and logistic), feature comparison across layers, polysemanticity of MLP neurons and
representation collapse. Numbers quoted are measured on both backends (identical to 1e-6)."""

import hashlib

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")


def _with_split():
    """The agreement prompts with a fixed train/test split (a hash of each id: 95 train, 105
    test, both classes of number and category in each)."""
    return [dict(r, split="test" if hashlib.sha256(r["id"].encode()).digest()[0] % 2 else "train")
            for r in ic.load_data("agreement").rows]


@pytest.mark.parametrize("classifier", ["ridge", "logistic"])
def test_number_beats_the_permutation_null_on_a_fixed_split(model, claim, classifier):
    # test accuracy 0.82 (ridge) / 0.76 (logistic) on the 105 test prompts; 999 permutations of
    # the labels, each probe retrained on the same split, reach 0.49 on average (97.5%: 0.59):
    # p = 1/1000
    probe = ic.probe(model, ic.resid_post(0), "number", data=_with_split(), split="split",
                     classifier=classifier, controls=["permutation_null"])
    claim.that(probe.accuracy).exceeds(probe.control("permutation_null"))


@pytest.mark.xfail(strict=True, reason="false claim: at the bos position every prompt has the "
                   "same token, so the features are constant and the probe predicts its training "
                   "split's majority class; its accuracy depends only on the split's label "
                   "counts, which many permutations match or beat (ties count against the "
                   "claim): p = 0.23, not SUPPORTED (INCONCLUSIVE)")
def test_a_constant_site_beats_the_permutation_null(model, claim):
    # a naive reading: accuracy 0.495 > the null's mean 0.473, so "decodable above the null"
    probe = ic.probe(model, ic.resid_post(1), "number", data=_with_split(), split="split",
                     position=0, controls=["permutation_null"])
    claim.that(probe.accuracy).exceeds(probe.control("permutation_null"))


def test_syntax_and_semantics_emerge_together(model, claim):
    # at the verb position: embed 0.57 / 0.54, L0 0.86 / 0.86, L1 1.0 / 1.0 (number / category);
    # the area between the curves (out of a possible 2) moves with the probe's split draws: 0.006
    # to 0.028 over claim seeds 0, 1, 7, the highest upper bound 0.088 — hence a 0.15 margin
    cmp = ic.compare_features(model, ("number", "category"), threshold=0.75)
    claim.that(cmp.area_difference).is_negligible(within=0.15)
    claim.that(cmp.first_above["number"]).is_at_most(1)


@pytest.mark.xfail(strict=True, reason="false claim: subject number does not emerge before the "
                   "noun category here — both first reach 0.75 after layer 0 in every bootstrap "
                   "resample (onset difference 0 [0, 0]), so 'at least one layer earlier' is "
                   "REFUTED")
def test_syntax_emerges_before_semantics(model, claim):
    cmp = ic.compare_features(model, ("number", "category"), threshold=0.75)
    claim.that(cmp.onset_difference).is_at_most(-1)


def test_a_layer0_neuron_serves_number_and_category(model, claim):
    # the shortlist of neurons in the top 8 of both probe directions at blocks.0.mlp.hook_post
    # is (38, 96); neuron 38's loading index 0.87 [0.36, 0.96]
    poly = ic.polysemanticity(model, 0, ("number", "category"), top_k=8, resamples=500)
    assert poly.shortlist, "no neuron in the top 8 of both features"
    claim.that(poly.loading(poly.shortlist[0])).is_at_least(0.2)


@pytest.mark.xfail(strict=True, reason="false claim: the number probe's direction is dense over "
                   "the 256 neurons — its top-8 mass 0.19 is no more than that of probes of "
                   "permuted labels (0.21 on average), so the permutation test REFUTES it")
def test_number_lives_on_a_handful_of_neurons(model, claim):
    # a naive reading: 8 of 256 neurons (3%) carry 19% of the direction's squared norm
    poly = ic.polysemanticity(model, 0, ("number", "category"), top_k=8)
    mass = poly.mass["number"]
    claim.that(mass).exceeds(mass.control("permutation_null"))


def test_number_does_not_collapse_and_embed_resembles_layer0(model, claim):
    # decodability rises to the last layer: collapse index (early peak − final) -0.14
    # [-0.18, -0.11]; CKA(embed, L0) = 0.994 [0.993, 0.995] at the verb position
    col = ic.representation_collapse(model, "number")
    claim.that(col.collapse_index).is_at_most(0.0)
    claim.that(col.cka["embed", "L0"]).is_at_least(0.9)


@pytest.mark.xfail(strict=True, reason="false claim: layer 1 rewrites the verb-position "
                   "representation — CKA(L0, L1) is 0.022 [0, 0.022] although the feature stays "
                   "decodable (0.86 → 1.0): decodability is not similarity, REFUTED")
def test_consecutive_layers_share_a_representation(model, claim):
    col = ic.representation_collapse(model, "number")
    claim.that(col.cka["L0", "L1"]).is_at_least(0.5)
