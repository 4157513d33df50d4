"""Causal evidence: ablation, pairwise ablation, activation patching, steering, localization.

Every intervention runs inside :meth:`Model.intervene` (removed on exit, also when the body
raises) and proves it fired: the intervened activation must differ from the clean one at the
intended site and positions, or :class:`InterventionDidNotFire` names the site. Sweeps do not
raise for cells whose patch copies identical values (positions before the corrupted token); those
cells are exactly zero and listed in the matrix's ``noop`` cells.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec, load_data
from interpclaims._errors import DataError, InterpClaimsError, InterventionDidNotFire
from interpclaims._estimate import (
    Estimate,
    EstimateMatrix,
    estimate_from_samples,
    estimate_from_seeds,
)
from interpclaims._sites import Site
from interpclaims.analyses._common import _check_model, _choice, _prepare
from interpclaims.analyses._metrics import EFFECT_METRICS, Targets, effect, state

if TYPE_CHECKING:
    import torch

    from interpclaims.models import Batch, Model

__all__ = [
    "Localization",
    "PairwiseAblation",
    "SteeringResult",
    "ablate",
    "ablate_pair",
    "localize",
    "mean_difference",
    "patch",
    "patch_heads",
    "patch_sweep",
    "steer",
]

ABLATIONS = ("zero", "mean", "resample")
DIRECTIONS = ("denoising", "noising")
PATCH_METRICS = ("normalized", "logit_diff")
_NOT_ABLATABLE = ("pattern", "result", "logits")


# -- shared pieces -------------------------------------------------------------------------------
def _component(model: Model, component: str | Site, analysis: str) -> Site:
    __tracebackhide__ = True
    site = model.site(component, default_kind="z")
    if site.kind in _NOT_ABLATABLE:
        raise InterpClaimsError(
            f"{analysis}(): cannot intervene on {site}; use a head by its output ('L1H2' = z), a "
            "neuron ('L0N17') or a layer site ('L1.mlp_out', 'L0.attn_out', 'L1.resid_post')"
        )
    return site


def _assign(act: torch.Tensor, site: Site, value: torch.Tensor, where: torch.Tensor | None = None
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


def _feature_shape(model: Model, site: Site) -> tuple[int, ...]:
    """Shape of ``site.select(act)`` per token (what a steering vector must match)."""
    spec = model.spec
    if site.kind == "z":
        return (spec.d_head,) if site.head is not None else (spec.n_heads, spec.d_head)
    if site.kind == "mlp_post":
        return () if site.neuron is not None else (spec.d_mlp,)
    return (spec.d_model,)


def _fired(site: Site, before: torch.Tensor, after: torch.Tensor, where: torch.Tensor) -> bool:
    """Whether ``site``'s part moved anywhere inside ``where`` (``[batch, pos]``)."""
    diff = (site.select(after) - site.select(before)).abs()
    diff = diff.reshape(*diff.shape[:2], -1).amax(-1)  # [batch, pos]
    return bool((diff[where] > 0).any())


def _not_fired(site: Site, model: Model, what: str, why: str) -> InterventionDidNotFire:
    return InterventionDidNotFire(
        f"{what} at {site} on {model.name} [{model.backend}] left the activation unchanged on "
        f"every targeted token: {why}"
    )


def _positions(batch: Batch, ds: Dataset, positions: Any, analysis: str) -> torch.Tensor:
    """``[batch, pos]`` bool mask of the targeted positions (always inside the real tokens).

    ``"all"``; an int (absolute index, bos = 0; negative counts from each prompt's last token);
    or the name of a dataset field holding one index per prompt (e.g. ``"subject_pos"``).
    """
    import torch

    mask = batch.mask
    if positions == "all":
        return mask
    n, width = batch.tokens.shape
    if isinstance(positions, str):
        idx = torch.tensor([int(v) for v in ds.field(positions, analysis=f"{analysis}(positions=)")])
    elif isinstance(positions, int) and not isinstance(positions, bool):
        idx = torch.full((n,), positions)
        idx = torch.where(idx < 0, batch.lengths + idx, idx)
    else:
        raise InterpClaimsError(
            f"{analysis}(positions=): expected 'all', an int or a dataset field name, got "
            f"{positions!r}"
        )
    bad = (idx < 0) | (idx >= batch.lengths)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise DataError(
            f"{analysis}(positions={positions!r}): position {int(idx[i])} is outside prompt "
            f"{batch.ids[i]!r} ({int(batch.lengths[i])} tokens incl. bos)"
        )
    out = torch.zeros((n, width), dtype=torch.bool)
    out[torch.arange(n), idx] = True
    return out


