"""Models spread over devices by Accelerate (``ic.model(name, device_map=..., dtype=...)``), tested
on the CPU: zoo/agreement with layer 1 and the unembedding offloaded to disk gives the numbers of
the single-device model on both backends (reads, an ablation, a patch, a probe); bfloat16 computes
in bfloat16 and hands analyses CPU float32; bad maps and dtypes are refused, naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._data import load_data
from interpclaims._errors import ModelLoadError
from interpclaims._sites import Site
from interpclaims.models import ModelRegistry, compare_backends, make_placement

NAME = "zoo/agreement"
BACKENDS = ("tl", "nnsight")
# layer 0 and the embedding stay on the CPU; layer 1 and the unembedding are offloaded to disk
# (their weights are meta tensors, loaded from the offload folder for each forward pass)
SPLIT = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
         "model.layers.1": "disk", "model.norm": "cpu", "lm_head": "disk"}
# float32 arithmetic is the same wherever the weights wait: only rounding-level differences
RTOL = 1e-6


@pytest.fixture(scope="module")
def placed():
    """``(backend, placement label) -> Model``: the placed models of this module, loaded once."""
    registry = ModelRegistry()
    yield lambda backend, **kw: registry.get(NAME, backend, make_placement(**kw))
    registry.close()


def _batch(model):
    rows = load_data("agreement").rows[:8] + load_data("repeated_tokens").rows[:4]
    return model.tokenize([r["text"] for r in rows], [r["id"] for r in rows])


def _same_samples(a: ic.Estimate, b: ic.Estimate) -> None:
    """Per-prompt values equal up to float32 rounding of their own scale."""
    assert a.samples is not None and b.samples is not None
    scale = float(np.abs(a.samples).max())
    np.testing.assert_allclose(b.samples, a.samples, rtol=0, atol=RTOL * scale)
    assert (a.n, a.ci_level) == (b.n, b.ci_level)
    assert abs(a.ci_low - b.ci_low) <= RTOL * scale and abs(a.ci_high - b.ci_high) <= RTOL * scale


@pytest.mark.parametrize("backend", BACKENDS)
def test_split_model_is_placed_as_asked(placed, backend: str) -> None:
    m = placed(backend, device_map=SPLIT)
    assert m.placement() == (["cpu", "disk"], ["float32"])
    devices = {str(p.device) for _, p in m._backend.named_parameters()}
    assert devices == {"cpu", "meta"}, "layer 1 and the unembedding are offloaded"
    assert m.leaks() == []  # Accelerate's own hooks are not leaks


@pytest.mark.parametrize("backend", BACKENDS)
def test_split_model_reads_every_site_as_one_device(zoo_models, placed, backend: str) -> None:
    one, split = zoo_models[NAME, backend], placed(backend, device_map=SPLIT)
    for d in compare_backends(one, split, _batch(one)):
        assert d.max_rel <= RTOL, f"{backend} {d.site}: relative difference {d.max_rel:.2e}"
    for (w1, w2) in zip(one.unembedding()[:2], split.unembedding()[:2], strict=True):
        assert bool((w1 == w2).all()), "offloaded unembedding read through the CPU"
    assert bool((one._backend.w_o(1) == split._backend.w_o(1)).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_split_model_ablation_patch_and_probe_equal_one_device(zoo_models, placed,
                                                                backend: str) -> None:
    one, split = zoo_models[NAME, backend], placed(backend, device_map=SPLIT)
    runs = []
    for m in (one, split):
        ablation = ic.ablate(m, "L1H2", data="agreement", how="mean", metric="logit_diff")
        patch = ic.patch(m, "L1.resid_pre", data="agreement", direction="denoising",
                         positions="subject_pos", metric="logit_diff")
        probe = ic.probe(m, ic.resid_post(1), "number", data="agreement", position=-1,
                         word_field="subject")
        runs.append((ablation, patch, probe))
        assert m.leaks() == []
    (a1, p1, r1), (a2, p2, r2) = runs
    _same_samples(a1, a2)
    _same_samples(p1, p2)
    _same_samples(r1.accuracy, r2.accuracy)
    assert r1.direction is not None and r2.direction is not None
    np.testing.assert_allclose(r2.direction, r1.direction, rtol=0, atol=1e-5)


def test_finer_map_runs_on_nnsight_and_is_refused_by_transformer_lens(zoo_models, tmp_path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("INTERPCLAIMS_OFFLOAD_DIR", str(tmp_path))
    finer = {**SPLIT, "model.layers.1": "cpu"}
    del finer["model.layers.1"]
    finer |= {"model.layers.1.self_attn": "cpu", "model.layers.1.input_layernorm": "cpu",
              "model.layers.1.post_attention_layernorm": "cpu", "model.layers.1.mlp": "disk"}
    registry = ModelRegistry()
    try:
        nn = registry.get(NAME, "nnsight", make_placement(finer))
        one = zoo_models[NAME, "nnsight"]
        for d in compare_backends(one, nn, _batch(one), [Site("mlp_out", 1), Site("logits")]):
            assert d.max_rel <= RTOL
        with pytest.raises(ModelLoadError, match=r"splits 'model\.layers\.1'.*"
                           r"backends=\['nnsight'\]"):
            registry.get(NAME, "tl", make_placement(finer))
    finally:
        registry.close()
    assert list(tmp_path.iterdir()) == [], "offload folders are removed, also of a refused load"


@pytest.mark.parametrize("backend", BACKENDS)
def test_auto_on_a_machine_without_gpus_is_the_cpu(zoo_models, placed, backend: str) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("'auto' places on the GPUs here; this test is about the CPU")
    one, auto = zoo_models[NAME, backend], placed(backend, device_map="auto")
    assert auto.placement() == (["cpu"], ["float32"])
    batch = _batch(one)
    assert bool((one.run(batch.tokens)[0] == auto.run(batch.tokens)[0]).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_bfloat16_computes_in_bfloat16_and_reads_in_float32(zoo_models, placed,
                                                            backend: str) -> None:
    import torch

    one, half = zoo_models[NAME, backend], placed(backend, dtype=torch.bfloat16)
    assert half.placement() == (["cpu"], ["bfloat16"])
    batch = _batch(one)
    site = Site("resid_post", 0)

    def edit(act, rows):  # a CPU float32 tensor whatever the model computes in
        assert act.dtype == torch.float32 and act.device.type == "cpu"
        return act * 0.5 + 0.25 * act.flip(-1)

    for edits in ({}, {site: edit}):
        ref, _ = one.run(batch.tokens, edits=edits)
        got, acts = half.run(batch.tokens, read=[site], edits=edits)
        assert got.dtype == torch.float32 and acts[site].dtype == torch.float32
        mask = batch.mask
        err = float((got - ref)[mask].abs().max())
        scale = float(ref[mask].abs().max())
        # bfloat16 keeps 8 significant bits (relative rounding 2**-9 per operation): through two
        # layers the logits move by a few of those, and never by nothing
        assert 0 < err <= 2**-4 * scale, f"{backend}: bfloat16 logits off by {err:.3g}"
    assert half.leaks() == []


@pytest.mark.parametrize(("device_map", "dtype", "message"), [
    ({**SPLIT, "model.layer.1": "disk"}, None,
     r"module 'model\.layer\.1', which the model does not have; did you mean 'model\.layers\.1'"),
    ({**SPLIT, "model.layers.1": "gpu"}, None, r"device_map\['model\.layers\.1'\] = 'gpu' is not"
     r" a device; use 'cpu', 'disk'"),
    ({**SPLIT, "model.layers.1": "meta"}, None, r"'meta' would leave the weights uninitialized"),
    ({k: v for k, v in SPLIT.items() if k != "lm_head"}, None,
     r"gives no device to 1 parameter\(s\), e\.g\. 'lm_head\.weight'"),
    (None, "bf16", r"unknown dtype 'bf16'.*'float32', 'bfloat16', 'float16'"),
    ("balanced_low_0", None, r"device_map='balanced_low_0' is not supported; give 'auto'"),
])
def test_bad_device_map_or_dtype_names_it(device_map, dtype, message: str) -> None:
    registry = ModelRegistry()
    with pytest.raises(ModelLoadError, match=message):
        registry.get(NAME, "nnsight", make_placement(device_map, dtype))


def test_a_gpu_this_machine_lacks_is_named() -> None:
    import torch

    n = torch.cuda.device_count()
    with pytest.raises(ModelLoadError, match=rf"cuda:{n}, but this machine has {n} CUDA"):
        ModelRegistry().get(NAME, "nnsight", make_placement({**SPLIT, "model.layers.1": n}))


def test_claims_run_on_a_split_model_and_the_manifest_lists_its_devices(
        pytester: pytest.Pytester) -> None:
    import json
    import textwrap

    pytester.makepyfile(test_split=textwrap.dedent(f"""
        import interpclaims as ic

        pytestmark = ic.model("zoo/agreement", device_map={SPLIT!r}, dtype="float32")

        def test_agreement(model, claim):
            claim.that(ic.measure(model, data="agreement", metric="logit_diff")).is_at_least(0.5)
        """))
    result = pytester.runpytest("-p", "no:xdist", "--claims-cache=off")
    result.assert_outcomes(passed=2)
    manifest = json.loads((pytester.path / "reports" / "claims.json").read_text())["manifest"]
    (key, info), = manifest["models"].items()
    assert key.startswith("zoo/agreement [device_map={lm_head: disk, ")
    assert info["devices"] == ["cpu", "disk"] and info["dtypes"] == ["float32"]
    assert sorted(info["backends"]) == ["nnsight", "tl"]
    assert manifest["devices"] == ["cpu", "disk"]


def test_a_bad_dtype_in_the_marker_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="""
        import interpclaims as ic

        pytestmark = ic.model("zoo/agreement", dtype="bf16")

        def test_x(model):
            pass
        """)
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ic.model(): unknown dtype 'bf16'*use one of 'float32', "
                                 "'bfloat16', 'float16'*"])
