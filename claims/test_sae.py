"""SAE features of zoo/agreement (its shipped SAE at blocks.0.hook_resid_post, 256 features):
feature 80 fires on singular subjects and carries their number to the verb; feature 69 is its
plural counterpart. Features are read and edited through each backend's ordinary site, the edit
keeping the SAE's error term, so both backends give the same numbers."""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")

_ROWS = ic.load_data("agreement").rows
SINGULAR = [dict(r) for r in _ROWS if r["number"] == "singular"]  # 100 prompts
PLURAL = [dict(r) for r in _ROWS if r["number"] == "plural"]  # 100 prompts
SINGULAR_FEATURE = "L0.resid_post/sae:80"
PLURAL_FEATURE = "L0.resid_post/sae:69"


def test_sae_quality_gate(model, claim):
    quality = ic.sae_quality(model, "agreement")
    claim.that(quality.fvu).is_at_most(0.1)
    claim.that(quality.ce_recovered).is_at_least(0.95)  # vs zero-ablation at the real tokens


def test_feature_80_fires_on_singular_subjects(model, claim):
    sel = ic.sae_selectivity(model, SINGULAR_FEATURE, "agreement", "number", "singular", "plural",
                             positions="subject_pos")
    claim.that(sel.difference).is_at_least(0.5)
    claim.that(sel.auroc).is_at_least(0.7)


def test_feature_80_is_necessary_for_singular_agreement(model, claim):
    ablated = ic.sae_ablate(model, SINGULAR_FEATURE, SINGULAR, "logit_diff",
                            positions="subject_pos")
    claim.that(ablated.effect).is_at_most(-1.0)


def test_steering_the_plural_feature_flips_singular_verbs_with_a_small_side_effect(model, claim):
    steered = ic.sae_steer(model, PLURAL_FEATURE, SINGULAR, 8.0, "flip_rate",
                           positions="subject_pos", side_data=PLURAL,
                           side_positions="subject_pos")
    claim.that(steered.effect).is_at_least(0.8)
    claim.that(steered.side_effect).is_at_most(0.25)  # KL at the verb on already-plural prompts


@pytest.mark.xfail(strict=True, reason="false claim: feature 79 is as selective for singular "
                   "subjects as feature 80 (AUROC ~0.79), but ablating it changes the logit "
                   "difference by ~1e-5 — selectivity is not necessity")
def test_selective_feature_79_is_necessary(model, claim):
    ablated = ic.sae_ablate(model, "L0.resid_post/sae:79", SINGULAR, "logit_diff",
                            positions="subject_pos")
    claim.that(ablated.effect).is_at_most(-1.0)


@pytest.mark.xfail(strict=True, reason="false claim: a low FVU (0.07 on random tokens) does not "
                   "make the SAE faithful there: splicing it in moves the next-token distribution "
                   "by KL ~1.0 nats")
def test_low_fvu_implies_the_sae_is_faithful_on_random_tokens(model, claim):
    quality = ic.sae_quality(model, "random_tokens")
    claim.that(quality.fvu).is_at_most(0.1)
    claim.that(quality.kl).is_at_most(0.1)


@pytest.mark.xfail(strict=True, reason="false claim: the steering that barely moves plural "
                   "prompts (KL ~0.13) is not surgical elsewhere: on random tokens it moves the "
                   "next-token distribution by KL ~5 nats")
def test_plural_steering_has_no_side_effect_on_other_text(model, claim):
    steered = ic.sae_steer(model, PLURAL_FEATURE, SINGULAR, 8.0, "flip_rate",
                           positions="subject_pos", side_data="random_tokens")
    claim.that(steered.side_effect).is_at_most(0.25)
