"""Running an intervention, and the proof that it fired.

Every intervention runs inside :meth:`Model.intervene` (removed on exit, also when the body
raises) and is checked afterwards: the intervened activation must differ from the baseline one at
the intended site and positions. A claim's intervention is strict (:func:`run_strict` raises
:class:`InterventionDidNotFire` naming the site and the model); a sweep cell is lenient
(:func:`run_lenient` reports which sites did not move: a patch that copies identical values is a
legitimate zero cell of a matrix, not an error).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from interpclaims._errors import InterventionDidNotFire

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.interventions._edits import Edit
    from interpclaims.models import Model

__all__ = ["did_not_fire", "fired", "run_lenient", "run_strict"]


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


def run_lenient(model: Model, tokens: torch.Tensor, targets: Sequence[tuple[Site, Edit]], *,
                read: Sequence[Site], baseline: Mapping[Site, torch.Tensor], where: torch.Tensor,
                name: str) -> tuple[torch.Tensor, list[Site]]:
    """Run ``tokens`` ``[batch, pos]`` with every ``(site, edit)`` of ``targets`` applied.

    Each edit gets its own context at ``site.base`` (two heads of one layer share a base site;
    nested contexts compose). ``read`` lists the base sites read back (they set the batch size,
    so callers pass the same reads as their clean run); ``baseline`` maps each base site to its
    activation in the run without the edits. Returns the edited logits and the target sites whose
    part did not move inside ``where`` (``[batch, pos]`` bool), in the order of ``targets``.
    """
    with contextlib.ExitStack() as stack:
        for site, edit in targets:
            stack.enter_context(model.intervene({site.base: edit}, name=name))
        logits, acts = model.run(tokens, read=read)
    silent = [site for site, _ in targets
              if not fired(site, baseline[site.base], acts[site.base], where)]
    return logits, silent


def run_strict(model: Model, tokens: torch.Tensor, targets: Sequence[tuple[Site, Edit]], *,
               read: Sequence[Site], baseline: Mapping[Site, torch.Tensor], where: torch.Tensor,
               name: str, what: str, why: str) -> torch.Tensor:
    """:func:`run_lenient`, for a claim: the edited logits, or :class:`InterventionDidNotFire`
    (``what`` at the first silent site, because ``why``) when a target did not move."""
    __tracebackhide__ = True
    logits, silent = run_lenient(model, tokens, targets, read=read, baseline=baseline,
                                 where=where, name=name)
    if silent:
        raise did_not_fire(silent[0], model, what, why)
    return logits
