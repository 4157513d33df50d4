"""Activation patching between each clean prompt and its corrupted twin: one site, or a sweep.

A single patch is a claim's intervention and must fire (:func:`interventions.run_strict`). Sweeps
do not raise for cells whose patch copies identical values (positions before the corrupted
token); those cells are exactly zero and listed in the matrix's ``noop`` cells. A sweep is ranked
by attribution patching (``method="atp"``, :mod:`._atp`) and patches for real only the cells
read, or patches every cell (``method="exact"``); a cell's estimate is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import DataError
from interpclaims._estimate import Estimate, estimate_from_samples, estimate_ratio
from interpclaims._sites import LAYER_KINDS, Site
from interpclaims.analyses._metrics import Metric, MetricFn, resolve
from interpclaims.analyses._prepare import (
    Positions,
    check_model,
    choice,
    parse_component,
    position_label,
    positions_mask,
    prepare,
)
from interpclaims.analyses._sequential import in_batches, sequential_on
from interpclaims.interventions import patch_edit, run_strict

if TYPE_CHECKING:
    import torch

    from interpclaims.models import Batch, Model

__all__ = ["SWEEP_KINDS", "SWEEP_METHODS", "Direction", "PatchMetric", "SweepMethod", "patch"]

# denoising: clean activation into the corrupt run; noising: corrupt activation into the clean run
Direction = Literal["denoising", "noising"]
PatchMetric = Literal["normalized", "logit_diff"]
# how a sweep finds its cells: attribution patching ranks them and confirms the cells read,
# "exact" patches every cell
SweepMethod = Literal["atp", "exact"]
SWEEP_METHODS: tuple[SweepMethod, ...] = get_args(SweepMethod)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
PATCH_METRICS: tuple[PatchMetric, ...] = get_args(PatchMetric)
# the kinds a layer × position sweep patches whole (heads: patch_heads)
SWEEP_KINDS = tuple(k for k in LAYER_KINDS if k not in ("result", "pattern"))


@dataclass(frozen=True, slots=True)
class _PatchSetup:
    """The clean/corrupt pair of a patching analysis, and its metric on each."""

    ds: Dataset
    clean: Batch
    corrupt: Batch
    metric: Metric  # logit_diff (answer − strongest wrong), or the user's callable
    normalized: bool
    m_clean: torch.Tensor  # the metric per prompt, clean run
    m_corrupt: torch.Tensor  # the same, corrupt run
    logits_clean: torch.Tensor  # [batch, pos, d_vocab], for attribution patching's gradient
    logits_corrupt: torch.Tensor

    def source_and_receiver(self, model: Model, bases: list[Site], direction: Direction
                            ) -> tuple[dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
        """Activations at ``bases`` of the run patched from, and of the run patched into."""
        (_, clean_acts), (_, corrupt_acts) = model.run_many(
            [(self.clean.tokens, bases, []), (self.corrupt.tokens, bases, [])])
        if direction == "denoising":
            return clean_acts, corrupt_acts
        return corrupt_acts, clean_acts

    def receiver(self, direction: Direction) -> Batch:
        return self.corrupt if direction == "denoising" else self.clean

    def source(self, direction: Direction) -> Batch:
        return self.clean if direction == "denoising" else self.corrupt

    def atp_score(self, delta: torch.Tensor, direction: Direction) -> float:
        """The AtP score of a cell from its first-order change of the metric per prompt, in the
        units of :meth:`estimate`'s value (the normalized effect, or the mean change)."""
        if not self.normalized:
            return float(delta.mean())
        gap = float((self.m_clean - self.m_corrupt).mean())
        return float(delta.mean()) / gap + (1.0 if direction == "noising" else 0.0)

    @property
    def name(self) -> str:
        return "normalized" if self.normalized else self.metric.name

    def estimate(self, logits: torch.Tensor, direction: Direction, method: str, label: str
                 ) -> Estimate:
        """The estimate of a patched run's ``logits``: the normalized patching effect as a
        ratio of means, or the change of the metric per prompt."""
        m_patched = self.metric.state(logits, "patched")
        ids = tuple(self.ds.ids)
        if self.normalized:
            return estimate_ratio(m_patched - self.m_corrupt, self.m_clean - self.m_corrupt,
                                  method=method, label=label, unit_ids=ids)
        base = self.m_corrupt if direction == "denoising" else self.m_clean
        return estimate_from_samples((m_patched - base).numpy(), method=method, label=label,
                                     unit_ids=ids)


