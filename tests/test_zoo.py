"""The shipped zoo: its card facts hold on the shipped weights, through both backends, and its
files are what the manifest says."""

from __future__ import annotations

import json

import pytest

import interpclaims as ic
from interpclaims._data import fixtures_dir
from interpclaims._hashing import file_sha256, weights_hash

from .conftest import ZOO


def _facts(name: str) -> dict:
    return json.loads((fixtures_dir() / "models" / name.removeprefix("zoo/") / "facts.json")
                      .read_text())


@pytest.mark.parametrize("name", ZOO)
def test_weights_are_the_ones_the_card_describes(name: str) -> None:
    folder = fixtures_dir() / "models" / name.removeprefix("zoo/")
    assert weights_hash(folder) == _facts(name)["weights_sha256"]
    assert (folder / "MODEL_CARD.md").is_file()
    assert (folder / "model.safetensors").stat().st_size < 5 * 2**20


def test_data_manifest_hashes_match() -> None:
    data = fixtures_dir() / "data"
    manifest = json.loads((data / "MANIFEST.json").read_text())
    files = manifest.get("files", manifest)
    assert {"repeated_tokens.jsonl", "agreement.jsonl"} <= set(files)
    for fname, entry in files.items():
        assert file_sha256(data / fname) == entry["sha256"], fname


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
@pytest.mark.parametrize("name", ZOO)
def test_card_head_scores_hold(zoo_models, name: str, backend: str) -> None:
    """Every head's previous-token and induction score, measured by interpclaims, equals the
    card's (measured with the plain Hugging Face model)."""
    model = zoo_models[name, backend]
    facts = _facts(name)
    for head, scores in facts["heads"].items():
        for pattern in ("previous_token", "induction"):
            est = ic.attention_score(model, data="repeated_tokens", head=head, pattern=pattern,
                                     controls=())
            assert est.value == pytest.approx(scores[pattern], abs=2e-3), (head, pattern)
    if name == "zoo/agreement":  # the Llama model carries the induction circuit
        assert facts["induction_heads"] and facts["previous_token_heads"]
        for head in facts["induction_heads"]:
            assert facts["heads"][head]["induction"] >= 0.4


@pytest.mark.parametrize("name", ZOO)
def test_agreement_is_learned(zoo_models, name: str) -> None:
    model = zoo_models[name, "tl"]
    diff = ic.measure(model, data="agreement", metric="logit_diff")
    assert diff.ci_low > 1.0


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_training_is_deterministic(arch: str) -> None:
    """The zoo's training reproduces its weights bit for bit (20 steps here; the full build is
    `python -m interpclaims.zoo build`, checked by `python -m interpclaims.zoo hash --check`)."""
    from interpclaims.zoo import train_model

    a = train_model(arch, seed=0, steps=20).weights_sha256
    b = train_model(arch, seed=0, steps=20).weights_sha256
    c = train_model(arch, seed=1, steps=20).weights_sha256
    assert a == b != c


def test_shipped_hashes_check() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "interpclaims.zoo", "hash", "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
