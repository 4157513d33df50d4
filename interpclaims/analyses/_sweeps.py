"""Patching sweeps: every layer × position (:func:`patch_sweep`) or layer × head
(:func:`patch_heads`) cell patched for real (``method="exact"``), or ranked by attribution
patching (``method="atp"``, :mod:`._atp`) with the cells a claim reads patched for real.

A cell read from an AtP sweep is confirmed by :func:`sweep_cell`, an analysis call of its own
(answered by the result cache on a rerun), so that the sweep itself can be cached: it keeps the
arguments of the call that made it, not a closure over its tensors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate
from interpclaims._estimate_sets import EstimateMatrix
from interpclaims._sites import Site
from interpclaims.analyses._atp import AttributionSweep, attribution_deltas
from interpclaims.analyses._metrics import MetricFn
from interpclaims.analyses._patching import (
    SWEEP_KINDS,
    SWEEP_METHODS,
    Direction,
    PatchMetric,
    SweepMethod,
    _patch_start,
    _PatchSetup,
)
from interpclaims.analyses._prepare import Positions, choice, positions_mask
from interpclaims.analyses._result_cache import cached
from interpclaims.interventions import fired, patch_edit, run_lenient_many

if TYPE_CHECKING:
    import torch

    from interpclaims.models import Model

__all__ = ["patch_heads", "patch_sweep", "sweep_cell"]


def _position_tokens(model: Model, setup: _PatchSetup) -> tuple[str, ...]:
    """What each position of a one-template dataset reads, for the report's heatmap: the first
    prompt's clean token, ``clean/corrupt`` where its corrupted twin differs, and ``…`` after it
    where other prompts read another token there."""
    tok = model.tokenizer
    clean, corrupt = setup.clean.tokens, setup.corrupt.tokens
    out = []
    for p in range(int(setup.clean.lengths[0])):
        words = [tok.decode([int(t[0, p])]).strip() or "␣" for t in (clean, corrupt)]
        label = words[0] if words[0] == words[1] else "/".join(words)
        varies = bool((clean[:, p] != clean[0, p]).any() or (corrupt[:, p] != corrupt[0, p]).any())
        out.append(label + "…" * varies)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Grid:
    """A sweep's cells: each row's sites, each column's positions, and the labels."""

    sites: list[list[Site]]
    where_by_col: list[torch.Tensor]  # [batch, pos] bool per column
    title: str
    row_labels: list[str]
    col_labels: list[str]
    col_tokens: tuple[str, ...] = ()

    @property
    def bases(self) -> list[Site]:
        return sorted({s.base for row in self.sites for s in row}, key=lambda s: s.order)


def _cell_run(setup: _PatchSetup, grid: _Grid, i: int, j: int, source: dict[Site, torch.Tensor],
              direction: Direction) -> tuple[Any, ...]:
    """The run that patches cell ``(i, j)`` (see :func:`run_lenient_many`)."""
    s, where = grid.sites[i][j], grid.where_by_col[j]
    return (setup.receiver(direction).tokens, [(s, patch_edit(s, source[s.base], where))], where,
            [s.base])


def _cell_estimate(setup: _PatchSetup, grid: _Grid, i: int, j: int, logits: torch.Tensor,
                   direction: Direction) -> Estimate:
    return setup.estimate(
        logits, direction, method=f"{direction} patch, {setup.name} on {setup.ds.name}",
        label=f"{grid.title}[{grid.row_labels[i]}, {grid.col_labels[j]}]",
    )


def _sweep(model: Model, setup: _PatchSetup, grid: _Grid, direction: Direction,
           method: SweepMethod, confirm: _CellConfirm | None = None
           ) -> EstimateMatrix | AttributionSweep:
    """Every cell patched (``"exact"``: a matrix of estimates, the cells whose patch changed
    nothing listed as ``noop``), or ranked by attribution patching (``"atp"``). The patched
    runs of all cells are one :meth:`Model.run_many` call (a remote model sends them together)."""
    if method == "atp":
        assert confirm is not None
        return _attribution_sweep(model, setup, grid, direction, confirm)
    source, receiver = setup.source_and_receiver(model, grid.bases, direction)
    coords = [(i, j) for i, row in enumerate(grid.sites) for j in range(len(row))]
    runs = run_lenient_many(model, [_cell_run(setup, grid, i, j, source, direction)
                                    for i, j in coords], baseline=receiver)
    cells: list[list[Estimate]] = [[] for _ in grid.sites]
    noop: list[tuple[str, str]] = []
    for (i, j), (logits, silent) in zip(coords, runs, strict=True):
        if silent:
            noop.append((grid.row_labels[i], grid.col_labels[j]))
        cells[i].append(_cell_estimate(setup, grid, i, j, logits, direction))
    return EstimateMatrix(title=grid.title, rows=tuple(grid.row_labels),
                          cols=tuple(grid.col_labels), cells=tuple(map(tuple, cells)),
                          noop=tuple(noop), col_tokens=grid.col_tokens)


