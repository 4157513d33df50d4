"""Analyses read only the positions they need, chunk by chunk (``Model.run_at``, ``StoreCache.gather``,
``gather_rows``): the same numbers as selecting from the whole tensor, without holding a large
stored entry in memory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import interpclaims as ic
from interpclaims._sites import Site
from interpclaims.activations import ActivationStore, StoreCache, StoreKey, gather_rows
from interpclaims.models import Model, ModelRegistry

ZOO = "zoo/agreement"
ROOT = Path(__file__).resolve().parent.parent
SITES = ("L1.resid_post", "L0.mlp_post", "L1H2", "L0N17", "L1H2.result")


def _stored(root: Path, backend: str) -> Model:
    return ModelRegistry(cache=StoreCache(ActivationStore(root))).get(ZOO, backend)


def _batch(model: Model, n: int):  # type: ignore[no-untyped-def]
    ds = ic.load_data("agreement")
    return model.tokenize(ds.texts[:n], ds.ids[:n])


def _former(model: Model, tokens, sites, where) -> dict[Site, np.ndarray]:  # type: ignore[no-untyped-def]
    """What the analyses computed before ``run_at``: the whole tensors, then the positions."""
    _, acts = model.run(tokens, read=sites)
    return {s: s.select(acts[s.base])[where].numpy() for s in sites}


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
@pytest.mark.parametrize("cached", [False, True], ids=["forward", "store"])
def test_run_at_gives_the_values_of_selecting_from_the_whole_tensor(
        tmp_path, backend, cached, zoo_models):
    model = _stored(tmp_path, backend) if cached else zoo_models[(ZOO, backend)]
    batch = _batch(model, 40)
    sites = [model.site(s) for s in SITES]
    last = batch.mask & (batch.mask.cumsum(1) == batch.lengths[:, None])
    for where in (last, batch.mask):  # one position per prompt; every real token
        want = _former(model, batch.tokens, sites, where)
        if cached:
            passes = model.forward_passes
        got = model.run_at(batch.tokens, sites, where, batch_size=16)
        if cached:
            assert model.forward_passes == passes  # served by the store's entries
        for s in sites:
            g = got[s].numpy()
            assert g.shape == want[s].shape == (int(where.sum()), *want[s].shape[1:])
            if s.kind == "result":  # W_O applied to the selected rows: another summation order
                scale = float(np.abs(want[s]).max())
                np.testing.assert_allclose(g, want[s], rtol=0, atol=1e-6 * scale)
            else:
                assert np.array_equal(g, want[s]), s


def test_run_at_under_an_intervention_applies_it_and_matches_run(zoo_models):
    model = zoo_models[(ZOO, "tl")]
    batch = _batch(model, 20)
    site = model.site("L1.resid_post")
    where = batch.mask

    def double(act, rows):  # type: ignore[no-untyped-def]
        return act * 2

    clean = model.run_at(batch.tokens, [site], where)[site]
    with model.intervene({model.site("L0.mlp_out"): double}):
        edited = model.run_at(batch.tokens, [site], where, batch_size=7)[site]
        want = _former(model, batch.tokens, [site], where)[site]
    assert np.array_equal(edited.numpy(), want)
    assert not np.allclose(edited.numpy(), clean.numpy())  # the edit took effect


def test_run_at_refuses_sites_without_a_position_axis(zoo_models):
    model = zoo_models[(ZOO, "tl")]
    batch = model.tokenize(["the wolf"], ["a"])
    with pytest.raises(ic.InterpClaimsError, match=r"run_at.*pattern.*Model\.run"):
        model.run_at(batch.tokens, ["L0H1.pattern"], batch.mask)


@pytest.mark.parametrize("chunk_bytes", [1, 100, 1 << 20])
def test_gather_rows_equals_boolean_indexing_of_a_stored_entry(tmp_path, chunk_bytes):
    g = np.random.default_rng(0)
    arr = g.standard_normal((37, 5, 3, 2)).astype(np.float32)
    key = StoreKey(weights="w", backend="tl", dtype="float32", tokenizer="t", tokens="x",
                   site="L0.z")
    stored = ActivationStore(tmp_path).put(key, arr)
    mask = g.random((37, 5)) < 0.3
    got = gather_rows(stored, mask, chunk_bytes)
    assert np.array_equal(got, arr[mask]) and got.flags.writeable
    assert np.array_equal(gather_rows(arr, mask, chunk_bytes), arr[mask])  # a plain array too


def test_gather_rows_rejects_a_mask_of_another_shape():
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        gather_rows(np.zeros((4, 3, 2)), np.ones((4, 2), bool))
    with pytest.raises(ValueError, match="bool"):
        gather_rows(np.zeros((4, 3, 2)), np.ones((4, 3), int))


def _rss_probe():  # type: ignore[no-untyped-def]
    """``benchmarks/rss_probe.py``: the synthetic store entry of the rss_1gb_cache benchmark."""
    spec = importlib.util.spec_from_file_location("rss_probe", ROOT / "benchmarks" / "rss_probe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _status(field: str) -> float:
    return int(Path("/proc/self/status").read_text().split(f"{field}:")[1].split()[0]) * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_probe_from_a_large_store_entry_does_not_hold_it_in_memory(tmp_path):
    rss = _rss_probe()
    written = rss.write(str(tmp_path), 128)  # 2,048 prompts x 64 positions x 256 floats
    model = rss._model(str(tmp_path))
    rows = rss._rows(written["prompts"])
    ic.probe(model, rss.SITE, "number", data="agreement", controls=["label_shuffle"], seeds=1)
    ds = ic.load_data(rows)
    model.tokenize(ds.texts, ds.ids)  # memoized: the probe's own tokenization is not measured
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark := the RSS now
    except OSError:
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = _status("VmRSS")
    passes = model.forward_passes
    res = ic.probe(model, rss.SITE, "number", data=rows, position=-1,
                   controls=["label_shuffle"], seeds=1)
    added = _status("VmHWM") - before
    assert model.forward_passes == passes  # read from the stored entry, not recomputed
    assert res.accuracy.ci_low > 0.8  # it read the planted signal at the last position
    # materializing the entry (a mask on the whole memory map) adds its 128 MiB; the chunked
    # read adds one 8 MiB chunk and the probe's [2048, 256] features
    assert added < written["bytes"] / 3, f"the probe added {added / 2**20:.0f} MiB of RSS"


def test_gather_rows_of_an_array_owned_by_a_tensor() -> None:
    """An array made from a tensor (a plan's computed entry) is gathered as any array (its
    owner, the tensor, is not a numpy array to walk through)."""
    import torch

    from interpclaims.activations import gather_rows

    arr = torch.arange(24, dtype=torch.float32).reshape(4, 3, 2).numpy()
    mask = np.zeros((4, 3), dtype=bool)
    mask[1, 2] = mask[3, 0] = True
    np.testing.assert_array_equal(gather_rows(arr, mask), arr[mask])