def _pos_label(positions: Any) -> str:
    return "all positions" if positions == "all" else f"position {positions}"


# -- ablation ------------------------------------------------------------------------------------
def _ablation_value(model: Model, site: Site, how: str, clean: torch.Tensor, batch: Batch,
                    reference: Dataset | None, direction: torch.Tensor | None, label: str
                    ) -> Any:
    """The edit function of one ablation, given the clean activations ``clean`` of ``site.base``.

    Returns ``edit(act, rows) -> act`` for :meth:`Model.intervene`.
    """
    import torch

    mask = batch.mask
    part = site.select(clean)  # [batch, pos, ...]
    if reference is not None:
        ref_batch = model.tokenize(reference.texts, reference.ids)
        _, ref_acts = model.run(ref_batch.tokens, read=[site.base])
        ref_part, ref_mask, ref_lengths = site.select(ref_acts[site.base]), ref_batch.mask, \
            ref_batch.lengths
    else:
        ref_part, ref_mask, ref_lengths = part, mask, batch.lengths

    if direction is not None:
        if site.head is not None or site.neuron is not None or site.kind == "z":
            raise InterpClaimsError(f"{label}: direction= needs a residual-width site such as "
                                    f"'L1.resid_post', not {site}")
        u = direction.double()
        if u.shape != (part.shape[-1],) or not bool(torch.isfinite(u).all()) or float(u.norm()) == 0:
            raise InterpClaimsError(
                f"{label}: direction must be a finite non-zero vector of size {part.shape[-1]} "
                f"(d_model), got shape {tuple(direction.shape)}"
            )
        u = (u / u.norm()).to(part.dtype)
        ref_coef = (ref_part @ u)[ref_mask]
        fill = ref_coef.mean() if how == "mean" else torch.zeros((), dtype=part.dtype)
        if how == "resample":
            raise InterpClaimsError(f"{label}: direction ablation supports how='zero' or 'mean'")

        def edit_dir(act: torch.Tensor, rows: slice) -> torch.Tensor:
            coef = act @ u
            return act + ((fill - coef)[..., None] * u)

        return edit_dir

    if how == "zero":
        value = torch.zeros_like(part[0, 0])

        def edit_const(act: torch.Tensor, rows: slice) -> torch.Tensor:
            return _assign(act, site, value)

        return edit_const
    if how == "mean":
        value = ref_part[ref_mask].mean(0)

        def edit_mean(act: torch.Tensor, rows: slice) -> torch.Tensor:
            return _assign(act, site, value)

        return edit_mean
    # resample: each prompt takes the activation of another prompt of the reference set at the
    # same positions (a prompt at least as long, drawn at random per claim)
    rng = _context.rng("resample", label)
    n = part.shape[0]
    source = torch.empty(n, dtype=torch.long)
    for i in range(n):
        ok = (ref_lengths >= batch.lengths[i]).nonzero().flatten().tolist()
        if reference is None:
            ok = [j for j in ok if j != i]
        if not ok:
            raise DataError(
                f"{label}: no reference prompt is as long as prompt {batch.ids[i]!r} (and "
                "different from it); resample ablation needs one"
            )
        source[i] = ok[int(rng.integers(len(ok)))]
    width = part.shape[1]
    donor = ref_part[source][:, :width] if ref_part.shape[1] >= width else None
    if donor is None:
        raise DataError(f"{label}: reference prompts are shorter than the data's prompts")

    def edit_resample(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return _assign(act, site, donor[rows][:, : act.shape[1]])

    return edit_resample


def _run_ablation(model: Model, site: Site, ds: Dataset, batch: Batch, how: str,
                  reference: DataSpec | Dataset | None, direction: Any, label: str
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and ablated logits; raises when the ablation did not move the activation."""
    import torch

    base = site.base
    clean_logits, clean = model.run(batch.tokens, read=[base])
    ref = load_data(reference) if reference is not None else None
    if ref is not None:
        _context.note_data(ref.name, ref.sha256)
    vec = torch.as_tensor(direction) if direction is not None else None
    edit = _ablation_value(model, site, how, clean[base], batch, ref, vec, label)
    with model.intervene({base: edit}, name=label):
        ablated_logits, ablated = model.run(batch.tokens, read=[base])
    if not _fired(site, clean[base], ablated[base], batch.mask):
        raise _not_fired(site, model, f"{how}-ablation", "the component already holds the "
                         "ablation value on every token (nothing to ablate)")
    return clean_logits, ablated_logits


def ablate(
    model: Model,
    component: str | Site,
    data: DataSpec | Dataset,
    how: str = "zero",
    metric: str = "loss",
    *,
    reference: DataSpec | Dataset | None = None,
    direction: Any = None,
    seeds: int = 1,
) -> Estimate:
    """What ablating ``component`` does to ``metric``, per prompt (see :mod:`interpclaims.analyses._metrics`:
    ``logit_diff``/``loss``/``accuracy`` are ablated − clean; ``prob_drop`` is clean − ablated;
    ``kl`` and ``flip_rate`` compare the two runs).

    ``component``: a head (``"L1H2"``, at its output ``z``), an MLP neuron (``"L0N17"``), an
    attention or MLP layer (``"L1.attn_out"``, ``"L1.mlp_out"``) or any layer site.
    ``how``: ``"zero"``; ``"mean"`` (mean over all real tokens of ``reference``, default the data
    itself); ``"resample"`` (the activation of another prompt of ``reference`` at the same
    positions). ``direction=`` (a ``d_model`` vector) ablates only that direction of a residual
    site: zero sets its coefficient to 0, mean to its mean. ``seeds`` (resample only): repeat
    with that many draws of the donor prompts and pool them with a seed-then-prompt bootstrap,
    so the interval carries the variance of the draw.
    """
    __tracebackhide__ = True
    model = _check_model(model, "ablate")
    if not isinstance(seeds, int) or seeds < 1 or (seeds > 1 and how != "resample"):
        raise InterpClaimsError(
            f"ablate(seeds=): expected an int >= 1, and more than one only with how='resample' "
            f"(zero and mean ablation draw nothing at random); got seeds={seeds!r}, how={how!r}"
        )
    _choice(how, ABLATIONS, "ablation", "ablate")
    _choice(metric, EFFECT_METRICS, "metric", "ablate")
    site = _component(model, component, "ablate")
    ds, batch = _prepare(model, data)
    targets = Targets.of(model, ds, batch, metric)
    what = f"{site}" + (" (direction)" if direction is not None else "")
    label = f"ablate({what}, {how}, {metric})"
    per_seed = []
    for seed in range(seeds):
        clean_logits, ablated_logits = _run_ablation(
            model, site, ds, batch, how, reference, direction,
            label if seed == 0 else f"{label}#seed{seed}")
        per_seed.append(effect(targets, clean_logits, ablated_logits, metric).numpy())
    return estimate_from_seeds(
        per_seed, method=f"{how}-ablation of {what} on {ds.name}: effect on {metric} per prompt",
        label=label, unit_ids=tuple(batch.ids), rate=metric == "flip_rate",
    )


@dataclass(frozen=True, slots=True)
class PairwiseAblation:
    """Single and joint ablation of two components, and their interaction
    ``joint − (single_a + single_b)`` per prompt. A positive interaction of a loss (or a negative
    one of a logit difference) marks backup behaviour: together they matter more than apart."""

    a: Estimate
    b: Estimate
    joint: Estimate
    interaction: Estimate


def ablate_pair(
    model: Model, a: str | Site, b: str | Site, data: DataSpec | Dataset, how: str = "mean",
    metric: str = "logit_diff",
) -> PairwiseAblation:
    """Ablate ``a``, ``b``, and both; estimate each effect and the interaction."""
    __tracebackhide__ = True
    model = _check_model(model, "ablate_pair")
    _choice(how, ("zero", "mean"), "ablation", "ablate_pair")
    _choice(metric, ("logit_diff", "loss", "prob_drop"), "metric", "ablate_pair")
    sa, sb = _component(model, a, "ablate_pair"), _component(model, b, "ablate_pair")
    if sa == sb:
        raise InterpClaimsError(f"ablate_pair(): both components are {sa}; name two different ones")
    ds, batch = _prepare(model, data)
    targets = Targets.of(model, ds, batch, metric)
    bases = sorted({sa.base, sb.base}, key=lambda s: s.order)
    clean_logits, clean = model.run(batch.tokens, read=bases)
    edits = {s: _ablation_value(model, s, how, clean[s.base], batch, None, None, f"ablate_pair({s})")
             for s in (sa, sb)}
    ids = tuple(batch.ids)
    effects = {}
    for name, chosen in (("a", [sa]), ("b", [sb]), ("joint", [sa, sb])):
        with contextlib.ExitStack() as stack:
            for s in chosen:  # one context each: two heads of one layer share a base site
                stack.enter_context(model.intervene({s.base: edits[s]}, name=f"ablate_pair {name}"))
            logits, acts = model.run(batch.tokens, read=bases)
        for s in chosen:
            if not _fired(s, clean[s.base], acts[s.base], batch.mask):
                raise _not_fired(s, model, f"{how}-ablation", "nothing to ablate")
        effects[name] = effect(targets, clean_logits, logits, metric).numpy()
    inter = effects["joint"] - effects["a"] - effects["b"]
    method = f"{how}-ablation on {ds.name}, effect on {metric} per prompt"

    def est(values: Any, label: str) -> Estimate:
        return estimate_from_samples(values, method=method, label=label, unit_ids=ids)

    return PairwiseAblation(
        a=est(effects["a"], f"ablate({sa})"), b=est(effects["b"], f"ablate({sb})"),
        joint=est(effects["joint"], f"ablate({sa} + {sb})"),
        interaction=est(inter, f"interaction({sa}, {sb})"),
    )


# -- activation patching -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _PatchSetup:
    ds: Dataset
    clean: Batch
    corrupt: Batch
    targets: Targets
    m_clean: torch.Tensor  # logit difference answer − wrong per prompt, clean run
    m_corrupt: torch.Tensor  # the same, corrupt run


def _patch_setup(model: Model, data: DataSpec | Dataset, corrupt_field: str, analysis: str
                 ) -> _PatchSetup:
    import torch

    ds, clean = _prepare(model, data)
    corrupt_texts = ds.field(corrupt_field, analysis=analysis)
    corrupt = model.tokenize(corrupt_texts, ds.ids)
    if not torch.equal(clean.lengths, corrupt.lengths):
        i = int((clean.lengths != corrupt.lengths).nonzero()[0])
        raise DataError(
            f"{analysis}: clean and corrupt prompt {ds.ids[i]!r} have different token lengths "
            f"({int(clean.lengths[i])} vs {int(corrupt.lengths[i])}); patching needs aligned "
            "minimal pairs"
        )
    targets = Targets.of(model, ds, clean, "logit_diff")
    clean_logits, _ = model.run(clean.tokens)
    corrupt_logits, _ = model.run(corrupt.tokens)
    return _PatchSetup(ds, clean, corrupt, targets, state(targets, clean_logits, "logit_diff"),
                       state(targets, corrupt_logits, "logit_diff"))


def _patch_start(model: Model, data: DataSpec | Dataset, direction: str, metric: str,
                 corrupt_field: str, analysis: str) -> tuple[Model, _PatchSetup]:
    """Validate the arguments shared by every patching analysis and run the clean/corrupt pair."""
    __tracebackhide__ = True
    model = _check_model(model, analysis)
    _choice(direction, DIRECTIONS, "direction", analysis)
    _choice(metric, PATCH_METRICS, "metric", analysis)
    setup = _patch_setup(model, data, corrupt_field, analysis)
    if metric == "normalized":
        flat = (setup.m_clean - setup.m_corrupt).abs() < 1e-6
        if bool(flat.any()):
            raise DataError(
                f"{analysis}: prompt {setup.ds.ids[int(flat.nonzero()[0])]!r} has the same logit "
                "difference clean and corrupt, so the normalized patching effect is undefined; "
                "use metric='logit_diff'"
            )
    return model, setup


def _patched_values(model: Model, setup: _PatchSetup, site: Site, where: torch.Tensor,
                    direction: str, metric: str, source_acts: torch.Tensor,
                    receiver_acts: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Per-prompt patching result and whether the patch changed anything."""
    receiver = setup.corrupt if direction == "denoising" else setup.clean
    base = site.base

    def edit(act: torch.Tensor, rows: slice) -> torch.Tensor:
        return _assign(act, site, site.select(source_acts[rows]), where[rows])

    with model.intervene({base: edit}, name=f"patch {site}"):
        logits, acts = model.run(receiver.tokens, read=[base])
    fired = _fired(site, receiver_acts, acts[base], where)
    m_patched = state(setup.targets, logits, "logit_diff")
    if metric == "normalized":
        return (m_patched - setup.m_corrupt) / (setup.m_clean - setup.m_corrupt), fired
    return m_patched - (setup.m_corrupt if direction == "denoising" else setup.m_clean), fired


def patch(
    model: Model,
    site: str | Site,
    data: DataSpec | Dataset,
    direction: str = "denoising",
    positions: Any = "all",
    metric: str = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
) -> Estimate:
    """Activation patching between each clean prompt and its corrupted twin (``corrupt_field``).

    ``direction="denoising"``: run the corrupt prompt with the clean activation patched in at
    ``site``/``positions`` — is this site *sufficient* to restore the clean behaviour?
    ``direction="noising"``: run the clean prompt with the corrupt activation patched in — is it
    *necessary*? ``metric="normalized"``: the normalized patching effect
    ``(m_patched − m_corrupt) / (m_clean − m_corrupt)`` of the logit difference answer − wrong
    (0 = corrupt behaviour, 1 = clean behaviour, in both directions); ``metric="logit_diff"``: the
    change of the logit difference caused by the patch.
    """
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch")
    s = _component(model, site, "patch")
    where = _positions(setup.clean, setup.ds, positions, "patch")
    _, clean_acts = model.run(setup.clean.tokens, read=[s.base])
    _, corrupt_acts = model.run(setup.corrupt.tokens, read=[s.base])
    source, receiver = ((clean_acts, corrupt_acts) if direction == "denoising"
                        else (corrupt_acts, clean_acts))
    values, fired = _patched_values(model, setup, s, where, direction, metric, source[s.base],
                                    receiver[s.base])
    if not fired:
        raise _not_fired(s, model, f"{direction} patch ({_pos_label(positions)})",
                         "clean and corrupt activations are identical there, so the patch copies "
                         "the values already present (patch a later site or position)")
    return estimate_from_samples(
        values.numpy(),
        method=f"{direction} patch of {s} at {_pos_label(positions)} on {setup.ds.name}: {metric} "
               "per prompt",
        label=f"patch({s}, {direction}, {positions}, {metric})", unit_ids=tuple(setup.ds.ids),
    )


def _sweep(model: Model, setup: _PatchSetup, sites: list[list[Site]], where_by_col: list[Any],
           direction: str, metric: str, title: str, row_labels: list[str], col_labels: list[str]
           ) -> EstimateMatrix:
    bases = sorted({s.base for row in sites for s in row}, key=lambda s: s.order)
    _, clean_acts = model.run(setup.clean.tokens, read=bases)
    _, corrupt_acts = model.run(setup.corrupt.tokens, read=bases)
    source, receiver = ((clean_acts, corrupt_acts) if direction == "denoising"
                        else (corrupt_acts, clean_acts))
    ids = tuple(setup.ds.ids)
    cells = []
    noop: list[tuple[str, str]] = []
    for i, row in enumerate(sites):
        out = []
        for j, s in enumerate(row):
            values, fired = _patched_values(model, setup, s, where_by_col[j], direction, metric,
                                            source[s.base], receiver[s.base])
            if not fired:
                noop.append((row_labels[i], col_labels[j]))
            out.append(estimate_from_samples(
                values.numpy(), method=f"{direction} patch, {metric} per prompt on {setup.ds.name}",
                label=f"{title}[{row_labels[i]}, {col_labels[j]}]", unit_ids=ids,
            ))
        cells.append(tuple(out))
    return EstimateMatrix(title=title, rows=tuple(row_labels), cols=tuple(col_labels),
                          cells=tuple(cells), noop=tuple(noop))


def patch_sweep(
    model: Model,
    data: DataSpec | Dataset,
    kind: str = "resid_pre",
    direction: str = "denoising",
    metric: str = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
) -> EstimateMatrix:
    """Patch ``kind`` at every layer × every position: a matrix of estimates (rows ``L0``…,
    columns ``pos0``…). All prompts must have the same token length (a template)."""
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch_sweep")
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
    where = [_positions(setup.clean, setup.ds, p, "patch_sweep") for p in range(n_pos)]
    return _sweep(model, setup, sites, where, direction, metric,
                  f"patch_sweep({kind}, {direction}, {metric})",
                  [f"L{ly}" for ly in layers], [f"pos{p}" for p in range(n_pos)])


def patch_heads(
    model: Model,
    data: DataSpec | Dataset,
    direction: str = "denoising",
    positions: Any = "all",
    metric: str = "normalized",
    *,
    corrupt_field: str = "corrupt_text",
) -> EstimateMatrix:
    """Patch every head's output (``z``): a layer × head matrix of estimates."""
    __tracebackhide__ = True
    model, setup = _patch_start(model, data, direction, metric, corrupt_field, "patch_heads")
    where = _positions(setup.clean, setup.ds, positions, "patch_heads")
    s = model.spec
    sites = [[Site("z", ly, head=h) for h in range(s.n_heads)] for ly in range(s.n_layers)]
    return _sweep(model, setup, sites, [where] * s.n_heads, direction, metric,
                  f"patch_heads({direction}, {positions}, {metric})",
                  [f"L{ly}" for ly in range(s.n_layers)], [f"H{h}" for h in range(s.n_heads)])


# -- steering ------------------------------------------------------------------------------------
def mean_difference(model: Model, site: str | Site, data: DataSpec | Dataset, field: str,
                    a: Any, b: Any, position: int = -1) -> torch.Tensor:
    """Difference of mean activations at ``site`` (a residual-width site) between rows whose
    ``field`` equals ``a`` and rows where it equals ``b``, at ``position`` (default: last token).
    A steering vector ``[d_model]``."""
    __tracebackhide__ = True
    import torch

    model = _check_model(model, "mean_difference")
    s = _component(model, site, "mean_difference")
    ds, batch = _prepare(model, data)
    labels = ds.field(field, analysis="mean_difference")
    _, acts = model.run(batch.tokens, read=[s.base])
    where = _positions(batch, ds, position, "mean_difference")
    x = s.select(acts[s.base])[where]  # [batch, ...]
    ga = torch.tensor([v == a for v in labels])
    gb = torch.tensor([v == b for v in labels])
    if not bool(ga.any()) or not bool(gb.any()):
        raise DataError(f"mean_difference: no rows with {field}={a!r} or none with {field}={b!r} "
                        f"in {ds.name}")
    return x[ga].mean(0) - x[gb].mean(0)


@dataclass(frozen=True, slots=True)
class SteeringResult:
    """Target effect and side effect of adding ``strength × vector`` at a site, per strength."""

    strengths: tuple[float, ...]
    target: tuple[Estimate, ...]
    side: tuple[Estimate, ...]

    def effect(self, strength: float) -> Estimate:
        return self.target[self._index(strength)]

    def side_effect(self, strength: float) -> Estimate:
        return self.side[self._index(strength)]

    def _index(self, strength: float) -> int:
        try:
            return self.strengths.index(float(strength))
        except ValueError:
            raise InterpClaimsError(f"steer: strength {strength} was not swept; swept "
                                    f"{list(self.strengths)}") from None


def steer(
    model: Model,
    site: str | Site,
    vector: Any,
    data: DataSpec | Dataset,
    strengths: Sequence[float] = (1.0,),
    metric: str = "logit_diff",
    *,
    positions: Any = "all",
    side_data: DataSpec | Dataset | None = None,
    side_metric: str = "kl",
    side_positions: Any = "all",
) -> SteeringResult:
    """Add ``strength × vector`` to ``site`` at ``positions``: for each strength, the effect on
    ``metric`` over ``data`` and the side effect (``side_metric``, default KL from the clean
    next-token distribution) over unrelated ``side_data`` (default: the shipped random_tokens),
    steered at ``side_positions``."""
    __tracebackhide__ = True
    import torch

    model = _check_model(model, "steer")
    _choice(metric, EFFECT_METRICS, "metric", "steer")
    _choice(side_metric, EFFECT_METRICS, "side_metric", "steer")
    s = _component(model, site, "steer")
    vec = torch.as_tensor(vector, dtype=torch.float32)
    ds, batch = _prepare(model, data)
    side_ds, side_batch = _prepare(model, side_data if side_data is not None else "random_tokens")
    width = _feature_shape(model, s)
    if tuple(vec.shape) != tuple(width) or not bool(torch.isfinite(vec).all()) or \
            float(vec.norm()) == 0:
        raise InterpClaimsError(f"steer: vector must be finite, non-zero and of shape "
                                f"{tuple(width)} for {s}, got {tuple(vec.shape)}")
    strengths_t = tuple(float(x) for x in strengths)
    if not strengths_t or 0.0 in strengths_t:
        raise InterpClaimsError("steer: give one or more non-zero strengths (0 is the baseline)")
    targets = Targets.of(model, ds, batch, metric)
    side_targets = Targets.of(model, side_ds, side_batch, side_metric)
    runs = []
    for b, tg, d, pos in ((batch, targets, ds, positions),
                          (side_batch, side_targets, side_ds, side_positions)):
        where = _positions(b, d, pos, "steer")
        clean_logits, clean = model.run(b.tokens, read=[s.base])
        runs.append((b, tg, where, clean_logits, clean[s.base]))
    target_est: list[Estimate] = []
    side_est: list[Estimate] = []
    for k in strengths_t:
        for i, (b, tg, where, clean_logits, clean_act) in enumerate(runs):
            def edit(act: torch.Tensor, rows: slice, where: torch.Tensor = where, k: float = k
                     ) -> torch.Tensor:
                return _assign(act, s, s.select(act) + k * vec, where[rows])

            with model.intervene({s.base: edit}, name=f"steer {s}"):
                logits, acts = model.run(b.tokens, read=[s.base])
            if not _fired(s, clean_act, acts[s.base], where):
                raise _not_fired(s, model, "steering", "adding the vector changed nothing")
            metric_i = metric if i == 0 else side_metric
            values = effect(tg, clean_logits, logits, metric_i).numpy()
            est = estimate_from_samples(
                values, method=f"steer {s} by {k:g} x vector; {metric_i} per prompt",
                label=f"steer({s}, {k:g}, {metric_i})", unit_ids=tuple(b.ids),
                rate=metric_i == "flip_rate",
            )
            (target_est if i == 0 else side_est).append(est)
    return SteeringResult(strengths_t, tuple(target_est), tuple(side_est))


# -- localization --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Localization:
    """Components ranked by a cheap score, and the causal impact of the top ones.

    ``ranking``: ``(component, score)`` for every head and MLP, best first (score: mean |direct
    effect on the logit difference| of mean-ablating its output, estimated in one batched pass
    per component from the clean cache via the direct path — see :func:`localize`).
    ``impact``: a component × metric matrix of ablation estimates for the ``top_k``.
    """

    ranking: tuple[tuple[str, float], ...]
    impact: EstimateMatrix

    def top(self) -> list[str]:
        return list(self.impact.rows)


def localize(
    model: Model,
    data: DataSpec | Dataset,
    metrics: Sequence[str] = ("logit_diff", "kl"),
    top_k: int = 3,
    how: str = "mean",
) -> Localization:
    """Circuit localization: rank every head and MLP by a cheap score, then confirm the ``top_k``
    by ablation, returning a causal impact matrix (component × metric) with intervals.

    The cheap score is the *direct* logit-difference attribution of each component: its output at
    the last token, minus its mean output, projected on the unembedding direction answer − wrong
    (through the final norm's scale, frozen from the clean run). It needs one clean forward pass.
    """
    __tracebackhide__ = True
    import torch

    model = _check_model(model, "localize")
    for m in metrics:
        _choice(m, EFFECT_METRICS, "metric", "localize")
    _choice(how, ("zero", "mean"), "ablation", "localize")
    if not isinstance(top_k, int) or top_k < 1:
        raise InterpClaimsError(f"localize(top_k=): expected an int >= 1, got {top_k!r}")
    ds, batch = _prepare(model, data)
    targets = Targets.of(model, ds, batch, "logit_diff")
    spec = model.spec
    sites = [Site("result", ly) for ly in range(spec.n_layers)] + \
        [Site("mlp_out", ly) for ly in range(spec.n_layers)] + \
        [Site("resid_post", spec.n_layers - 1)]
    _, acts = model.run(batch.tokens, read=sites)
    w_u, gain, kind, eps = model.unembedding()
    last = batch.lengths - 1
    idx = torch.arange(batch.tokens.shape[0])
    assert targets.answer is not None and targets.wrong is not None
    direction = (w_u[:, targets.answer] - w_u[:, targets.wrong]).T  # [batch, d_model]
    final = acts[Site("resid_post", spec.n_layers - 1)][idx, last]  # [batch, d_model]
    if kind == "ln":
        centered = final - final.mean(-1, keepdim=True)
        denom = (centered.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    else:
        denom = (final.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    scale = gain / denom  # [batch, d_model]: the final norm, linearized at the clean run

    def dla(x: torch.Tensor) -> torch.Tensor:  # x [batch, d_model] at the last token
        x = x - x.mean(0, keepdim=True)  # against mean-ablation
        if kind == "ln":
            x = x - x.mean(-1, keepdim=True)
        return (x * scale * direction).sum(-1)

    scores: dict[str, float] = {}
    for ly in range(spec.n_layers):
        res = acts[Site("result", ly)][idx, last]  # [batch, head, d_model]
        for h in range(spec.n_heads):
            scores[f"L{ly}H{h}"] = float(dla(res[:, h]).abs().mean())
        scores[f"L{ly}.mlp_out"] = float(dla(acts[Site("mlp_out", ly)][idx, last]).abs().mean())
    ranking = tuple(sorted(scores.items(), key=lambda kv: -kv[1]))
    top = [name for name, _ in ranking[:top_k]]
    metric_targets = {m: Targets.of(model, ds, batch, m) for m in metrics}
    cells = []
    for name in top:
        s = _component(model, name, "localize")
        clean_logits, ablated_logits = _run_ablation(model, s, ds, batch, how, None, None,
                                                     f"localize({name})")
        row = []
        for m in metrics:
            row.append(estimate_from_samples(
                effect(metric_targets[m], clean_logits, ablated_logits, m).numpy(),
                method=f"{how}-ablation of {name} on {ds.name}: effect on {m} per prompt",
                label=f"ablate({name}, {how}, {m})", unit_ids=tuple(batch.ids),
                rate=m == "flip_rate",
            ))
        cells.append(tuple(row))
    impact = EstimateMatrix(title=f"localize({ds.name}, {how}-ablation)", rows=tuple(top),
                            cols=tuple(metrics), cells=tuple(cells))
    return Localization(ranking=ranking, impact=impact)