def _attribution_sweep(model: Model, setup: _PatchSetup, grid: _Grid, direction: Direction,
                       confirm: _CellConfirm) -> AttributionSweep:
    """AtP scores of every cell from one forward and one backward pass per batch of the
    receiver run; exact patching of a cell when it is read."""
    __tracebackhide__ = True
    if model.remote != "off":  # remote traces return no gradients: ranked by exact patching
        return _ranked_exactly(model, setup, grid, direction, confirm)
    receiver_logits = setup.logits_corrupt if direction == "denoising" else setup.logits_clean
    cotangent = setup.metric.logit_gradient(receiver_logits)
    if cotangent is None:
        raise InterpClaimsError(
            f"{grid.title}: method='atp' needs the gradient of the metric {setup.name!r}, and it "
            "has none (a callable returning numpy or a detached tensor); return a torch tensor "
            "computed from the logits it is given, or pass method='exact'")
    bases = grid.bases
    source = model.run(setup.source(direction).tokens, read=bases)[1]
    deltas, receiver = attribution_deltas(model, setup.receiver(direction).tokens, grid.sites,
                                          grid.where_by_col, source, cotangent, bases)
    noop = [(grid.row_labels[i], grid.col_labels[j])
            for i, row in enumerate(grid.sites) for j, s in enumerate(row)
            if not fired(s, receiver[s.base], source[s.base], grid.where_by_col[j])]

    return AttributionSweep(
        title=grid.title, rows=tuple(grid.row_labels), cols=tuple(grid.col_labels),
        scores=tuple(tuple(setup.atp_score(d, direction) for d in row) for row in deltas),
        confirm=confirm, noop=tuple(noop), col_tokens=grid.col_tokens)


def _ranked_exactly(model: Model, setup: _PatchSetup, grid: _Grid, direction: Direction,
                    confirm: _CellConfirm) -> AttributionSweep:
    """An :class:`AttributionSweep` whose scores are the exact cells' values (every cell
    patched, all kept as confirmed): what ``method="atp"`` gives on a remote model, whose traces
    return no gradients."""
    exact = _sweep(model, setup, grid, direction, "exact")
    assert isinstance(exact, EstimateMatrix)
    return AttributionSweep(
        title=grid.title, rows=exact.rows, cols=exact.cols,
        scores=tuple(tuple(c.value for c in row) for row in exact.cells),
        confirm=confirm, noop=exact.noop, col_tokens=exact.col_tokens, ranked_by="exact",
        _exact={(i, j): c for i, row in enumerate(exact.cells) for j, c in enumerate(row)})


@dataclass(frozen=True, slots=True)
class _CellConfirm:
    """Patches one cell of an AtP sweep for real: :func:`sweep_cell` with the sweep's call."""

    model: Model
    grid: str  # "positions" | "heads"
    arguments: dict[str, Any]
    # the draws of the claim the sweep was made in: (seed, key, n_resamples, ci_level), so a
    # cell read later draws its interval as if patched with the sweep
    draws: tuple[int, str, int, float]

    def __call__(self, i: int, j: int) -> Estimate:
        seed, key, n_resamples, ci_level = self.draws
        ctx = dataclasses.replace(_context.current(), seed=seed, key=key,
                                  n_resamples=n_resamples, ci_level=ci_level)
        with _context.use(ctx):
            return sweep_cell(self.model, self.grid, self.arguments, i, j)


def _confirm(model: Model, grid: str, arguments: dict[str, Any]) -> _CellConfirm:
    ctx = _context.current()
    return _CellConfirm(model, grid, arguments, (ctx.seed, ctx.key, ctx.n_resamples,
                                                 ctx.ci_level))


@cached
def sweep_cell(model: Model, grid: str, arguments: dict[str, Any], i: int, j: int) -> Estimate:
    """Cell ``(i, j)`` of the sweep ``grid`` (``"positions"`` or ``"heads"``) called with
    ``arguments``, patched for real: the estimate ``method="exact"`` gives for it."""
    model, setup, g, direction = _GRIDS[grid](model, **arguments)
    source, receiver = setup.source_and_receiver(model, g.bases, direction)
    logits, _ = next(run_lenient_many(model, [_cell_run(setup, g, i, j, source, direction)],
                                      baseline=receiver))
    return _cell_estimate(setup, g, i, j, logits, direction)


