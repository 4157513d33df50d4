"""``--claims-sequential``: a per-prompt analysis evaluated on growing batches of its prompts.

Sound only where each prompt's value depends on that prompt alone (given anything fixed before
the first batch), and the estimate is the mean of those values: :func:`~.measure`,
:func:`~.ablate` (one kind, one seed; a mean ablation takes its mean over the whole dataset, or
over ``reference=``, fixed before the first batch) and :func:`~.patch` with a per-prompt metric
(``logit_diff`` or a callable; the normalized effect is a ratio of means). Every other analysis,
and these with other arguments, runs on all prompts as without the flag. Until a claim extends
it, such an estimate holds the first batch only (its ``n`` and ``method`` say so): code that
reads its ``samples`` directly reads those prompts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset
from interpclaims._estimate import Estimate, PromptStream, estimate_from_samples
from interpclaims.stats import look_sizes

if TYPE_CHECKING:
    from interpclaims.models import Model

__all__ = ["in_batches", "sequential_on"]


def sequential_on() -> bool:
    """Whether the running claim evaluates per-prompt analyses in batches."""
    return _context.current().sequential


def _rows(ds: Dataset, rows: list[int]) -> Dataset:
    """The dataset restricted to ``rows``: its own hash (the activation store keys on it), the
    same name (the estimate's method names the dataset)."""
    digest = hashlib.sha256(f"{ds.sha256}:{','.join(map(str, rows))}".encode()).hexdigest()
    return Dataset(name=ds.name, rows=tuple(ds.rows[i] for i in rows), sha256=digest)


def in_batches(model: Model, ds: Dataset, run: Callable[[Dataset], Estimate], *, analysis: str,
               rate: Callable[[], bool]) -> Estimate:
    """``run(ds)``, or with ``--claims-sequential`` ``run`` on the first batch of a seeded
    random order of the prompts, the rest left to the claim (:attr:`Estimate.stream`).

    ``run(rows)`` must return the per-prompt estimate of those rows (``samples`` in their order);
    ``rate()``, asked after the first batch, whether the values are 0/1 (a Wilson interval).
    """
    if not sequential_on() or len(ds.rows) <= look_sizes(len(ds.rows))[0]:
        return run(ds)
    # one order per claim and number of prompts: two datasets of one size read in one test (a
    # dataset and its corrupted twin) have their first batches on the same rows
    order = _context.rng("sequential order", len(ds.rows)).permutation(len(ds.rows))
    last: list[Estimate] = []

    def evaluate(rows: list[int]) -> tuple[np.ndarray, int]:
        before = model.forward_passes
        est = run(_rows(ds, rows))
        _context.note_data(ds.name, ds.sha256)  # the manifest names the whole dataset
        assert est.samples is not None and est.seeds == 1, "in_batches: not a per-prompt mean"
        last.append(est)
        return est.samples, model.forward_passes - before

    stream = PromptStream(ids=tuple(ds.ids), order=order, method="", label="", rate=False,
                          evaluate=evaluate)
    first = look_sizes(len(ds.rows))[0]
    values = stream.extend_to(first)
    # the analysis's method without the interval it appended ("...; BCa bootstrap ...")
    stream.label, stream.method = last[0].label, last[0].method.rsplit("; ", 1)[0]
    stream.rate = rate()
    out = estimate_from_samples(
        values, label=stream.label, unit_ids=tuple(ds.ids[int(i)] for i in order[:first]),
        rate=stream.rate, method=f"{stream.method}; sequential: the first {first} of {len(ds.rows)} "
                          "prompts (in a seeded random order) until a claim extends it",
    )
    return dataclasses.replace(out, stream=stream)
