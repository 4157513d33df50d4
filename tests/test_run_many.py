"""``Model.run_many``: independent runs, each equal to its own :meth:`Model.run`, yielded in
order, no pass of a later run done before an earlier one is yielded (locally), clean runs read
through the cache between edited ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpclaims._sites import Site

ZOO = "zoo/agreement"
READ = [Site("resid_post", 0), Site("z", 1)]


def _batch(model):  # type: ignore[no-untyped-def]
    import interpclaims as ic

    rows = ic.load_data("agreement").rows[:10]
    return model.tokenize([r["text"] for r in rows], [r["id"] for r in rows])


def _shift(value: float):  # type: ignore[no-untyped-def]
    def edit(act, rows):  # type: ignore[no-untyped-def]
        return act + value

    return edit


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_run_many_equals_separate_runs_and_runs_nothing_ahead(backend: str, tmp_path: Path
                                                              ) -> None:
    import torch

    from interpclaims.activations import ActivationStore, StoreCache
    from interpclaims.models import ModelRegistry

    model = ModelRegistry(cache=StoreCache(ActivationStore(tmp_path))).get(ZOO, backend)
    batch = _batch(model)
    site = Site("resid_post", 0)
    requests = [
        (batch.tokens, READ, [{site: _shift(0.5)}]),
        (batch.tokens, READ, []),  # clean: through the store (a miss, then written)
        (batch.tokens[:7], READ, [{site: _shift(-1.0)}, {site: _shift(0.25)}]),  # two layers
    ]
    expected = [model.run(t, read, edits={site: _compose(layers)} if layers else None,
                          batch_size=3) for t, read, layers in requests]
    before = model.forward_passes
    results = model.run_many(requests, batch_size=3)
    assert model.forward_passes == before  # nothing runs until the first result is asked for
    seen = []
    for logits, acts in results:
        seen.append((logits, acts, model.forward_passes - before))
    # 10 prompts in 4 passes, a clean read served by the store (written by the runs above),
    # 7 prompts in 3 passes: each result is yielded once its own passes ran, not later ones
    assert [n for *_, n in seen] == [4, 4, 7]
    for (logits, acts, _), (lg, ac) in zip(seen, expected, strict=True):
        assert torch.equal(logits, lg)
        for s in READ:
            assert torch.equal(acts[s.base], ac[s.base])


def _compose(layers):  # type: ignore[no-untyped-def]
    def both(act, rows):  # type: ignore[no-untyped-def]
        for layer in layers:
            act = next(iter(layer.values()))(act, rows)
        return act

    return both


def test_run_many_reads_the_open_contexts_when_called(zoo_models) -> None:
    """The open intervene contexts are those at the call, not at the first result."""
    import torch

    model = zoo_models[(ZOO, "tl")]
    batch = _batch(model)
    site = Site("resid_post", 0)
    with model.intervene({site: _shift(1.0)}):
        pending = model.run_many([(batch.tokens, [site], [])])
        inside = model.run(batch.tokens, [site])
    _, acts = next(pending)
    assert torch.equal(acts[site], inside[1][site])
    assert not model.leaks()
