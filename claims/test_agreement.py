"""Subject–verb number agreement in zoo/agreement: the verb agrees with the subject across a
distractor noun, and head L1H3 carries the subject to the verb position."""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")


def test_model_prefers_the_agreeing_verb(model, claim):
    diff = ic.measure(model, data="agreement", metric="logit_diff")
    claim.that(diff).is_at_least(2.0)


def test_subject_head_L1H3_is_necessary_for_agreement(model, claim):
    effect = ic.ablate(model, "L1H3", data="agreement", how="mean", metric="logit_diff")
    claim.that(effect).is_at_most(-1.0)


def test_an_induction_head_is_irrelevant_to_agreement(model, claim):
    effect = ic.ablate(model, "L1H2", data="agreement", how="mean", metric="logit_diff")
    claim.that(effect).is_negligible(within=0.5)


@pytest.mark.xfail(strict=True, reason="false claim: the induction head L1H2 does not carry "
                   "subject number — ablating it leaves the logit difference almost unchanged")
def test_induction_head_L1H2_drives_agreement(model, claim):
    effect = ic.ablate(model, "L1H2", data="agreement", how="mean", metric="logit_diff")
    claim.that(effect).is_at_most(-1.0)
