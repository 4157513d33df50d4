"""Induction circuit of zoo/agreement (Llama): a previous-token head in layer 0 feeds induction
heads in layer 1. Head scores are on fixtures/models/agreement/MODEL_CARD.md."""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")


def test_L1H2_is_an_induction_head(model, claim):
    score = ic.attention_score(model, data="repeated_tokens", head="L1H2", pattern="induction")
    claim.that(score).exceeds(score.control("random_heads"), by=0.3)


def test_L1H2_induction_is_learned_not_architectural(model, claim):
    # the "reset network" control: the same head of the same architecture, re-initialized
    score = ic.attention_score(model, data="repeated_tokens", head="L1H2", pattern="induction",
                               controls=["reset_network"])
    claim.that(score).exceeds(score.control("reset_network"), by=0.5)


def test_L0H1_is_a_previous_token_head(model, claim):
    score = ic.attention_score(model, data="repeated_tokens", head="L0H1",
                               pattern="previous_token")
    claim.that(score).exceeds(score.control("random_heads"), by=0.3)


def test_previous_token_head_is_necessary_for_induction(model, claim):
    # Without L0H1 the layer-1 heads cannot find "the token after the previous occurrence".
    effect = ic.ablate(model, "L0H1", data="repeated_tokens", how="mean", metric="loss")
    claim.that(effect).is_at_least(0.5)


def test_ablating_an_idle_layer0_head_barely_changes_the_loss(model, claim):
    effect = ic.ablate(model, "L0H0", data="repeated_tokens", how="mean", metric="loss")
    claim.that(effect).is_negligible(within=0.25)


# five prompts on which L1H2's lead over the other heads happens to be large
FIVE_PROMPTS = ic.load_data("repeated_tokens").rows[10:15]


@pytest.mark.xfail(strict=True, reason="INCONCLUSIVE by design: on five prompts the point "
                   "estimate clears the margin (0.56 > 0.5), so a point-estimate rule would accept "
                   "the claim, but the interval does not (on all 200 prompts the lead is 0.48)")
def test_L1H2_leads_the_other_heads_by_half_on_five_prompts(model, claim):
    score = ic.attention_score(model, data=FIVE_PROMPTS, head="L1H2", pattern="induction")
    claim.that(score).exceeds(score.control("random_heads"), by=0.5)


@pytest.mark.xfail(strict=True, reason="false claim: L0H1 attends to the previous token, "
                   "not along the induction pattern — the harness must refute it")
def test_L0H1_is_an_induction_head(model, claim):
    score = ic.attention_score(model, data="repeated_tokens", head="L0H1", pattern="induction")
    claim.that(score).exceeds(score.control("random_heads"), by=0.3)
