"""Running an intervention, and the proof that it fired.

Every intervention runs as the edits of one :meth:`Model.run_many` call (nothing stays on the
model afterwards, also when the run raises) and is checked afterwards: the intervened
activation must differ from the baseline one at the intended site and positions. A claim's
intervention is strict (:func:`run_strict` raises :class:`InterventionDidNotFire` naming the
site and the model); a sweep cell is lenient (:func:`run_lenient` reports which sites did not
move: a patch that copies identical values is a legitimate zero cell of a matrix, not an
error).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from interpclaims._errors import InterventionDidNotFire

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.interventions._edits import Edit
    from interpclaims.models import Model

__all__ = ["did_not_fire", "fired", "run_lenient", "run_lenient_many", "run_strict",
           "run_strict_many"]


def fired(site: Site, before: torch.Tensor, after: torch.Tensor, where: torch.Tensor) -> bool:
    """Whether ``site``'s part moved anywhere inside ``where`` (``[batch, pos]``)."""
    diff = (site.select(after) - site.select(before)).abs()
    diff = diff.reshape(*diff.shape[:2], -1).amax(-1)  # [batch, pos]
    return bool((diff[where] > 0).any())


def did_not_fire(site: Site, model: Model, what: str, why: str) -> InterventionDidNotFire:
    """The error of an intervention ``what`` (e.g. ``"mean-ablation"``) that moved nothing."""
    return InterventionDidNotFire(
        f"{what} at {site} on {model.name} [{model.backend}] left the activation unchanged on "
        f"every targeted token: {why}"
    )


# one edited run: (tokens [batch, pos], targets (site, edit), where [batch, pos], sites read)
Run = tuple["torch.Tensor", Sequence[tuple["Site", "Edit"]], "torch.Tensor", Sequence["Site"]]


def run_lenient(model: Model, tokens: torch.Tensor, targets: Sequence[tuple[Site, Edit]], *,
                read: Sequence[Site], baseline: Mapping[Site, torch.Tensor], where: torch.Tensor
                ) -> tuple[torch.Tensor, list[Site]]:
    """Run ``tokens`` ``[batch, pos]`` with every ``(site, edit)`` of ``targets`` applied.

    Each edit applies at ``site.base`` in turn (two heads of one layer share a base site; their
    edits compose, as nested :meth:`Model.intervene` contexts would). ``read`` lists the base
    sites read back (they set the batch size, so callers pass the same reads as their clean
    run); ``baseline`` maps each base site to its activation in the run without the edits.
    Returns the edited logits and the target sites whose part did not move inside ``where``
    (``[batch, pos]`` bool), in the order of ``targets``.
    """
    return next(run_lenient_many(model, [(tokens, targets, where, read)], baseline=baseline))


def run_lenient_many(model: Model, runs: Sequence[Run], *, baseline: Mapping[Site, torch.Tensor]
                     ) -> Iterator[tuple[torch.Tensor, list[Site]]]:
    """:func:`run_lenient` of each independent ``(tokens, targets, where, read)``, yielded in
    order: one :meth:`Model.run_many` call (made now), so a remote model sends them together."""
    results = model.run_many([(tokens, read, [{site.base: edit} for site, edit in targets])
                              for tokens, targets, _, read in runs])
    return ((logits, [site for site, _ in targets
                      if not fired(site, baseline[site.base], acts[site.base], where)])
            for (_, targets, where, _), (logits, acts) in zip(runs, results, strict=True))


def run_strict(model: Model, tokens: torch.Tensor, targets: Sequence[tuple[Site, Edit]], *,
               read: Sequence[Site], baseline: Mapping[Site, torch.Tensor], where: torch.Tensor,
               what: str, why: str) -> torch.Tensor:
    """:func:`run_lenient`, for a claim: the edited logits, or :class:`InterventionDidNotFire`
    (``what`` at the first silent site, because ``why``) when a target did not move."""
    __tracebackhide__ = True
    return next(run_strict_many(model, [(tokens, targets, where, read)], baseline=baseline,
                                what=what, why=why))


def run_strict_many(model: Model, runs: Sequence[Run], *, baseline: Mapping[Site, torch.Tensor],
                    what: str | Sequence[str], why: str) -> Iterator[torch.Tensor]:
    """:func:`run_strict` of each independent ``(tokens, targets, where, read)``, yielded in
    order (one :meth:`Model.run_many` call, made now); ``what``: one for all runs, or one per
    run."""
    __tracebackhide__ = True
    whats = [what] * len(runs) if isinstance(what, str) else list(what)
    return _strict(model, run_lenient_many(model, runs, baseline=baseline), whats, why)


def _strict(model: Model, results: Iterator[tuple[torch.Tensor, list[Site]]], whats: list[str],
            why: str) -> Iterator[torch.Tensor]:
    __tracebackhide__ = True
    for (logits, silent), what in zip(results, whats, strict=True):
        if silent:
            raise did_not_fire(silent[0], model, what, why)
        yield logits
