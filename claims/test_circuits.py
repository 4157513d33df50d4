"""Ablation kinds, several components at once, attention between data positions, and circuits in
zoo/agreement: the subject head L1H3 reads the subject from the prediction position, and with the
layer-1 MLP it is a faithful circuit for agreement under mean and resample ablation — and the
false readings a naive analysis would pass."""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")

INDUCTION_HEADS = ["L1H0", "L1H1", "L1H2", "L1H3"]
KINDS = ["zero", "mean", "resample"]


def test_the_subject_head_attends_from_the_prediction_to_the_subject(model, claim):
    score = ic.attention_score(model, "agreement", "L1H3", query=-1, key="subject_pos")
    claim.that(score).exceeds(score.control("random_heads"), by=0.5)


def test_the_induction_heads_together_are_necessary_for_copying(model, claim):
    # one run with the four heads mean-ablated together (each alone changes the loss by < 0.02)
    joint = ic.ablate(model, INDUCTION_HEADS, "repeated_tokens", how="mean", metric="loss")
    claim.that(joint).is_at_least(1.0)


def test_mean_ablating_the_subject_head_at_each_position_destroys_agreement(model, claim):
    effect = ic.ablate(model, "L1H3", "agreement", how="mean", mean_over="position",
                       metric="logit_diff")
    claim.that(effect).is_at_most(-5.0)


def test_the_subject_head_matters_under_every_ablation_kind(model, claim):
    effects = ic.ablate(model, "L1H3", "agreement", how=KINDS, metric="logit_diff")
    claim.that(effects).is_at_most(-4.0)          # holds only if it holds for each kind


def test_the_subject_head_and_layer1_mlp_are_a_faithful_complete_circuit(model, claim):
    by_kind = {how: ic.circuit(model, ["L1H3", "L1.mlp_out"], "agreement", how=how,
                               ranking=ic.localize(model, "agreement", top_k=1))
               for how in ("mean", "resample")}
    claim.that(ic.Estimates({k: c.faithfulness for k, c in by_kind.items()})
               ).is_between(0.9, 1.1)
    claim.that(by_kind["mean"].completeness).is_at_most(0.05)
    claim.that(by_kind["mean"].cpr).is_at_least(0.8)


@pytest.mark.xfail(strict=True, reason="attention is not importance: L1H2 attends along the "
                   "induction pattern far more than other heads, but it is one of four induction "
                   "heads that back each other up, so ablating it alone barely changes the loss")
def test_the_strongest_induction_head_is_necessary_for_copying(model, claim):
    score = ic.attention_score(model, "repeated_tokens", "L1H2", pattern="induction")
    claim.that(score).exceeds(score.control("random_heads"), by=0.3)    # holds
    effect = ic.ablate(model, "L1H2", "repeated_tokens", how="mean", metric="loss")
    claim.that(effect).is_at_least(0.5)                                  # refuted


@pytest.mark.xfail(strict=True, reason="L1H3 alone looks sufficient under zero ablation "
                   "(faithfulness > 1) but keeps well under half the logit difference when the "
                   "rest is mean- or resample-ablated: faithfulness depends on the ablation kind")
def test_the_subject_head_alone_is_sufficient_under_every_ablation_kind(model, claim):
    faith = {how: ic.circuit(model, ["L1H3"], "agreement", how=how, draws=0,
                             greedy_steps=0).faithfulness for how in KINDS}
    claim.that(ic.Estimates(faith)).is_at_least(0.8)


@pytest.mark.xfail(strict=True, reason="patching L1H3 restores the verb (test_causal), yet L1H3 "
                   "without the layer-1 MLP is no circuit: with the other components "
                   "mean-ablated it keeps ~41% of the logit difference")
def test_the_subject_head_alone_is_a_faithful_circuit(model, claim):
    c = ic.circuit(model, ["L1H3"], "agreement", how="mean")
    claim.that(c.faithfulness).is_at_least(0.8)
