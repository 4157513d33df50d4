"""What zoo/agreement represents, read by linear probes with controls. Each parametrized sweep is
one family: each claim is corrected for the family's declared size (Bonferroni) when it is
decided."""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("task", ["number", "category"])
def test_feature_is_decodable_above_the_shuffled_label_control(model, claim, task, layer):
    # read at the last prompt token, where the verb is predicted (syntax: subject number;
    # semantics: animal vs object subject)
    probe = ic.probe(model, ic.resid_post(layer), task, data="agreement", position=-1,
                     controls=["label_shuffle", "control_task"], word_field="subject")
    claim.that(probe.accuracy).exceeds(probe.control("label_shuffle"), by=0.1)


def test_subject_number_is_selective_in_layer0(model, claim):
    # Hewitt & Liang: a random label per subject word is much harder to read at the verb
    # position than the real number feature (measured: 0.23 [0.17, 0.30] pooled over the
    # default 10 splits; one split alone ranged 0.01–0.34)
    probe = ic.probe(model, ic.resid_post(0), "number", data="agreement", position=-1,
                     controls=["control_task"], word_field="subject")
    claim.that(probe.selectivity).is_at_least(0.05)


def test_random_features_carry_no_number(model, claim):
    # a null claim, decided by equivalence: a probe on random features of matched dimension is
    # at chance (0.5) within ±0.15
    probe = ic.probe(model, ic.resid_post(1), "number", data="agreement", position=-1,
                     controls=["random_features"])
    claim.that(probe.control("random_features")).is_between(0.35, 0.65)


@pytest.mark.xfail(strict=True, reason="false claim: features unrelated to the prompts do not "
                   "decode number — the random-feature probe is at chance, its interval (which "
                   "carries the draw of the features and splits) lies below 0.6 under any seed")
def test_random_features_decode_number(model, claim):
    probe = ic.probe(model, ic.resid_post(0), "number", data="agreement", position=-1,
                     controls=["random_features"])
    # one split of one noise draw scored anywhere from 0.38 to 0.63 here: a single draw could
    # look decodable; pooled over the default 10 draws it is 0.50 ± 0.03
    claim.that(probe.control("random_features")).is_at_least(0.6)
