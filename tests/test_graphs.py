"""Attribution graphs (circuit-tracer) on both backends: parity of graphs and saved artifacts,
the replacement model's lifecycle (no leak on the plain model, nnsight still works), the claims'
estimates, and errors.

A small transcoder set is fitted here in a second (random ReLU encoder, least-squares decoder on
zoo/agreement's MLPs), so these tests do not depend on the shipped one; the shipped set is checked
by the claims in claims/test_graphs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import interpclaims as ic
from interpclaims import _context
from interpclaims.models import Model

pytest.importorskip("circuit_tracer", reason="attribution graphs need circuit-tracer: "
                    "pip install 'interpclaims[graphs]'")

ROWS = list(ic.load_data("agreement").rows[:4])


def fit_transcoders(folder: Path, d_transcoder: int = 48) -> Path:
    """A per-layer transcoder set for zoo/agreement in circuit-tracer's format (deterministic)."""
    import torch
    import yaml
    from safetensors.torch import save_file

    from interpclaims.models._resolve import load_hf

    hf = load_hf("zoo/agreement")
    tok = hf.tokenizer
    ins: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    outs: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    handles = [layer.mlp.register_forward_hook(
        lambda mod, i, o, L=L: (ins[L].append(i[0][0, 1:]), outs[L].append(o[0, 1:]), None)[-1])
        for L, layer in enumerate(hf.hf_model.model.layers)]
    with torch.no_grad():
        for row in ic.load_data("agreement").rows[:120]:
            ids = [tok.bos_token_id] + tok(row["text"], add_special_tokens=False)["input_ids"]
            hf.hf_model(torch.tensor([ids]))
    for h in handles:
        h.remove()
    gen = torch.Generator().manual_seed(0)
    names = []
    for L in (0, 1):
        x, y = torch.cat(ins[L]).double(), torch.cat(outs[L]).double()
        w_enc = torch.randn(d_transcoder, x.shape[1], generator=gen, dtype=torch.float64)
        w_enc /= w_enc.norm(dim=1, keepdim=True)
        b_enc = -0.5 * torch.ones(d_transcoder, dtype=torch.float64)
        f = torch.relu(x @ w_enc.T + b_enc)
        design = torch.cat([f, torch.ones(len(f), 1, dtype=torch.float64)], dim=1)
        sol = torch.linalg.lstsq(design, y).solution
        names.append(f"layer_{L}.safetensors")
        save_file({"W_enc": w_enc.float().contiguous(), "b_enc": b_enc.float(),
                   "W_dec": sol[:-1].float().contiguous(), "b_dec": sol[-1].float()},
                  str(folder / names[-1]))
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "model_kind": "transcoder_set", "scan": "interpclaims/test-transcoders",
        "feature_input_hook": "mlp.hook_in", "feature_output_hook": "mlp.hook_out",
        "transcoders": names}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def transcoders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_transcoders(tmp_path_factory.mktemp("transcoders"))


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    loaded = {b: Model("zoo/agreement", b) for b in ("tl", "nnsight")}
    yield loaded
    for m in loaded.values():
        m.close()


@pytest.fixture(scope="module")
def graphs(models: dict[str, Model], transcoders: Path) -> dict[tuple[str, str], ic.AttributionGraphs]:
    with _context.use(_context.ClaimContext(seed=0, key="test_graphs")):
        return {(b, t): ic.attribution_graph(models[b], ROWS, target=t, transcoders=transcoders)
                for b in ("tl", "nnsight") for t in ("logit_diff", "top_logits")}


