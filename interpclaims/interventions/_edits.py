"""Edit builders: the functions ``edit(act, rows) -> act`` that :meth:`Model.intervene` applies.

An edit receives the whole-tensor activation of a base site for the rows ``rows`` of the batch
being run (``[rows, pos, ...]``) and returns an edited copy; each builder here closes over what
its edit needs (the value to write, the positions, the donor prompts). Building an edit runs the
model only where the edit needs activations of other prompts (a ``reference`` set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

from interpclaims import _context
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims.backends import Assign, Direction, PlainEdit

if TYPE_CHECKING:
    import torch

    from interpclaims._data import Dataset
    from interpclaims._sites import Site
    from interpclaims.models import Batch, Model

__all__ = [
    "ABLATIONS",
    "FIXED_ABLATIONS",
    "MEAN_OVER",
    "Ablation",
    "Edit",
    "FixedAblation",
    "MeanOver",
    "ablation_edit",
    "assign",
    "check_vector",
    "feature_shape",
    "patch_edit",
    "resolve_mean_over",
    "steering_edit",
]

# the same signature as interpclaims.backends.Edit: rows of the batch in, the replacement out
Edit = Callable[["torch.Tensor", slice], "torch.Tensor"]

Ablation = Literal["zero", "mean", "resample"]
# the ablations whose value is fixed (no donor prompt drawn at random)
FixedAblation = Literal["zero", "mean"]
ABLATIONS: tuple[Ablation, ...] = get_args(Ablation)
FIXED_ABLATIONS: tuple[FixedAblation, ...] = get_args(FixedAblation)
# what a mean ablation averages over: each position separately, or all real tokens pooled
MeanOver = Literal["position", "all"]
MEAN_OVER: tuple[MeanOver, ...] = get_args(MeanOver)


def assign(act: torch.Tensor, site: Site, value: torch.Tensor, where: torch.Tensor | None = None
           ) -> torch.Tensor:
    """A copy of the whole-tensor ``act`` with ``site``'s part replaced by ``value``.

    ``where`` (``[batch, pos]`` bool) limits the replacement to some positions; ``value`` is
    broadcast against ``site.select(act)``.
    """
    import torch

    out = act.clone()
    part = site.select(out)
    new = torch.broadcast_to(value, part.shape).to(part.dtype)
    if where is not None:
        w = where.reshape(*where.shape, *([1] * (part.dim() - 2)))
        new = torch.where(w, new, part)
    if site.head is not None:
        out[:, :, site.head] = new
    elif site.neuron is not None:
        out[..., site.neuron] = new
    else:
        out[:] = new
    return out


def check_vector(vector: torch.Tensor, shape: tuple[int, ...], what: str, hint: str = "") -> None:
    """Raise unless ``vector`` is finite, non-zero and of ``shape`` (an ablated direction or a
    steering vector). ``what`` names it in the message (``"steer: vector"``), ``hint`` follows
    the shape (``" (d_model)"``)."""
    __tracebackhide__ = True
    import torch

    v = vector.double()
    if tuple(v.shape) != shape or not bool(torch.isfinite(v).all()) or float(v.norm()) == 0:
        raise InterpClaimsError(f"{what} must be finite, non-zero and of shape {shape}{hint}, "
                                f"got shape {tuple(vector.shape)}")


def feature_shape(model: Model, site: Site) -> tuple[int, ...]:
    """Shape of ``site.select(act)`` per token (what a steering vector must match)."""
    spec = model.spec
    if site.kind == "z":
        return (spec.d_head,) if site.head is not None else (spec.n_heads, spec.d_head)
    if site.kind == "mlp_post":
        return () if site.neuron is not None else (spec.d_mlp,)
    return (spec.d_model,)


# -- ablation ------------------------------------------------------------------------------------
def ablation_edit(model: Model, site: Site, how: Ablation, clean: torch.Tensor, batch: Batch,
                  reference: Dataset | None, direction: torch.Tensor | None, label: str,
                  mean_over: MeanOver = "all") -> Edit:
    """The edit of one ablation, given the clean activations ``clean`` of ``site.base``.

    The mean and the resample donors come from ``reference`` (default: the batch itself);
    ``direction`` (``[d_model]``) ablates only that direction of a residual site. ``label`` names
    the ablation in errors and seeds the resample draw. ``mean_over`` (resolved by
    :func:`interpclaims.interventions.resolve_mean_over`): ``"position"`` writes at each position
    the reference's mean at that position, ``"all"`` the mean over every real token.
    """
    __tracebackhide__ = True
    import torch

    part = site.select(clean)  # [batch, pos, ...]
    if reference is not None:
        ref_batch = model.tokenize(reference.texts, reference.ids)
        _, ref_acts = model.run(ref_batch.tokens, read=[site.base])
        ref_part = site.select(ref_acts[site.base])
        ref_mask, ref_lengths = ref_batch.mask, ref_batch.lengths
    else:
        ref_part, ref_mask, ref_lengths = part, batch.mask, batch.lengths
    if direction is not None:
        return _direction_ablation(site, how, part, ref_part, ref_mask, direction, label,
                                   mean_over)
    if how == "zero":
        return _constant(site, torch.zeros_like(part[0, 0]))
    if how == "mean":
        if mean_over == "position":  # one length everywhere (resolve_mean_over checked it)
            return _constant(site, ref_part.mean(0, keepdim=True))
        return _constant(site, ref_part[ref_mask].mean(0))
    source = _resample_donors(batch, ref_lengths, reference is None, label)
    return _resample(site, part, ref_part, source, label)


def resolve_mean_over(model: Model, batch: Batch, reference: Dataset | None,
                      mean_over: MeanOver | None, label: str) -> MeanOver:
    """``mean_over`` of a mean ablation, checked; ``None`` picks the default: ``"position"``
    when every prompt of the data and of ``reference`` has one token length (bos included),
    ``"all"`` otherwise. ``"position"`` with unequal lengths is an error."""
    __tracebackhide__ = True
    lengths = set(batch.lengths.tolist())
    ref_name = "the data"
    if reference is not None:
        lengths |= set(model.tokenize(reference.texts, reference.ids).lengths.tolist())
        ref_name = f"the data and reference {reference.name!r}"
    if mean_over is None:
        return "position" if len(lengths) == 1 else "all"
    if mean_over not in MEAN_OVER:
        raise InterpClaimsError(f"{label}: mean_over={mean_over!r} is not one of "
                                f"{', '.join(map(repr, MEAN_OVER))}")
    if mean_over == "position" and len(lengths) > 1:
        raise DataError(
            f"{label}: mean_over='position' needs prompts of one token length, but {ref_name} "
            f"have {min(lengths)} to {max(lengths)} tokens (bos included); use mean_over='all' "
            "(the mean over every real token) or data of one template"
        )
    return mean_over


def _constant(site: Site, value: torch.Tensor) -> Edit:
    """Write ``value`` into ``site``'s part at every position (zero and mean ablation)."""

    def edit_const(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return assign(act, site, value)

    return PlainEdit(edit_const, (Assign(value, site.head, site.neuron),))


def _direction_ablation(site: Site, how: Ablation, part: torch.Tensor, ref_part: torch.Tensor,
                        ref_mask: torch.Tensor, direction: torch.Tensor, label: str,
                        mean_over: MeanOver) -> Edit:
    """Set the coefficient along ``direction`` to 0 (zero) or to its mean over ``ref_part``
    (at each position, or over every real token: ``mean_over``)."""
    __tracebackhide__ = True
    import torch

    if site.head is not None or site.neuron is not None or site.kind == "z":
        raise InterpClaimsError(f"{label}: direction= needs a residual-width site such as "
                                f"'L1.resid_post', not {site}")
    check_vector(direction, (part.shape[-1],), f"{label}: direction", " (d_model)")
    u = direction.double()
    u = (u / u.norm()).to(part.dtype)
    ref_coef = ref_part @ u  # [batch, pos]
    fill = torch.zeros((), dtype=part.dtype)
    if how == "mean":
        fill = ref_coef.mean(0) if mean_over == "position" else ref_coef[ref_mask].mean()
    if how == "resample":
        raise InterpClaimsError(f"{label}: direction ablation supports how='zero' or 'mean'")

    def edit_dir(act: torch.Tensor, rows: slice) -> torch.Tensor:
        coef = act @ u
        return act + ((fill - coef)[..., None] * u)

    return PlainEdit(edit_dir, (Direction(u, fill),))


def _resample_donors(batch: Batch, ref_lengths: torch.Tensor, own: bool, label: str
                     ) -> torch.Tensor:
    """For each prompt, the reference prompt it takes its activation from: ``[batch]`` long.

    A donor is at least as long as the prompt, drawn at random (seeded by ``label``); when the
    reference is the data itself (``own``), never the prompt itself. Each prompt draws its donor
    independently, so the per-prompt effects of one draw are independent and an interval over
    prompts carries the draw's variance (see :func:`interpclaims.analyses.ablate`).
    """
    __tracebackhide__ = True
    import torch

    rng = _context.rng("resample", label)
    n = batch.tokens.shape[0]
    source = torch.empty(n, dtype=torch.long)
    for i in range(n):
        ok = (ref_lengths >= batch.lengths[i]).nonzero().flatten().tolist()
        if own:
            ok = [j for j in ok if j != i]
        if not ok:
            raise DataError(
                f"{label}: no reference prompt is as long as prompt {batch.ids[i]!r} (and "
                "different from it); resample ablation needs one"
            )
        source[i] = ok[int(rng.integers(len(ok)))]
    return source


def _resample(site: Site, part: torch.Tensor, ref_part: torch.Tensor, source: torch.Tensor,
              label: str) -> Edit:
    """Each prompt takes the activation of its donor ``source[i]`` at the same positions."""
    __tracebackhide__ = True
    width = part.shape[1]
    if ref_part.shape[1] < width:
        raise DataError(f"{label}: reference prompts are shorter than the data's prompts")
    donor = ref_part[source][:, :width]

    def edit_resample(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return assign(act, site, donor[rows][:, : act.shape[1]])

    return PlainEdit(edit_resample, (Assign(donor, site.head, site.neuron, per_row=True),))


# -- patching and steering -----------------------------------------------------------------------
def patch_edit(site: Site, source: torch.Tensor, where: torch.Tensor) -> Edit:
    """Copy ``site``'s part of ``source`` (the whole-tensor activation of another run,
    ``[batch, pos, ...]``) into the run at the positions ``where`` (``[batch, pos]`` bool)."""

    def edit_patch(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return assign(act, site, site.select(source[rows]), where[rows])

    value = site.select(source)
    return PlainEdit(edit_patch, (Assign(value, site.head, site.neuron, where=where, per_row=True),))


def steering_edit(site: Site, vector: torch.Tensor, strength: float, where: torch.Tensor) -> Edit:
    """Add ``strength × vector`` to ``site``'s part at the positions ``where``."""

    def edit_steer(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return assign(act, site, site.select(act) + strength * vector, where[rows])

    return PlainEdit(edit_steer, (Assign(strength * vector, site.head, site.neuron, add=True,
                                         where=where),))
