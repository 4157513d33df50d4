"""The gradient path shared by the backends: activations at sites and the gradient of a linear
function of the logits with respect to each (one forward and one backward pass).

A backend runs its ordinary forward pass with grad enabled and the edits :func:`capture_edits`
returns: each read site's value is kept as it flows through the model and made a leaf of the
autograd graph when nothing upstream of it requires a gradient (the weights never do), so
the gradient at a site is the *total* derivative through everything downstream of it. Nothing
outlives the call: the leaves are local tensors, no parameter's ``requires_grad`` changes, no
``retain_grad`` is set, and every result is detached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from interpclaims._errors import InterpClaimsError
from interpclaims.backends._protocol import Edit

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site

__all__ = ["ForwardModes", "capture_edits", "gradient_pass"]


def capture_edits(read: Sequence[Site], edits: Mapping[Site, Edit],
                  captured: dict[Site, torch.Tensor]) -> dict[Site, Edit]:
    """``edits`` plus, at each site of ``read``, an edit that applies the site's own edit (if
    any), keeps the value in ``captured`` and passes it on unchanged (a fresh leaf that requires a
    gradient when the value does not already depend on one)."""
    out = dict(edits)
    for site in read:
        prior_edit = edits.get(site)

        def capture(act: torch.Tensor, rows: slice, site: Site = site,
                    prior: Edit | None = prior_edit) -> torch.Tensor:
            if prior is not None:
                act = prior(act, rows)
            if not act.requires_grad:
                act = act.detach().requires_grad_(True)
            captured[site] = act
            return act

        out[site] = capture
    return out


def gradient_pass(run: Callable[[Mapping[Site, Edit]], torch.Tensor], read: Sequence[Site],
                  edits: Mapping[Site, Edit], cotangent: torch.Tensor, backend: str
                  ) -> tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
    """Run ``run(edits)`` (a backend's forward pass returning logits ``[batch, pos, d_vocab]``)
    with grad enabled; return the detached logits, the activations at ``read`` and the gradient
    of ``(logits * cotangent).sum()`` with respect to each (zeros where the logits do not depend
    on a site)."""
    import torch

    captured: dict[Site, torch.Tensor] = {}
    with torch.enable_grad():
        logits = run(capture_edits(read, edits, captured))
        missing = [str(s) for s in read if s not in captured]
        if missing:
            raise InterpClaimsError(
                f"gradient pass on backend {backend!r}: the forward pass never reached "
                f"{', '.join(missing)}; read only sites this model computes")
        leaves = [captured[s] for s in read]
        if not logits.requires_grad:  # no read site is upstream of the logits
            grads: Sequence[torch.Tensor | None] = [None] * len(leaves)
        else:
            grads = torch.autograd.grad(logits, leaves, grad_outputs=cotangent.to(logits.dtype),
                                        allow_unused=True)
    acts = {s: captured[s].detach() for s in read}
    out = {s: (torch.zeros_like(acts[s]) if g is None else g.detach())
           for s, g in zip(read, grads, strict=True)}
    return logits.detach(), acts, out


class ForwardModes:
    """A backend's :meth:`forward` and :meth:`forward_grad` (see :class:`Backend`), both from its
    one ``_forward(tokens, rows, read, edits, grad=)`` (grad disabled, or enabled)."""

    name: str

    def _forward(self, tokens: torch.Tensor, rows: slice, read: Sequence[Site],
                 edits: Mapping[Site, Edit], grad: bool
                 ) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, tokens: torch.Tensor, rows: slice, read: Sequence[Site],
                edits: Mapping[Site, Edit]) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        return self._forward(tokens, rows, read, edits, grad=False)

    def forward_many(self, passes: Sequence[tuple[torch.Tensor, slice, Sequence[Site],
                                                  Mapping[Site, Edit]]]
                     ) -> list[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        return [self.forward(*p) for p in passes]

    def forward_grad(self, tokens: torch.Tensor, rows: slice, read: Sequence[Site],
                     edits: Mapping[Site, Edit], cotangent: torch.Tensor
                     ) -> tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
        def run(all_edits: Mapping[Site, Edit]) -> torch.Tensor:
            return self._forward(tokens, rows, (), all_edits, grad=True)[0]

        return gradient_pass(run, read, edits, cotangent, self.name)
