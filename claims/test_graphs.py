"""Attribution-graph claims about agreement in zoo/agreement, with the transcoders shipped beside
it (circuit-tracer graphs, one per prompt, target: the logit difference answer − wrong).

The features named here were chosen on the first 12 singular and the first 12 plural prompts of
the agreement set; the claims are decided on the next ones (choosing and testing on the same
prompts would inflate every rate).
"""

import pytest

import interpclaims as ic

pytestmark = ic.model("zoo/agreement")

ROWS = ic.load_data("agreement").rows
SINGULAR = [r for r in ROWS if r["number"] == "singular"][12:32]
PLURAL = [r for r in ROWS if r["number"] == "plural"][12:32]


def plural(model):
    return ic.attribution_graph(model, PLURAL, target="logit_diff")


def singular(model):
    return ic.attribution_graph(model, SINGULAR, target="logit_diff")


def test_the_graphs_replace_most_of_the_model(model, claim):
    claim.that(plural(model).replacement_score()).is_at_least(0.8)


def test_a_plural_verb_feature_is_among_the_top_3_nodes(model, claim):
    claim.that(plural(model).in_top_k("L1/tc:430", k=3, at="last")).is_at_least(0.7)


def test_the_plural_verb_feature_survives_pruning(model, claim):
    claim.that(plural(model).in_pruned_graph("L1/tc:430", at="last")).is_at_least(0.7)


def test_a_singular_feature_has_a_strong_direct_edge_to_the_verb(model, claim):
    claim.that(singular(model).edge("L1/tc:497", at="last", means="edge")).is_at_least(0.5)


SAME_SIGN = pytest.mark.xfail(strict=True, reason=(
    "false claim: a direct edge is not a causal effect — L1/tc:497's edge to the logit "
    "difference is about +1.4, but removing the feature from the real model raises the logit "
    "difference (its effect is negative): later layers and the final norm react, which the "
    "frozen graph omits"))
AS_LARGE = pytest.mark.xfail(strict=True, reason=(
    "false claim: the plural verb feature has the largest direct edge to the verb (about +2.2) "
    "yet removing it barely moves the logit difference (interval across 0): the model has other "
    "routes to the plural verb"))


@pytest.mark.parametrize(("number", "feature", "least"), [
    pytest.param("singular", "L1/tc:497", 0.0, marks=SAME_SIGN, id="same-sign"),
    pytest.param("plural", "L1/tc:430", 1.0, marks=AS_LARGE, id="as-large"),
])
def test_a_strong_direct_edge_implies_a_like_ablation_effect(model, claim, number, feature, least):
    graphs = singular(model) if number == "singular" else plural(model)
    claim.that(graphs.edge(feature, at="last", means="ablation")).is_at_least(least)


@pytest.mark.xfail(strict=True, reason="false claim: the transcoders leave about 13% of the "
                   "token-to-logit influence to error nodes; the replacement score is near 0.87")
def test_the_graphs_explain_nearly_everything(model, claim):
    claim.that(plural(model).replacement_score()).is_at_least(0.95)
