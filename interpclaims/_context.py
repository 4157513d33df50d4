"""The statistical context of the claim being run: its seed and interval settings.

The plugin enters a context per test (seed chosen by the controller, key derived from the node id
without the backend), so every random draw of an analysis depends only on the seed, the claim and
what is drawn — not on test order, worker or backend. Outside pytest a default context applies.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interpclaims.stats import DEFAULT_CI_LEVEL, DEFAULT_RESAMPLES, derive_rng

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

__all__ = ["ClaimContext", "current", "note_data", "note_value_dependent", "rng", "use"]


@dataclass(frozen=True, slots=True)
class ClaimContext:
    seed: int = 0
    key: str = ""
    n_resamples: int = DEFAULT_RESAMPLES
    ci_level: float = DEFAULT_CI_LEVEL
    allow_inconclusive: bool = False
    # --claims-sequential: per-prompt analyses evaluate prompts in growing batches, and a claim
    # stops as soon as its anytime-valid confidence sequence decides it
    sequential: bool = False
    # name -> sha256 of every dataset an analysis read while this context was current
    data_used: dict[str, str] = field(default_factory=dict)
    # what in this claim does an amount of work that depends on the numbers computed (a greedy
    # search, ...): a plan (--claims-plan), which computes placeholders, can only estimate it
    value_dependent: list[str] = field(default_factory=list)


_CURRENT: contextvars.ContextVar[ClaimContext | None] = contextvars.ContextVar(
    "interpclaims_claim_context", default=None
)


def current() -> ClaimContext:
    """The context of the running claim (a fresh default one outside a claim)."""
    return _CURRENT.get() or ClaimContext()


def note_data(name: str, sha256: str) -> None:
    """Record that the current claim read dataset ``name`` (for the report's manifest)."""
    current().data_used[name] = sha256


def note_value_dependent(what: str) -> None:
    """Record that the current claim runs a number of forward passes that depends on the values
    it computes (``what`` says which step), so that a plan marks its count as an estimate."""
    if what not in current().value_dependent:
        current().value_dependent.append(what)


def rng(*keys: object) -> np.random.Generator:
    """A generator for one draw of the current claim, named by ``keys``."""
    ctx = current()
    return derive_rng(ctx.seed, ctx.key, *keys)


@contextlib.contextmanager
def use(ctx: ClaimContext) -> Iterator[ClaimContext]:
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
