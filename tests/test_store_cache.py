"""The store's cache policy (StoreCache): only a clean model reads or writes the activation store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import interpclaims as ic
from interpclaims.activations import ActivationStore, StoreCache, StoreStats
from interpclaims.models import Model, ModelRegistry

ZOO = "zoo/agreement"


def _session(root: Path, backend: str) -> Model:
    """A model as a fresh run (a new process, a later session) gets it: on the store at ``root``."""
    return ModelRegistry(cache=StoreCache(ActivationStore(root))).get(ZOO, backend)


@contextlib.contextmanager
def _zeroing_hook(model: Model) -> Iterator[None]:
    """A plain torch forward hook on the native model that zeroes layer 0's output (what a test
    that forgets ``handle.remove()`` leaves behind), removed on exit."""
    import torch

    native = model.native
    layer0 = native.blocks[0] if model.backend == "tl" else native._model.model.layers[0]

    def zero(module: Any, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (torch.zeros_like(output[0]), *output[1:])
        return torch.zeros_like(output)

    handle = layer0.register_forward_hook(zero)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_a_leaked_hook_neither_poisons_nor_reads_the_store(tmp_path, backend, zoo_models):
    root = tmp_path / "store"
    truth = ic.measure(zoo_models[(ZOO, backend)], "agreement", metric="logit_diff")  # no store
    tol = 1e-5 * abs(truth.value)  # float32 logits near 7, summed over prompts
    assert truth.value > 5  # the planted agreement mechanism (~7.27)

    model = _session(root, backend)
    with _zeroing_hook(model):
        assert model.leaks(), "Model.leaks() does not see a torch hook on a submodule"
        hooked = ic.measure(model, "agreement", metric="logit_diff")
    # a zero residual stream after layer 0 leaves zero logits (no biases): the hook took effect
    assert abs(hooked.value) <= tol
    assert ActivationStore(root).digests() == []  # nothing of the hooked run was written
    counters = model.cache.counters()
    assert counters["bypassed"] >= 1 and counters["writes"] == counters["hits"] == 0

    later = _session(root, backend)  # a later session on the same store
    clean = ic.measure(later, "agreement", metric="logit_diff")
    assert abs(clean.value - truth.value) <= tol
    assert ActivationStore(root).digests()  # the clean run filled the store
    with _zeroing_hook(later):  # a hooked model is never served the stored clean activations
        again = ic.measure(later, "agreement", metric="logit_diff")
    assert abs(again.value) <= tol
    warm = ic.measure(later, "agreement", metric="logit_diff")
    assert abs(warm.value - truth.value) <= tol
    assert later.cache.counters()["hits"] >= 1


class _FakeModel:
    """What StoreCache.read uses of a Model: keys (with the dtype), spec, leaks() and
    forward()."""

    def __init__(self, leaks: list[str]) -> None:
        self.weights_hash, self.tokenizer_hash, self.backend = "w" * 64, "t" * 64, "tl"
        self.spec = SimpleNamespace(n_layers=64, d_model=4096)  # too large to prefetch
        self.placement_spec = SimpleNamespace(dtype="float32")  # the store key's dtype
        self._leaks = leaks
        self.forwards = 0

    def leaks(self) -> list[str]:
        return list(self._leaks)

    def forward(self, tokens: Any, bases: Any, edits: Any, batch_size: Any) -> Any:
        import torch

        self.forwards += 1
        value = 1.0 + len(self._leaks)  # the hooked model computes something else
        logits = torch.full((*tokens.shape, 5), value)
        return logits, {b: torch.full((*tokens.shape, 3), value) for b in bases}


def test_store_cache_bypasses_the_store_while_the_model_is_not_clean(tmp_path):
    import torch

    from interpclaims._sites import Site

    tokens = torch.tensor([[1, 4, 2], [1, 3, 0]])
    site = [Site("resid_post", 0)]
    cache = StoreCache(ActivationStore(tmp_path))
    hooked = _FakeModel(["blocks.0 (1 forward hook)"])
    logits, acts = cache.read(hooked, tokens, site, None)  # type: ignore[arg-type]
    assert float(logits[0, 0, 0]) == 2.0 and hooked.forwards == 1
    assert ActivationStore(tmp_path).digests() == []  # not written
    assert cache.counters() == {**StoreStats().to_json(), "bypassed": 1}  # nor read

    clean = _FakeModel([])
    logits, acts = cache.read(clean, tokens, site, None)  # type: ignore[arg-type]
    assert float(logits[0, 0, 0]) == 1.0 and len(ActivationStore(tmp_path).digests()) == 2
    logits, acts = cache.read(hooked, tokens, site, None)  # type: ignore[arg-type]
    assert float(logits[0, 0, 0]) == 2.0 and hooked.forwards == 2  # not served the clean entry
    assert np.all(acts[site[0]].numpy() == 2.0)
    assert cache.counters()["bypassed"] == 2 and cache.counters()["hits"] == 0


def test_store_cache_gather_bypasses_the_store_while_the_model_is_not_clean(tmp_path):
    import torch

    from interpclaims._sites import Site

    tokens = torch.tensor([[1, 4, 2], [1, 3, 0]])
    site = Site("resid_post", 0)
    where = np.array([[False, True, True], [True, False, False]])
    cache = StoreCache(ActivationStore(tmp_path))
    hooked = _FakeModel(["blocks.0 (1 forward hook)"])
    rows = cache.gather(hooked, tokens, [site], where, None)  # type: ignore[arg-type]
    assert rows[site].shape == (3, 3) and np.all(rows[site].numpy() == 2.0)
    assert ActivationStore(tmp_path).digests() == [] and cache.counters()["bypassed"] == 1

    clean = _FakeModel([])
    rows = cache.gather(clean, tokens, [site], where, None)  # type: ignore[arg-type]
    assert rows[site].shape == (3, 3) and np.all(rows[site].numpy() == 1.0)
    assert len(ActivationStore(tmp_path).digests()) == 2  # the site and the logits, on a miss
    rows = cache.gather(clean, tokens, [site], where, None)  # type: ignore[arg-type]
    assert clean.forwards == 1 and np.all(rows[site].numpy() == 1.0)  # then from the store
    rows = cache.gather(hooked, tokens, [site], where, None)  # type: ignore[arg-type]
    assert np.all(rows[site].numpy() == 2.0) and cache.counters()["bypassed"] == 2
