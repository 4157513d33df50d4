"""Attribution patching (AtP; Nanda 2023, Kramár et al. 2024): a whole patching sweep ranked at
the cost of one forward and one backward pass per batch, with exact patching behind every number
a claim can read.

Patching the source run's activation ``a_s`` into the receiver run (denoising: clean into
corrupt; noising: corrupt into clean) changes a prompt's metric ``m`` by about
``(a_s − a_r) · ∂m/∂a`` at the receiver's activation ``a_r``: the first-order Taylor term. One
backward pass of the receiver run gives ``∂m/∂a`` at every site and position at once, so a
layer × position or layer × head sweep costs one forward and one backward pass per batch of the
receiver run (plus the source run, usually a cache hit), instead of one forward pass per cell.

The approximation misses what is not first order (a saturated softmax, a norm that rescales):
it ranks cells, it never decides a claim. :class:`AttributionSweep` holds the scores for ranking
and the heatmap, and returns an exact patching :class:`Estimate` for every cell a claim reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate
from interpclaims._estimate_sets import EstimateMatrix, cell_index

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.models import Model

__all__ = ["AttributionSweep", "attribution_deltas"]


def attribution_deltas(model: Model, tokens: torch.Tensor, sites: Sequence[Sequence[Site]],
                       where_by_col: Sequence[torch.Tensor], source: dict[Site, torch.Tensor],
                       cotangent: torch.Tensor, bases: Sequence[Site]
                       ) -> tuple[list[list[torch.Tensor]], dict[Site, torch.Tensor]]:
    """The first-order change of the metric per prompt ``[batch]`` (float64) of patching each
    cell's site at its column's positions (``[batch, pos]`` bool) from ``source`` into the run
    of ``tokens``, whose metric has the derivative ``cotangent`` with respect to its logits; and
    the receiver run's activations at ``bases`` (read in the same pass)."""
    _, receiver, grads = model.forward_grad(tokens, bases, cotangent)
    out = []
    for row in sites:
        cells = []
        for j, s in enumerate(row):
            diff = s.select(source[s.base]).double() - s.select(receiver[s.base]).double()
            prod = diff * s.select(grads[s.base]).double()
            per_pos = prod.reshape(*prod.shape[:2], -1).sum(-1)  # [batch, pos]
            cells.append((per_pos * where_by_col[j]).sum(1))
        out.append(cells)
    return out, receiver


@dataclass(frozen=True, slots=True)
class AttributionSweep:
    """A patching sweep ranked by attribution patching; every number a claim can read is exact.

    ``scores[i][j]``: the AtP estimate of cell ``(rows[i], cols[j])``, in the units of the
    sweep's metric (plain floats, for ranking and the heatmap — not an :class:`Estimate`, so no
    claim can be decided on them). ``sweep[row, col]`` patches that cell for real (once, then
    kept) and returns the same :class:`Estimate` as ``method="exact"``; :meth:`top` and
    :meth:`argmax` confirm AtP's leading cells the same way; :meth:`exact` patches every cell.
    """

    title: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    scores: tuple[tuple[float, ...], ...]
    confirm: Callable[[int, int], Estimate] = field(repr=False, compare=False)
    # cells whose patch copies values already present (exactly zero effect, never patched)
    noop: tuple[tuple[str, str], ...] = ()
    col_tokens: tuple[str, ...] = ()
    # "atp": scores are AtP estimates; "exact": every cell was patched (a remote model, whose
    # traces return no gradients), and the scores are those exact values
    ranked_by: str = "atp"
    _exact: dict[tuple[int, int], Estimate] = field(default_factory=dict, repr=False,
                                                    compare=False)

    def __getitem__(self, key: tuple[str | int, str | int]) -> Estimate:
        """The exact patching estimate of one cell (patched now, or kept from before)."""
        __tracebackhide__ = True
        i, j = cell_index(self.title, self.rows, self.cols, key)
        cell = self._cell(i, j)
        return dataclasses.replace(
            cell, context={**cell.context, "matrix": self.to_json(),
                           "cell": [self.rows[i], self.cols[j]]})

    def _cell(self, i: int, j: int) -> Estimate:
        if (i, j) not in self._exact:
            self._exact[i, j] = self.confirm(i, j)
        return self._exact[i, j]

    def ranking(self) -> list[tuple[str, str]]:
        """Every cell's labels, largest AtP score first (ties in row-major order)."""
        order = sorted(((i, j) for i in range(len(self.rows)) for j in range(len(self.cols))),
                       key=lambda ij: -self.scores[ij[0]][ij[1]])
        return [(self.rows[i], self.cols[j]) for i, j in order]

    def top(self, k: int = 3) -> list[tuple[tuple[str, str], Estimate]]:
        """AtP's ``k`` highest cells, each patched for real: ``((row, col), estimate)``, largest
        exact value first."""
        __tracebackhide__ = True
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InterpClaimsError(f"{self.title}: top(k={k!r}); k must be a positive int "
                                    f"(at most {len(self.rows) * len(self.cols)}, every cell)")
        picked = self.ranking()[:k]
        found = [(rc, self[rc]) for rc in picked]
        return sorted(found, key=lambda x: -x[1].value)

    def argmax(self, candidates: int = 3) -> tuple[str, str]:
        """Labels of the cell with the largest *exact* value among AtP's ``candidates`` highest
        cells (each patched for real). A cell AtP ranks below them is not considered: raise
        ``candidates``, or use :meth:`exact`, where a claim depends on the whole grid."""
        return self.top(candidates)[0][0]

    def exact(self) -> EstimateMatrix:
        """Every cell patched for real: the matrix ``method="exact"`` returns."""
        cells = tuple(tuple(self._cell(i, j) for j in range(len(self.cols)))
                      for i in range(len(self.rows)))
        return EstimateMatrix(title=self.title, rows=self.rows, cols=self.cols, cells=cells,
                              noop=self.noop, col_tokens=self.col_tokens)

    @property
    def confirmed(self) -> list[tuple[str, str]]:
        """Labels of the cells patched for real so far."""
        return [(self.rows[i], self.cols[j]) for i, j in sorted(self._exact)]

    def to_json(self) -> dict[str, Any]:
        """The heatmap of the scores (no intervals: they are a ranking), and the exact values of
        the cells confirmed so far."""
        how = ("attribution patching" if self.ranked_by == "atp" else
               "exact patching (remote traces return no gradients)")
        return {
            "title": f"{self.title}, ranked by {how}",
            "rows": list(self.rows), "cols": list(self.cols),
            "value": [list(r) for r in self.scores],
            "noop": [list(c) for c in self.noop],
            "method": self.ranked_by,
            "confirmed": [[self.rows[i], self.cols[j], e.value]
                          for (i, j), e in sorted(self._exact.items())],
            **({"col_tokens": list(self.col_tokens)} if self.col_tokens else {}),
        }