@pytest.mark.parametrize("target", ["logit_diff", "top_logits"])
def test_graphs_agree_across_backends(graphs, target):
    tl, ns = graphs["tl", target], graphs["nnsight", target]
    assert len(tl.graphs) == len(ns.graphs) == len(ROWS)
    for a, b in zip(tl.graphs, ns.graphs, strict=True):
        assert np.array_equal(a.features, b.features)  # same active and selected feature nodes
        assert np.array_equal(a.tokens, b.tokens) and a.tokens[0] == 0  # starts with bos
        assert a.logit_labels == b.logit_labels and np.array_equal(a.logit_ids, b.logit_ids)
        assert a.adjacency.shape == b.adjacency.shape
        assert np.abs(a.adjacency - b.adjacency).max() <= 1e-5
        assert abs(a.replacement_score - b.replacement_score) <= 1e-6
        assert abs(a.completeness_score - b.completeness_score) <= 1e-6
        assert np.array_equal(a.pruned, b.pruned)
    if target == "logit_diff":
        assert tl.graphs[0].logit_labels == (f"logit({ROWS[0]['answer']})-logit({ROWS[0]['wrong']})",)
        assert tl.graphs[0].logit_ids.tolist() == [-1]
    else:
        assert 1 <= len(tl.graphs[0].logit_labels) <= 10


