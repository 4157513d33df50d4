"""Sites: parsing TransformerLens hook names and shorthand, checks against a model, ordering."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from interpclaims._errors import InterpClaimsError, SiteError
from interpclaims._sites import (
    KINDS,
    Site,
    attn_out,
    head,
    logits,
    mlp_out,
    mlp_post,
    parse_site,
    pattern,
    resid_mid,
    resid_post,
    resid_pre,
)

# -- parsing ---------------------------------------------------------------------------------------

TL_NAMES = [
    ("blocks.1.hook_resid_post", Site("resid_post", 1)),
    ("blocks.0.hook_resid_pre", Site("resid_pre", 0)),
    ("blocks.3.hook_resid_mid", Site("resid_mid", 3)),
    ("blocks.0.hook_attn_out", Site("attn_out", 0)),
    ("blocks.2.hook_mlp_out", Site("mlp_out", 2)),
    ("blocks.1.mlp.hook_post", Site("mlp_post", 1)),
    ("blocks.0.attn.hook_z", Site("z", 0)),
    ("blocks.0.attn.hook_result", Site("result", 0)),
    ("blocks.0.attn.hook_pattern", Site("pattern", 0)),
    ("blocks.12.attn.hook_pattern", Site("pattern", 12)),
    ("logits", Site("logits")),
]


@pytest.mark.parametrize(("name", "expected"), TL_NAMES)
def test_parse_transformerlens_hook_names(name, expected):
    site = parse_site(name)
    assert site == expected
    assert site.head is None and site.neuron is None


@pytest.mark.parametrize(("name", "expected"), TL_NAMES)
def test_tl_name_round_trips(name, expected):
    assert expected.tl_name == name
    assert parse_site(expected.tl_name) == expected


SHORTHAND = [
    ("L1H2", Site("z", 1, head=2)),
    ("L1H2.pattern", Site("pattern", 1, head=2)),
    ("L1H2.result", Site("result", 1, head=2)),
    ("L1H2.z", Site("z", 1, head=2)),
    ("L1.mlp_out", Site("mlp_out", 1)),
    ("L1.mlp", Site("mlp_out", 1)),
    ("L1.attn", Site("attn_out", 1)),
    ("L1.post", Site("mlp_post", 1)),
    ("L0.resid_pre", Site("resid_pre", 0)),
    ("L0N17", Site("mlp_post", 0, neuron=17)),
    ("L1", Site("resid_post", 1)),  # default_kind z is per-head: a whole layer is resid_post
    ("L10H11", Site("z", 10, head=11)),
    ("  L1.mlp_out  ", Site("mlp_out", 1)),
    ("logits", Site("logits")),
]


@pytest.mark.parametrize(("text", "expected"), SHORTHAND)
def test_parse_shorthand(text, expected):
    assert parse_site(text) == expected


def test_default_kind_applies_to_bare_layer_and_head():
    assert parse_site("L1", default_kind="mlp_out") == Site("mlp_out", 1)
    assert parse_site("L1H2", default_kind="pattern") == Site("pattern", 1, head=2)
    # a head on a non-per-head default kind falls back to z
    assert parse_site("L1H2", default_kind="resid_post") == Site("z", 1, head=2)


def test_parse_passes_a_site_through():
    s = Site("z", 0, head=1)
    assert parse_site(s) is s


@pytest.mark.parametrize(
    ("site", "text"),
    [
        (Site("z", 1, head=2), "L1H2.z"),
        (Site("pattern", 0, head=3), "L0H3.pattern"),
        (Site("mlp_post", 0, neuron=17), "L0N17"),
        (Site("mlp_out", 1), "L1.mlp_out"),
        (Site("resid_post", 4), "L4.resid_post"),
        (Site("logits"), "logits"),
    ],
)
def test_str_is_parseable_shorthand(site, text):
    assert str(site) == text
    assert parse_site(str(site)) == site


@pytest.mark.parametrize(
    "site",
    [
        Site("z", 1, head=2),
        Site("mlp_post", 0, neuron=17),
        Site("resid_mid", 3),
        Site("logits"),
        Site("pattern", 2),
    ],
)
def test_json_round_trip(site):
    data = site.to_json()
    assert set(data) == {"kind", "layer", "head", "neuron"}
    back = Site.from_json(data)
    assert back == site
    assert back.to_json() == data


def test_from_json_tolerates_missing_optional_keys():
    assert Site.from_json({"kind": "resid_post", "layer": 2}) == Site("resid_post", 2)


def test_constructors_build_the_documented_sites():
    assert resid_pre(0) == Site("resid_pre", 0)
    assert resid_mid(1) == Site("resid_mid", 1)
    assert resid_post(2) == Site("resid_post", 2)
    assert attn_out(0) == Site("attn_out", 0)
    assert mlp_out(1) == Site("mlp_out", 1)
    assert mlp_post(1) == Site("mlp_post", 1)
    assert mlp_post(1, 5) == Site("mlp_post", 1, neuron=5)
    assert head(1, 2) == Site("z", 1, head=2)
    assert head(1, 2, "result") == Site("result", 1, head=2)
    assert pattern(0) == Site("pattern", 0)
    assert pattern(0, 3) == Site("pattern", 0, head=3)
    assert logits() == Site("logits")


def test_base_drops_head_and_neuron():
    assert Site("z", 1, head=2).base == Site("z", 1)
    assert Site("mlp_post", 0, neuron=9).base == Site("mlp_post", 0)
    assert Site("z", 1, head=2).tl_name == "blocks.1.attn.hook_z"


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(SiteError) as info:
        Site("hook_q", 0)
    msg = str(info.value)
    assert "'hook_q'" in msg
    for kind in KINDS:
        assert kind in msg


def test_site_error_is_both_interpclaims_error_and_value_error():
    with pytest.raises(InterpClaimsError):
        Site("nope", 0)
    with pytest.raises(ValueError):
        Site("nope", 0)


@pytest.mark.parametrize(
    "text",
    ["L1H2.bogus", "blocks.0.attn.hook_q", "blocks.x.hook_resid_post", "resid_post", "", "L", "H2",
     "L1.resid_post2"],
)
def test_unknown_names_are_rejected(text):
    with pytest.raises(SiteError):
        parse_site(text)


def test_unknown_name_without_sizes_has_no_hint_but_shows_examples():
    with pytest.raises(SiteError) as info:
        parse_site("blocks.1.hook_resid_pots")
    msg = str(info.value)
    assert "'blocks.1.hook_resid_pots'" in msg
    assert "Did you mean" not in msg
    assert "blocks.1.hook_resid_post" in msg  # the general example
    assert "L1H2" in msg


@pytest.mark.parametrize(
    ("typo", "nearest"),
    [
        ("blocks.1.hook_resid_pots", "blocks.1.hook_resid_post"),
        ("blocks.0.attn.hook_zz", "blocks.0.attn.hook_z"),
        ("blocks.1.mlp.hook_pots", "blocks.1.mlp.hook_post"),
        ("L1.mlp_outt", "L1.mlp_out"),
        ("logit", "logits"),
    ],
)
def test_unknown_name_suggests_nearest_valid_names(typo, nearest):
    with pytest.raises(SiteError) as info:
        parse_site(typo, n_layers=2, n_heads=4)
    msg = str(info.value)
    assert "Did you mean:" in msg
    hint = msg.split("Did you mean:", 1)[1].split("?", 1)[0]
    suggestions = [s.strip() for s in hint.split(",")]
    assert suggestions[0] == nearest
    assert 1 <= len(suggestions) <= 4
    # every suggestion is itself a valid name for this model size
    for s in suggestions:
        parse_site(s).check(n_layers=2, n_heads=4, d_mlp=16)


def test_suggestions_respect_model_size():
    with pytest.raises(SiteError) as info:
        parse_site("blocks.7.hook_resid_pots", n_layers=2, n_heads=4)
    hint = str(info.value).split("Did you mean:", 1)[1].split("?", 1)[0]
    assert "blocks.7" not in hint


def test_non_string_spec_is_rejected_with_type_name():
    with pytest.raises(SiteError, match="int"):
        parse_site(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["resid_pre", "attn_out", "resid_mid", "mlp_post", "mlp_out",
                                  "resid_post"])
def test_head_on_non_per_head_kind_is_rejected(kind):
    with pytest.raises(SiteError, match="per-head"):
        Site(kind, 0, head=1)


def test_head_on_non_per_head_kind_is_rejected_in_shorthand():
    with pytest.raises(SiteError, match="per-head"):
        parse_site("L1H2.attn_out")


@pytest.mark.parametrize("kind", ["z", "resid_post", "mlp_out", "pattern"])
def test_neuron_only_on_mlp_post(kind):
    with pytest.raises(SiteError, match="mlp_post"):
        Site(kind, 0, neuron=3)


@pytest.mark.parametrize(
    "kwargs",
    [{"layer": None}, {"layer": -1}, {"layer": 1.0}, {"layer": True}, {"layer": "1"}],
)
def test_bad_layer_rejected(kwargs):
    with pytest.raises(SiteError, match="layer"):
        Site("resid_post", **kwargs)


@pytest.mark.parametrize("value", [-1, 1.5, "2"])
def test_bad_head_and_neuron_rejected(value):
    with pytest.raises(SiteError, match="head"):
        Site("z", 0, head=value)
    with pytest.raises(SiteError, match="neuron"):
        Site("mlp_post", 0, neuron=value)


def test_bool_head_or_neuron_rejected_like_bool_layer():
    with pytest.raises(SiteError):
        Site("z", 0, head=True)
    with pytest.raises(SiteError):
        Site("mlp_post", 0, neuron=False)


@pytest.mark.parametrize("kwargs", [{"layer": 0}, {"head": 0}, {"neuron": 0}])
def test_logits_takes_nothing(kwargs):
    with pytest.raises(SiteError, match="logits"):
        Site("logits", **kwargs)


# -- checks against a model -----------------------------------------------------------------------


def test_check_accepts_sites_in_range_and_returns_self():
    s = Site("z", 1, head=3)
    assert s.check(n_layers=2, n_heads=4, d_mlp=8) is s
    assert Site("mlp_post", 1, neuron=7).check(2, 4, 8) == Site("mlp_post", 1, neuron=7)
    assert Site("logits").check(2, 4, 8) == Site("logits")


def test_check_layer_out_of_range_names_model_and_range():
    with pytest.raises(SiteError) as info:
        Site("resid_post", 2).check(n_layers=2, n_heads=4, d_mlp=8, model="zoo/agreement")
    msg = str(info.value)
    assert "zoo/agreement" in msg
    assert "2 layers" in msg
    assert "0..1" in msg
    assert "L0.resid_post" in msg and "L1.resid_post" in msg


def test_check_head_out_of_range_names_model_and_range():
    with pytest.raises(SiteError) as info:
        Site("pattern", 0, head=4).check(n_layers=2, n_heads=4, d_mlp=8, model="zoo/agreement")
    msg = str(info.value)
    assert "zoo/agreement" in msg
    assert "head 4" in msg
    assert "4 heads" in msg
    assert "H0..H3" in msg


def test_check_neuron_out_of_range_names_model_and_range():
    with pytest.raises(SiteError) as info:
        Site("mlp_post", 1, neuron=8).check(n_layers=2, n_heads=4, d_mlp=8, model="zoo/agreement")
    msg = str(info.value)
    assert "zoo/agreement" in msg
    assert "neuron 8" in msg
    assert "8 neurons" in msg
    assert "0..7" in msg


@pytest.mark.parametrize(
    "site", [Site("z", 1, head=4), Site("resid_pre", 5), Site("mlp_post", 0, neuron=100)]
)
def test_check_boundaries(site):
    with pytest.raises(SiteError):
        site.check(n_layers=2, n_heads=4, d_mlp=100)


# -- ordering --------------------------------------------------------------------------------------


def test_order_is_forward_execution_order():
    forward = [
        Site("resid_pre", 0),
        Site("z", 0),
        Site("pattern", 0),
        Site("attn_out", 0),
        Site("resid_mid", 0),
        Site("mlp_post", 0),
        Site("mlp_out", 0),
        Site("resid_post", 0),
        Site("resid_pre", 1),
        Site("z", 1, head=3),
        Site("resid_post", 1),
        Site("resid_pre", 10),
        Site("logits"),
    ]
    shuffled = [forward[i] for i in np.random.default_rng(0).permutation(len(forward))]
    assert shuffled != forward
    assert sorted(shuffled, key=lambda s: s.order) == forward
    for a, b in itertools.pairwise(forward):
        assert a.order < b.order, (a, b)


def test_order_ignores_head_and_neuron_and_puts_result_with_z():
    assert Site("z", 1, head=0).order == Site("z", 1, head=3).order == Site("z", 1).order
    assert Site("result", 1).order == Site("z", 1).order
    assert Site("mlp_post", 1, neuron=5).order == Site("mlp_post", 1).order
    # layer dominates kind: the last site of layer 0 comes before the first of layer 1
    assert Site("resid_post", 0).order < Site("resid_pre", 1).order
    # logits come after any layer
    assert Site("resid_post", 10_000).order < Site("logits").order


def test_sites_are_hashable_and_equal_by_value():
    same = {Site("z", 0, head=1), parse_site("L0H1"), parse_site("L0H1.z")}
    assert same == {Site("z", 0, head=1)}


# -- select ----------------------------------------------------------------------------------------

B, P, H, DH, DM, DMLP = 2, 3, 4, 5, 6, 7


def test_select_head_of_z():
    act = np.arange(B * P * H * DH).reshape(B, P, H, DH)
    out = Site("z", 0, head=2).select(act)
    assert out.shape == (B, P, DH)
    np.testing.assert_array_equal(out, act[:, :, 2, :])


def test_select_head_of_result():
    act = np.random.default_rng(0).normal(size=(B, P, H, DM))
    out = Site("result", 0, head=1).select(act)
    assert out.shape == (B, P, DM)
    np.testing.assert_array_equal(out, act[:, :, 1, :])


def test_select_head_of_pattern_uses_head_axis_1():
    act = np.random.default_rng(1).normal(size=(B, H, P, P))
    out = Site("pattern", 0, head=3).select(act)
    assert out.shape == (B, P, P)
    np.testing.assert_array_equal(out, act[:, 3])


def test_select_neuron_of_mlp_post():
    act = np.random.default_rng(2).normal(size=(B, P, DMLP))
    out = Site("mlp_post", 0, neuron=6).select(act)
    assert out.shape == (B, P)
    np.testing.assert_array_equal(out, act[:, :, 6])


@pytest.mark.parametrize("site", [Site("resid_post", 0), Site("z", 0), Site("logits")])
def test_select_whole_tensor_is_identity(site):
    act = np.zeros((B, P, DM))
    assert site.select(act) is act