def _position_grid(model: Model, data: DataSpec | Dataset, kind: str, direction: Direction,
                   metric: PatchMetric | MetricFn, corrupt_field: str, at: Positions | None
                   ) -> tuple[Model, _PatchSetup, _Grid, Direction]:
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch_sweep",
                                 at)
    lengths = setup.clean.lengths
    if int(lengths.min()) != int(lengths.max()):
        raise DataError(
            "patch_sweep: prompts have different token lengths "
            f"({int(lengths.min())}..{int(lengths.max())}); a position sweep needs one template "
            "length — filter the dataset, or patch a named position field with patch()"
        )
    n_pos = int(lengths[0])
    layers = range(model.spec.n_layers)
    sites = [[model.site(Site(kind, ly)) for _ in range(n_pos)] for ly in layers]
    where = [positions_mask(setup.clean, setup.ds, p, "patch_sweep") for p in range(n_pos)]
    grid = _Grid(sites, where, f"patch_sweep({kind}, {direction}, {setup.name})",
                 [f"L{ly}" for ly in layers], [f"pos{p}" for p in range(n_pos)],
                 _position_tokens(model, setup))
    return model, setup, grid, direction


def _head_grid(model: Model, data: DataSpec | Dataset, direction: Direction,
               positions: Positions, metric: PatchMetric | MetricFn, corrupt_field: str,
               at: Positions | None) -> tuple[Model, _PatchSetup, _Grid, Direction]:
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch_heads",
                                 at)
    where = positions_mask(setup.clean, setup.ds, positions, "patch_heads")
    s = model.spec
    sites = [[Site("z", ly, head=h) for h in range(s.n_heads)] for ly in range(s.n_layers)]
    grid = _Grid(sites, [where] * s.n_heads, f"patch_heads({direction}, {positions}, {setup.name})",
                 [f"L{ly}" for ly in range(s.n_layers)], [f"H{h}" for h in range(s.n_heads)])
    return model, setup, grid, direction


_GRIDS: dict[str, Callable[..., tuple[Model, _PatchSetup, _Grid, Direction]]] = {
    "positions": _position_grid, "heads": _head_grid}


def patch_sweep(
    model: Model,
    data: DataSpec | Dataset,
    kind: str = "resid_pre",
    direction: Direction = "denoising",
    metric: PatchMetric | MetricFn = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
    at: Positions | None = None,
    method: SweepMethod = "atp",
) -> AttributionSweep | EstimateMatrix:
    """Patch ``kind`` at every layer × every position (rows ``L0``…, columns ``pos0``…). All
    prompts must have the same token length (a template). ``metric`` and ``at=`` as for
    :func:`patch`.

    ``method="atp"`` (default): an :class:`AttributionSweep` — every cell ranked by attribution
    patching (one forward and one backward pass per batch), and each cell a claim reads
    (``sweep[row, col]``, ``top``, ``argmax``) patched for real, so its estimate equals
    ``method="exact"``'s (on a remote model, whose traces return no gradients, every cell is
    patched and ranks the cells). ``method="exact"``: an :class:`EstimateMatrix`, one forward
    pass per cell."""
    __tracebackhide__ = True
    choice(kind, SWEEP_KINDS, "site kind", "patch_sweep", "kind")
    choice(method, SWEEP_METHODS, "sweep method", "patch_sweep", "method")
    return _grid_sweep(model, "positions", method, {
        "data": data, "kind": kind, "direction": direction, "metric": metric,
        "corrupt_field": corrupt_field, "at": at})


def patch_heads(
    model: Model,
    data: DataSpec | Dataset,
    direction: Direction = "denoising",
    positions: Positions = "all",
    metric: PatchMetric | MetricFn = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
    at: Positions | None = None,
    method: SweepMethod = "atp",
) -> AttributionSweep | EstimateMatrix:
    """Patch every head's output (``z``): a layer × head grid (``metric`` and ``at=`` as for
    :func:`patch`; ``method`` as for :func:`patch_sweep`)."""
    __tracebackhide__ = True
    choice(method, SWEEP_METHODS, "sweep method", "patch_heads", "method")
    return _grid_sweep(model, "heads", method, {
        "data": data, "direction": direction, "positions": positions, "metric": metric,
        "corrupt_field": corrupt_field, "at": at})


def _grid_sweep(model: Model, grid: str, method: SweepMethod, arguments: dict[str, Any]
                ) -> AttributionSweep | EstimateMatrix:
    """The sweep of ``grid`` (``"positions"`` or ``"heads"``) called with ``arguments``; the
    cells a claim reads are confirmed by :func:`sweep_cell` with the same arguments."""
    __tracebackhide__ = True
    model, setup, g, direction = _GRIDS[grid](model, **arguments)
    return _sweep(model, setup, g, direction, method, _confirm(model, grid, arguments))
