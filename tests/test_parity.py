"""TransformerLens and NNsight give the same activations: every site, every layer, both zoo
architectures, on a padded batch (prompts of different lengths, right-padded)."""

from __future__ import annotations

import pytest

from interpclaims._data import load_data
from interpclaims._sites import GLOBAL_KINDS, KINDS, LAYER_KINDS, Site
from interpclaims.models import compare_backends, max_difference

from .conftest import ZOO

RTOL = 1e-4


def _batch(model):
    rep = load_data("repeated_tokens").rows[:6]
    agr = load_data("agreement").rows[:6]
    rows = [*rep, *agr]  # lengths differ: the batch is padded
    batch = model.tokenize([r["text"] for r in rows], [r["id"] for r in rows])
    assert int(batch.lengths.min()) < batch.tokens.shape[1], "the parity batch must be padded"
    return batch


@pytest.mark.parametrize("name", ZOO)
def test_every_site_matches_across_backends(zoo_models, name: str) -> None:
    tl, nn = zoo_models[name, "tl"], zoo_models[name, "nnsight"]
    diffs = compare_backends(tl, nn, _batch(tl))
    assert {d.site.kind for d in diffs} == set(KINDS)
    # every kind of every layer, the final norm's output (ln_final) and the logits
    assert len(diffs) == len(LAYER_KINDS) * tl.spec.n_layers + len(GLOBAL_KINDS)
    for d in diffs:
        assert d.max_rel <= RTOL, f"{name} {d.site}: relative difference {d.max_rel:.2e} > {RTOL}"


@pytest.mark.parametrize("name", ZOO)
def test_edits_match_across_backends(zoo_models, name: str) -> None:
    """The same edit at every editable kind moves the logits identically on both backends."""
    import torch

    tl, nn = zoo_models[name, "tl"], zoo_models[name, "nnsight"]
    batch = _batch(tl)
    clean, _ = tl.run(batch.tokens)
    for kind in ("resid_pre", "z", "attn_out", "resid_mid", "mlp_post", "mlp_out", "resid_post"):
        site = Site(kind, tl.spec.n_layers - 1)

        def edit(act, rows):  # not a pure rescaling: the final RMSNorm would undo that
            return act * 0.5 + 0.25 * act.flip(-1)

        la, _ = tl.run(batch.tokens, edits={site: edit})
        lb, _ = nn.run(batch.tokens, edits={site: edit})
        assert (la - clean).abs().max() > 1e-3, f"edit at {site} did not change the logits"
        _, rel = max_difference(la, lb, batch.mask)
        assert rel <= RTOL, f"{name} edit at {site}: relative difference {rel:.2e}"
        assert tl.leaks() == [] and nn.leaks() == []
    torch.testing.assert_close(tl.run(batch.tokens)[0], clean)


@pytest.mark.parametrize("name", ZOO)
def test_tl_matches_the_hugging_face_model(zoo_models, name: str) -> None:
    """No weight processing: TransformerLens logits equal the plain Hugging Face forward."""
    import torch

    tl = zoo_models[name, "tl"]
    nn = zoo_models[name, "nnsight"]
    batch = _batch(tl)
    with torch.no_grad():
        hf_logits = nn.native._model(batch.tokens).logits
    _, rel = max_difference(tl.run(batch.tokens)[0], hf_logits, batch.mask)
    assert rel <= RTOL
