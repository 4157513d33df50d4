"""The companions of zoo/agreement (SAE, transcoders): shipped as their cards say, loadable by
SAELens's and circuit-tracer's own loaders, above their quality floors, and rebuilt bit for bit."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from interpclaims._data import fixtures_dir
from interpclaims._hashing import file_sha256

AGREEMENT = fixtures_dir() / "models" / "agreement"


def _card(kind: str) -> dict:
    return json.loads((AGREEMENT / kind / "card.json").read_text())


@pytest.mark.parametrize("kind", ["sae", "transcoders"])
def test_companion_files_are_the_carded_ones(kind: str) -> None:
    card = _card(kind)
    assert card["files"], kind
    for name, digest in card["files"].items():
        assert file_sha256(AGREEMENT / kind / name) == digest, name
        assert (AGREEMENT / kind / name).stat().st_size < 1 << 20
    assert (AGREEMENT / kind / "CARD.md").is_file()
    assert card["model_weights_sha256"] == file_sha256(AGREEMENT / "model.safetensors")


def test_companion_quality_floors() -> None:
    """The floors of what ships: FVU < 0.1 on the agreement prompts' real tokens (SAE), and the
    card's CE recovered (zero-ablation baseline) well above zero on the agreement prompts."""
    sae = _card("sae")["quality"]["blocks.0.hook_resid_post"]["agreement"]
    assert sae["fvu"] < 0.1 and sae["ce_recovered"] > 0.9 and sae["tokens"] == 1000
    for layer in _card("transcoders")["quality"].values():
        assert layer["agreement"]["fvu"] < 0.1 and layer["agreement"]["ce_recovered"] > 0.9
    graphs = _card("transcoders")["graph_scores"]  # measured with circuit-tracer, 200 prompts
    assert graphs["replacement_score_mean"] >= 0.8 and graphs["completeness_score_mean"] >= 0.9


def test_sae_loads_in_saelens() -> None:
    sae_lens = pytest.importorskip("sae_lens", reason="needs the 'sae' extra: "
                                   "pip install 'interpclaims[sae]'")
    import torch
    from safetensors.torch import load_file

    sae = sae_lens.SAE.load_from_disk(str(AGREEMENT / "sae"))
    assert sae.cfg.metadata.hook_name == "blocks.0.hook_resid_post"
    assert (sae.cfg.d_in, sae.cfg.d_sae) == (64, 256)
    w = load_file(str(AGREEMENT / "sae" / "sae_weights.safetensors"))
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(0)) * 3
    ours = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
    with torch.no_grad():
        theirs = sae.encode(x)
        torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sae.decode(theirs), ours @ w["W_dec"] + w["b_dec"],
                                   rtol=1e-5, atol=1e-5)


def test_transcoders_load_in_circuit_tracer() -> None:
    pytest.importorskip("circuit_tracer", reason="needs the 'graphs' extra: "
                        "pip install 'interpclaims[graphs]'")
    import torch
    import yaml
    from circuit_tracer.utils.hf_utils import load_transcoders

    folder = AGREEMENT / "transcoders"
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["model_kind"] == "transcoder_set"
    assert (config["feature_input_hook"], config["feature_output_hook"]) == ("mlp.hook_in",
                                                                             "mlp.hook_out")
    config["transcoders"] = [str(folder / p) for p in config["transcoders"]]
    tcs = load_transcoders(config, device=torch.device("cpu"), dtype=torch.float32,
                           lazy_encoder=False, lazy_decoder=False)
    assert len(tcs.transcoders) == 2 and tcs.scan == config["scan"]
    assert tcs.transcoders[1].W_enc.shape == (512, 64)


def test_dictionary_training_is_deterministic() -> None:
    """The companion trainer reproduces its weights bit for bit (a short run; the shipped build
    is checked by the opt-in test below and by ``python -m interpclaims.zoo hash --check``)."""
    import torch

    from interpclaims.zoo.companions import DictRecipe, train_dictionary

    torch.use_deterministic_algorithms(True)
    x = torch.randn(300, 8, generator=torch.Generator().manual_seed(1))
    y = x @ torch.randn(8, 8, generator=torch.Generator().manual_seed(2))
    recipe = DictRecipe(width=16, steps=30, batch_tokens=32)
    a = train_dictionary(x, y, recipe, 0, subtract_b_dec=False)
    b = train_dictionary(x, y, recipe, 0, subtract_b_dec=False)
    c = train_dictionary(x, y, recipe, 1, subtract_b_dec=False)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["W_enc"], c["W_enc"])


@pytest.mark.skipif(os.environ.get("INTERPCLAIMS_SLOW") != "1",
                    reason="rebuilds the companions (80 s to 4 min); set INTERPCLAIMS_SLOW=1")
def test_companion_rebuild_gives_identical_hashes(tmp_path: Path) -> None:
    from interpclaims.zoo.companions import build_companions

    shutil.copytree(fixtures_dir() / "data", tmp_path / "data")
    model = tmp_path / "models" / "agreement"
    model.mkdir(parents=True)
    for f in AGREEMENT.iterdir():
        if f.is_file():
            shutil.copy(f, model / f.name)
    hashes = build_companions(tmp_path)
    for key, digest in hashes.items():
        kind, name = key.split("/")[-2:]
        assert _card(kind)["files"][name] == digest, key