def test_saved_artifacts_are_structurally_equal_across_backends(graphs, tmp_path):
    tl = graphs["tl", "logit_diff"].save(tmp_path / "tl")
    ns = graphs["nnsight", "logit_diff"].save(tmp_path / "nnsight")
    a, b = np.load(tl / "graphs.npz"), np.load(ns / "graphs.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype, k
        assert np.allclose(a[k], b[k], rtol=0, atol=1e-5), k
    ma, mb = (json.loads((p / "graphs.json").read_text()) for p in (tl, ns))
    assert ma.keys() == mb.keys() and len(ma["graphs"]) == len(mb["graphs"])
    for ga, gb in zip(ma["graphs"], mb["graphs"], strict=True):
        assert ga.keys() == gb.keys()
        assert abs(ga["replacement_score"] - gb["replacement_score"]) <= 1e-6
    # nothing names the backend that built them
    assert "nnsight" not in (ns / "graphs.json").read_text()


def test_saved_graphs_load_back_without_pickle(graphs, tmp_path):
    g = graphs["tl", "top_logits"]
    back = ic.AttributionGraphs.load(g.save(tmp_path / "g"))
    assert back.model == g.model and back.target == g.target and back.ids == g.ids
    for a, b in zip(g.graphs, back.graphs, strict=True):
        for k in ic.AttributionGraph.ARRAYS:
            assert np.array_equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
        assert a.logit_labels == b.logit_labels and a.positions == b.positions
    with _context.use(_context.ClaimContext(seed=0, key="k")):
        assert back.replacement_score().value == g.replacement_score().value
    with pytest.raises(ic.InterpClaimsError, match="no saved attribution graphs"):
        ic.AttributionGraphs.load(tmp_path / "nothing")


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_replacement_model_leaves_the_plain_model_untouched(models, graphs, backend):
    m = models[backend]
    assert m.leaks() == []  # no hook, edit or weight change on the plain model
    assert all(not p.requires_grad for _, p in m._backend.named_parameters())
    rep = next(iter(m._replacements.values()))
    assert rep.native is not m.native  # built from a fresh load, never the fixture's model
    if backend == "tl":  # circuit-tracer's own mutation stays on its copy
        assert not hasattr(m.native.blocks[0].mlp, "old_mlp")
        assert hasattr(rep.native.blocks[0].mlp, "old_mlp")


def test_release_removes_the_replacement_models_hooks(transcoders):
    m = Model("zoo/agreement", "tl")
    rep = m.replacement(transcoders.resolve())
    native = rep.native
    assert any(hp._forward_hooks for hp in native.hook_dict.values())  # its permanent hooks
    m.close()
    assert not any(hp._forward_hooks for hp in native.hook_dict.values())
    assert not hasattr(rep, "native") and m._replacements == {}
    m.close()  # twice is harmless


def test_nnsight_analyses_still_work_after_a_graph(models, graphs):
    from nnsight import CONFIG

    assert CONFIG.APP.PYMOUNT and CONFIG.APP.CROSS_INVOKER  # circuit-tracer's import undone
    with _context.use(_context.ClaimContext(seed=0, key="after")):
        tl = ic.measure(models["tl"], ROWS, metric="logit_diff")
        ns = ic.measure(models["nnsight"], ROWS, metric="logit_diff")
    assert abs(tl.value - ns.value) <= 1e-4 * max(1.0, abs(tl.value))


def test_claim_estimates_name_the_graph_analysis(graphs, models, tmp_path):
    g = graphs["nnsight", "logit_diff"]
    first = g.graphs[0]
    top = int(np.argmax(first.influence[: len(first.features)]))
    layer, pos, feat = (int(v) for v in first.features[top])
    with _context.use(_context.ClaimContext(seed=0, key="estimates")):
        rate = g.in_top_k(f"L{layer}/tc:{feat}", k=1)
        pruned = g.in_pruned_graph((layer, feat))
        score = g.replacement_score()
        edge = g.edge(f"L{layer}/tc:{feat}", at=pos, means="edge")
        ablation = g.edge(f"L{layer}/tc:{feat}", at=pos, means="ablation")
    assert rate.method.startswith("attribution graph top-k influence") and rate.value >= 1 / len(ROWS)
    assert 0 <= rate.ci_low <= rate.value <= rate.ci_high <= 1
    assert pruned.method.startswith("attribution graph pruned-graph membership")
    assert 0 < score.value <= 1 and score.method.startswith("attribution graph replacement score")
    assert edge.method.startswith("attribution graph direct edge")
    assert ablation.method.startswith("attribution graph feature ablation effect")
    # graphs read back from disk give the edge without a model (and no ablation to report)
    with _context.use(_context.ClaimContext(seed=0, key="estimates")):
        back = ic.AttributionGraphs.load(g.save(tmp_path / "g"))
        loaded = back.edge(f"L{layer}/tc:{feat}", at=pos, means="edge")
    assert loaded.value == edge.value and set(loaded.context) == {"edge"}
    assert edge.context == ablation.context  # each reports both
    assert edge.context["edge"]["value"] == edge.value
    assert edge.context["ablation_effect"]["value"] == ablation.value
    want = [float(gr.adjacency[-1, gr.nodes(layer, feat, pos)].sum()) for gr in g.graphs]
    assert np.allclose(edge.samples, want)


def test_ablation_effect_agrees_across_backends(graphs, models):
    g = graphs["tl", "logit_diff"]
    first = g.graphs[0]
    top = int(np.argmax(first.influence[: len(first.features)]))
    layer, pos, feat = (int(v) for v in first.features[top])
    out = {}
    with _context.use(_context.ClaimContext(seed=0, key="ablation")):
        for b in ("tl", "nnsight"):
            out[b] = graphs[b, "logit_diff"].edge((layer, feat), at=pos, means="ablation")
    assert np.allclose(out["tl"].samples, out["nnsight"].samples, atol=1e-4)
    assert np.abs(out["tl"].samples).max() > 0  # the edit moved the logit difference


def test_graph_errors(graphs, models, transcoders):
    g = graphs["tl", "top_logits"]
    with pytest.raises(ic.InterpClaimsError, match=r"'L<layer>/tc:<index>'"):
        g.in_top_k("L1F3", k=5)
    with pytest.raises(ic.InterpClaimsError, match="target='logit_diff'"):
        g.edge("L1/tc:0", at="last")
    with pytest.raises(ic.InterpClaimsError, match="read at one position"):
        graphs["tl", "logit_diff"].edge("L1/tc:0", at=None)
    with pytest.raises(ic.InterpClaimsError, match="subject_pos"):
        g.in_pruned_graph("L1/tc:0", at="subjectpos")
    with pytest.raises(ic.InterpClaimsError, match="did you mean 'logit_diff'"):
        ic.attribution_graph(models["tl"], ROWS, target="logitdiff", transcoders=transcoders)
    with pytest.raises(ic.InterpClaimsError, match="no transcoder set"):
        ic.attribution_graph(models["tl"], ROWS, transcoders=transcoders / "missing")


def test_gpt2_graphs_are_unsupported_on_nnsight(transcoders):
    m = Model("zoo/agreement-gpt2", "nnsight")
    with pytest.raises(ic.Unsupported, match="does not support GPT2LMHeadModel"):
        ic.attribution_graph(m, ROWS, transcoders=transcoders)
    assert m.leaks() == []


def test_an_unsupported_graph_claim_is_skipped_with_its_reason(pytester, transcoders):
    pytester.makepyfile(test_g=f"""
        import interpclaims as ic
        pytestmark = ic.model("zoo/agreement-gpt2", backends=["nnsight"])

        def test_scores(model, claim):
            g = ic.attribution_graph(model, "agreement", transcoders={str(transcoders)!r})
            claim.that(g.replacement_score()).is_at_least(0.5)
    """)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*circuit-tracer's nnsight backend does not support GPT2*"])


def test_top_feature_is_the_largest_summed_influence(graphs):
    g = graphs["tl", "logit_diff"]
    total: dict[tuple[int, int], float] = {}
    for gr in g.graphs:
        last = len(gr.tokens) - 1
        for (layer, pos, feat), infl in zip(gr.features.tolist(), gr.influence.tolist(), strict=False):
            if pos == last:
                total[layer, feat] = total.get((layer, feat), 0.0) + infl
    best = max(total, key=total.__getitem__)
    assert g.top_feature(at="last") == f"L{best[0]}/tc:{best[1]}"
    assert g.top_feature(layer=0).startswith("L0/tc:")
    with pytest.raises(ic.InterpClaimsError, match="no active feature"):
        g.top_feature(layer=5)


def test_graphs_are_memoized_and_read_only(models, graphs, transcoders):
    again = ic.attribution_graph(models["tl"], ROWS, target="logit_diff", transcoders=transcoders)
    first = graphs["tl", "logit_diff"].graphs[0]
    assert again.graphs[0].adjacency is first.adjacency  # the same prompts share their graphs
    with pytest.raises(ValueError):
        first.adjacency[0, 0] = 1.0


def test_what_circuit_tracer_does_to_a_model_is_a_leak_on_the_plain_one():
    """Had the replacement model wrapped the fixture's model, the leak check would say so: an
    attached transcoder (new parameters) and requires_grad flipped are both reported."""
    import torch

    m = Model("zoo/agreement", "tl")
    param = next(p for _, p in m._backend.named_parameters())
    param.requires_grad_(True)
    assert any("requires_grad of" in leak and "turned on" in leak for leak in m.leaks())
    m.clean_up()
    assert m.leaks() == [] and not param.requires_grad
    m.native.blocks[0].add_module("transcoder", torch.nn.Linear(2, 2))
    assert any("blocks.0.transcoder.weight" in leak for leak in m.leaks())
    del m.native.blocks[0].transcoder
    assert m.leaks() == []


def test_shipped_transcoders_give_the_same_graph_on_both_backends(models):
    """With the shipped transcoders some ReLU features sit at a pre-activation of exactly 0 in
    exact arithmetic (5e-8 on one backend, 0 on the other): they are not nodes, so the node sets
    agree."""
    out = {b: ic.attribution_graph(models[b], ROWS[:2], target="logit_diff").graphs
           for b in ("tl", "nnsight")}
    for a, b in zip(out["tl"], out["nnsight"], strict=True):
        assert np.array_equal(a.features, b.features)
        assert np.abs(a.adjacency - b.adjacency).max() <= 1e-5
        assert abs(a.replacement_score - b.replacement_score) <= 1e-6
        assert np.abs(a.activations).min() > 1e-6 * np.abs(a.activations).max()
