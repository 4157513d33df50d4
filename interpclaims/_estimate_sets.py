"""Collections of estimates: a grid (:class:`EstimateMatrix`, e.g. a patching sweep) and one
quantity measured several ways (:class:`Estimates`, e.g. under several ablation kinds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from interpclaims._errors import InterpClaimsError
from interpclaims._estimate import Estimate

__all__ = ["EstimateMatrix", "Estimates", "cell_index"]


def cell_index(title: str, rows: tuple[str, ...], cols: tuple[str, ...],
               key: tuple[str | int, str | int]) -> tuple[int, int]:
    """The ``(row, column)`` indices of ``matrix[key]``: labels, or positions (negative from the
    end); an error naming the valid ones otherwise."""
    __tracebackhide__ = True
    if not isinstance(key, tuple) or len(key) != 2:
        example = f"[{rows[0]!r}, {cols[0]!r}]"
        raise InterpClaimsError(
            f"{title}: a cell is indexed by a row and a column, got [{key!r}]; write "
            f"matrix{example} (rows {', '.join(rows)}; columns {', '.join(cols)})"
        )
    return _index(title, rows, key[0], "row"), _index(title, cols, key[1], "column")


def _index(title: str, labels: tuple[str, ...], name: str | int, what: str) -> int:
    """The index of a label, or of a position (an int, negative from the end)."""
    __tracebackhide__ = True
    if isinstance(name, int) and not isinstance(name, bool):
        if -len(labels) <= name < len(labels):
            return name % len(labels)
        raise InterpClaimsError(
            f"{title}: {what} index {name} is out of range; there are {len(labels)} "
            f"{what}s ({', '.join(labels)})"
        )
    if isinstance(name, str) and name in labels:
        return labels.index(name)
    raise InterpClaimsError(
        f"{title}: no {what} {name!r}; {what}s are {', '.join(labels)} (index by label "
        "or by position)"
    )


@dataclass(frozen=True, slots=True)
class EstimateMatrix:
    """A grid of estimates (e.g. layer × position of a patching sweep, or layer × head).

    ``matrix[row, col]`` is an :class:`Estimate` that carries the whole grid in its ``context``,
    so a claim on one cell brings the heatmap into the report. ``col_tokens``: what each column
    reads in the prompts when the columns are token positions (the report labels them so).
    """

    title: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: tuple[tuple[Estimate, ...], ...]
    # cells whose intervention copied values already present (exactly zero effect)
    noop: tuple[tuple[str, str], ...] = ()
    col_tokens: tuple[str, ...] = ()

    def __getitem__(self, key: tuple[str | int, str | int]) -> Estimate:
        __tracebackhide__ = True
        i, j = cell_index(self.title, self.rows, self.cols, key)
        cell = self.cells[i][j]
        return dataclasses.replace(
            cell, context={**cell.context, "matrix": self.to_json(),
                           "cell": [self.rows[i], self.cols[j]]},
        )

    def values(self) -> list[list[float]]:
        return [[e.value for e in row] for row in self.cells]

    def argmax(self) -> tuple[str, str]:
        """Labels of the cell with the largest value."""
        best = max(((i, j) for i in range(len(self.rows)) for j in range(len(self.cols))),
                   key=lambda ij: self.cells[ij[0]][ij[1]].value)
        return self.rows[best[0]], self.cols[best[1]]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title, "rows": list(self.rows), "cols": list(self.cols),
            "value": [[e.value for e in row] for row in self.cells],
            "ci_low": [[e.ci_low for e in row] for row in self.cells],
            "ci_high": [[e.ci_high for e in row] for row in self.cells],
            "noop": [list(c) for c in self.noop],
            **({"col_tokens": list(self.col_tokens)} if self.col_tokens else {}),
        }


@dataclass(frozen=True, slots=True)
class Estimates:
    """One quantity measured several ways, each an :class:`Estimate` under a label — e.g. an
    ablation effect under ``"zero"``, ``"mean"`` and ``"resample"`` ablation
    (``ic.ablate(..., how=["zero", "mean", "resample"])``), or a circuit's faithfulness under
    each kind, gathered by hand: ``ic.Estimates({"zero": f0, "mean": f1})``.

    A claim on it holds only if it holds for each: SUPPORTED iff every estimate is SUPPORTED,
    REFUTED iff any is REFUTED, INCONCLUSIVE otherwise (see :mod:`interpclaims.verdicts`).
    """

    items: Mapping[str, Estimate]
    title: str = ""

    def __post_init__(self) -> None:
        __tracebackhide__ = True
        if not isinstance(self.items, Mapping) or not self.items:
            raise InterpClaimsError(
                f"Estimates({self.title or 'items'}): expected a non-empty mapping label -> "
                f"Estimate, got {type(self.items).__name__}; write e.g. "
                "ic.Estimates({'zero': effect_zero, 'mean': effect_mean})"
            )
        for key, est in self.items.items():
            if not isinstance(key, str) or not isinstance(est, Estimate):
                raise InterpClaimsError(
                    f"Estimates({self.title or 'items'}): entry {key!r} must map a str label to "
                    f"an Estimate, got {type(key).__name__} -> {type(est).__name__}"
                )
        object.__setattr__(self, "items", MappingProxyType(dict(self.items)))

    def __getitem__(self, label: str) -> Estimate:
        __tracebackhide__ = True
        try:
            return self.items[label]
        except KeyError:
            raise InterpClaimsError(
                f"{self.title or 'Estimates'}: no estimate {label!r}; labels are "
                f"{', '.join(map(repr, self.items))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.items.items())

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "items": {k: v.to_json() for k, v in self.items.items()}}