def _patch_setup(model: Model, data: DataSpec | Dataset, corrupt_field: str, analysis: str,
                 metric: PatchMetric | MetricFn, at: Positions | None) -> _PatchSetup:
    __tracebackhide__ = True
    import torch

    ds, clean = prepare(model, data)
    corrupt_texts = ds.words(corrupt_field, analysis=f"{analysis}(corrupt_field=)")
    try:
        corrupt = model.tokenize(corrupt_texts, ds.ids)
    except DataError as e:
        raise DataError(f"{analysis}: the corrupted prompts ({corrupt_field!r}): {e}") from e
    if not torch.equal(clean.lengths, corrupt.lengths):
        i = int((clean.lengths != corrupt.lengths).nonzero()[0])
        raise DataError(
            f"{analysis}: clean and corrupt prompt {ds.ids[i]!r} have different token lengths "
            f"({int(clean.lengths[i])} vs {int(corrupt.lengths[i])}); patching needs aligned "
            "minimal pairs"
        )
    normalized = isinstance(metric, str) and metric == "normalized"
    m = resolve("logit_diff" if normalized else metric, PATCH_METRICS, analysis, model, ds, clean,
                at=at)
    (clean_logits, _), (corrupt_logits, _) = model.run_many([(clean.tokens, (), []),
                                                             (corrupt.tokens, (), [])])
    return _PatchSetup(ds, clean, corrupt, m, normalized, m.state(clean_logits),
                       m.state(corrupt_logits, "corrupt"), clean_logits, corrupt_logits)


def _patch_start(model: Model, data: DataSpec | Dataset, direction: Direction,
                 metric: PatchMetric | MetricFn, corrupt_field: str, analysis: str,
                 at: Positions | None) -> tuple[Model, _PatchSetup]:
    """Validate the arguments shared by every patching analysis and run the clean/corrupt pair."""
    __tracebackhide__ = True
    model = check_model(model, analysis)
    choice(direction, DIRECTIONS, "direction", analysis)
    setup = _patch_setup(model, data, corrupt_field, analysis, metric, at)
    if setup.normalized:
        gap = float((setup.m_clean - setup.m_corrupt).mean())
        scale = float(torch_max_abs(setup.m_clean, setup.m_corrupt))
        if abs(gap) <= 1e-6 * max(scale, 1e-12):
            raise DataError(
                f"{analysis}: on {setup.ds.name} the mean logit difference is the same clean and "
                f"corrupt ({float(setup.m_clean.mean()):.6g}), so the normalized patching effect "
                "(a ratio over that gap) is undefined; use metric='logit_diff', or corrupted "
                "prompts that change the behaviour"
            )
    return model, setup


def torch_max_abs(*tensors: torch.Tensor) -> float:
    """The largest ``|value|`` of ``tensors``: the scale a tolerance on them is taken from."""
    return max(float(t.abs().max()) for t in tensors)


def patch(
    model: Model,
    site: str | Site,
    data: DataSpec | Dataset,
    direction: Direction = "denoising",
    positions: Positions = "all",
    metric: PatchMetric | MetricFn = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
    at: Positions | None = None,
) -> Estimate:
    """Activation patching between each clean prompt and its corrupted twin (``corrupt_field``).

    ``direction="denoising"``: run the corrupt prompt with the clean activation patched in at
    ``site``/``positions`` — is this site *sufficient* to restore the clean behaviour?
    ``direction="noising"``: run the clean prompt with the corrupt activation patched in — is it
    *necessary*? ``metric="normalized"``: the normalized patching effect as a ratio of means,
    ``(mean m_patched − mean m_corrupt) / (mean m_clean − mean m_corrupt)`` of the logit
    difference ``m`` = answer − strongest wrong (0 = corrupt behaviour, 1 = clean behaviour, in
    both directions), its interval the paired bootstrap of the ratio (prompts resampled jointly;
    unbounded, so INCONCLUSIVE, when the denominator's interval reaches 0); ``metric="logit_diff"``
    or a callable ``metric(logits, rows)``: the change of that metric caused by the patch, per
    prompt. ``at=``: the decision position (default: each prompt's last real token).
    """
    __tracebackhide__ = True
    if not sequential_on() or (isinstance(metric, str) and metric == "normalized"):
        return _patch_on(model, site, data, direction, positions, metric, corrupt_field, at)
    checked = check_model(model, "patch")
    return in_batches(  # the change of a metric per prompt: a mean, decided on growing batches
        checked, load_data(data), analysis="patch", rate=lambda: False,
        run=lambda rows: _patch_on(checked, site, rows, direction, positions, metric,
                                   corrupt_field, at))


def _patch_on(model: Model, site: str | Site, data: DataSpec | Dataset, direction: Direction,
              positions: Positions, metric: PatchMetric | MetricFn, corrupt_field: str,
              at: Positions | None) -> Estimate:
    """:func:`patch` on the prompts of ``data``."""
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch", at)
    s = parse_component(model, site, "patch")
    where = positions_mask(setup.clean, setup.ds, positions, "patch")
    source, receiver = setup.source_and_receiver(model, [s.base], direction)
    logits = run_strict(
        model, setup.receiver(direction).tokens, [(s, patch_edit(s, source[s.base], where))],
        read=[s.base], baseline=receiver, where=where,
        what=f"{direction} patch ({position_label(positions)})",
        why="clean and corrupt activations are identical there, so the patch copies the values "
            "already present (patch a later site or position)",
    )
    return setup.estimate(
        logits, direction,
        method=f"{direction} patch of {s} at {position_label(positions)} on {setup.ds.name}: "
               f"{setup.name}",
        label=f"patch({s}, {direction}, {positions}, {setup.name})",
    )
