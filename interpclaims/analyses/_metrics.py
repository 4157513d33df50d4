"""Behaviour metrics, one value per prompt: a built-in name or a callable, resolved once per analysis.

Every analysis that takes ``metric=`` resolves it with :func:`resolve` into a :class:`Metric`
and asks it for :meth:`Metric.state` (a metric of one run) or :meth:`Metric.effect` (what an
intervention did). Answer-based metrics read the logits at each prompt's *decision position*
(the last real token, or ``at=``: a per-row field or an int, negative counting back from the last
real token) and compare the row's ``answer`` with its ``wrong`` field — one token, or a list of
tokens (the competitors).

=====================  ==================================================  ======================
metric                 per prompt                                          of an intervention
=====================  ==================================================  ======================
``logit_diff``         logit(answer) − max logit(wrong) in that run        edited − clean
``logit_diff_mean``    logit(answer) − mean logit(wrong)                   edited − clean
``loss``               mean next-token cross-entropy over the prompt       edited − clean
``prob``               p(answer)                                           (``prob_drop``)
``prob_drop``          —                                                   p clean − p edited
``kl``                 —                                                   KL(clean ‖ edited)
``flip_rate``          —                                                   1 if the sign of
                                                                           ``logit_diff`` changes
``pairwise_accuracy``  1 if logit(answer) > every logit(wrong)             edited − clean
``top1``               1 if answer is the arg-max over the whole vocab     edited − clean
a callable             ``metric(logits, rows)``                            edited − clean
=====================  ==================================================  ======================

``accuracy`` is an alias of ``pairwise_accuracy`` (it compares the answer with the wrong
token(s) only, not with the whole vocabulary: that is ``top1``).

A callable metric receives ``logits``: float32 ``[batch, d_vocab]`` at each prompt's decision
position, on the model's device, and ``rows``: the batch's dataset rows as dicts with every field.
It is called once per run (clean and intervened alike) with every prompt of the data as one batch,
and returns a ``[batch]`` tensor or numpy array of finite numbers.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from interpclaims._errors import DataError, InterpClaimsError
from interpclaims.analyses._prepare import Positions, choice, positions_mask

if TYPE_CHECKING:
    import torch

    from interpclaims._data import Dataset
    from interpclaims.models import Batch, Model

__all__ = [
    "EFFECT_METRICS",
    "STATE_METRICS",
    "EffectMetric",
    "Metric",
    "MetricFn",
    "StateMetric",
    "Targets",
    "decision_positions",
    "resolve",
]

# a metric of one run, and what an intervention did to a metric (table in the module doc)
StateMetric = Literal["logit_diff", "logit_diff_mean", "loss", "pairwise_accuracy", "top1", "prob",
                      "accuracy"]
EffectMetric = Literal["logit_diff", "logit_diff_mean", "loss", "prob_drop", "kl", "flip_rate",
                       "pairwise_accuracy", "top1", "accuracy"]
STATE_METRICS: tuple[StateMetric, ...] = get_args(StateMetric)
EFFECT_METRICS: tuple[EffectMetric, ...] = get_args(EffectMetric)
MetricFn = Callable[[Any, list[dict[str, Any]]], Any]
_ALIASES = {"accuracy": "pairwise_accuracy"}
_ANSWER_METRICS = {"logit_diff", "logit_diff_mean", "pairwise_accuracy", "top1", "prob",
                   "prob_drop", "flip_rate"}
# the metrics that compare answer with wrong (meaningless where the two are one token)
_COMPARED_METRICS = {"logit_diff", "logit_diff_mean", "pairwise_accuracy", "flip_rate"}
_RATES = {"pairwise_accuracy", "top1"}  # 0/1 per prompt in one run


def decision_positions(batch: Batch, ds: Dataset, at: Positions | None, analysis: str
                       ) -> torch.Tensor:
    """``[batch]`` index of each prompt's decision position: its last real token, or ``at=``."""
    __tracebackhide__ = True
    if at is None:
        return batch.lengths - 1
    if at == "all":
        raise InterpClaimsError(f"{analysis}(at=): a metric is read at one position per prompt; "
                                "give an int (-1 = last token) or a field naming one position")
    return positions_mask(batch, ds, at, analysis, "at").int().argmax(dim=1)


@dataclass(frozen=True, slots=True)
class Targets:
    """Token ids the answer-based metrics compare, and each prompt's decision position."""

    batch: Batch
    answer: torch.Tensor | None  # [batch] long
    wrong: torch.Tensor | None  # [batch, k] long: the competitors (padded by repeating one)
    at: torch.Tensor | None = None  # [batch] decision position (default: last real token)
    counts: torch.Tensor | None = None  # [batch] how many of ``wrong`` are real (default: k)

    @classmethod
    def of(cls, model: Model, ds: Dataset, batch: Batch, metric: str,
           answer_field: str = "answer", wrong_field: str = "wrong", *,
           at: torch.Tensor | None = None) -> Targets:
        import torch

        if metric not in _ANSWER_METRICS:
            return cls(batch, None, None, at)
        what = f"metric={metric!r}"

        def ids(words: list[str], i: str, field: str) -> list[int]:
            where = f"dataset {ds.name}, row {i!r}, field {field!r}"
            return [model.token_id(w, where=where) for w in words]

        answers = [ids([w], i, answer_field)[0]
                   for w, i in zip(ds.words(answer_field, analysis=what), ds.ids, strict=True)]
        wrongs = [ids(ws, i, wrong_field)
                  for ws, i in zip(ds.word_lists(wrong_field, analysis=what), ds.ids, strict=True)]
        same = [i for i, a, w in zip(ds.ids, answers, wrongs, strict=True) if a in w]
        if same and metric in _COMPARED_METRICS:
            raise DataError(
                f"{what}: in dataset {ds.name}, {len(same)} of {len(answers)} row(s) (first "
                f"{same[0]!r}) have the same token as {answer_field!r} and {wrong_field!r} (or "
                "among its list), so their logit difference is 0 whatever the model does; give "
                "each row a wrong answer different from the right one"
            )
        k = max(len(w) for w in wrongs)
        padded = [w + [w[0]] * (k - len(w)) for w in wrongs]  # a repeat changes no max/mean below
        return cls(batch, torch.tensor(answers), torch.tensor(padded), at,
                   torch.tensor([len(w) for w in wrongs]))

    def positions(self) -> torch.Tensor:
        return self.at if self.at is not None else self.batch.lengths - 1

    def last(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits at the decision positions: ``[batch, d_vocab]`` (float64)."""
        import torch

        return logits[torch.arange(logits.shape[0]), self.positions()].double()

    def wrong_logits(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[batch, k]`` logits of the wrong tokens and ``[batch, k]`` mask of the real ones."""
        import torch

        assert self.wrong is not None
        k = self.wrong.shape[1]
        counts = self.counts if self.counts is not None else torch.full((len(self.wrong),), k)
        mask = torch.arange(k)[None, :] < counts[:, None]
        return last.gather(1, self.wrong.to(last.device)), mask

    def competitor(self, last: torch.Tensor) -> torch.Tensor:
        """``[batch]`` id of each prompt's strongest wrong token in the run of ``last``."""
        w, mask = self.wrong_logits(last)
        assert self.wrong is not None
        best = w.masked_fill(~mask, float("-inf")).argmax(1)
        return self.wrong[range(len(best)), best]


def _builtin_state(t: Targets, logits: torch.Tensor, metric: str) -> torch.Tensor:
    """A built-in metric of one run, per prompt ``[batch]`` (float64)."""
    import torch

    if metric == "loss":
        b = t.batch
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll = -logp.gather(-1, b.tokens[:, 1:, None])[..., 0]  # [batch, pos-1]
        mask = b.mask[:, 1:].double()
        return (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
    assert t.answer is not None
    last = t.last(logits)
    idx = torch.arange(last.shape[0])
    answer = last[idx, t.answer]
    if metric == "prob":
        return torch.softmax(last, dim=-1)[idx, t.answer]
    if metric == "top1":
        return (last.argmax(-1) == t.answer).double()
    w, mask = t.wrong_logits(last)
    if metric == "logit_diff_mean":
        return answer - (w * mask).sum(1) / mask.sum(1)
    diff = answer - w.masked_fill(~mask, float("-inf")).max(1).values
    if metric == "pairwise_accuracy":
        return (diff > 0).double()
    return diff


@dataclass(frozen=True, slots=True)
class Metric:
    """``metric=`` of one analysis on one dataset, resolved: every analysis computes its
    per-prompt values through :meth:`state` and :meth:`effect`."""

    name: str  # the built-in's name, or the callable's ``__qualname__``
    analysis: str
    targets: Targets
    rows: tuple[Mapping[str, Any], ...]
    fn: MetricFn | None = None

    @property
    def rate(self) -> bool:
        """Whether :meth:`state` is 0/1 per prompt (a Wilson interval)."""
        return self.fn is None and self.name in _RATES

    @property
    def effect_rate(self) -> bool:
        """Whether :meth:`effect` is 0/1 per prompt."""
        return self.fn is None and self.name == "flip_rate"

    def state(self, logits: torch.Tensor, run: str = "clean") -> torch.Tensor:
        """The metric of one run (``logits`` ``[batch, pos, d_vocab]``), per prompt ``[batch]``."""
        __tracebackhide__ = True
        if self.fn is None:
            return _builtin_state(self.targets, logits, self.name)
        return self._call(logits, run)

    def effect(self, clean: torch.Tensor, edited: torch.Tensor, run: str = "intervened"
               ) -> torch.Tensor:
        """What the intervention did to the metric, per prompt ``[batch]`` (module doc table)."""
        __tracebackhide__ = True
        import torch

        t, m = self.targets, self.name if self.fn is None else None  # a callable may be "kl"
        if m == "prob_drop":
            return _builtin_state(t, clean, "prob") - _builtin_state(t, edited, "prob")
        if m == "flip_rate":
            return ((_builtin_state(t, clean, "logit_diff") > 0)
                    != (_builtin_state(t, edited, "logit_diff") > 0)).double()
        if m == "kl":
            p = torch.log_softmax(t.last(clean), dim=-1)
            q = torch.log_softmax(t.last(edited), dim=-1)
            return (p.exp() * (p - q)).sum(-1)
        before = self.state(clean, "clean")
        return self.state(edited, run) - before

    def _call(self, logits: torch.Tensor, run: str) -> torch.Tensor:
        """The callable on this run's decision-position logits, its result checked."""
        __tracebackhide__ = True
        import numpy as np
        import torch

        last = logits[torch.arange(logits.shape[0]), self.targets.positions()].float()
        rows = [dict(r) for r in self.rows]
        where = self._where(run)
        try:
            out = self.fn(last, rows)  # type: ignore[misc]
        except Exception as e:
            raise InterpClaimsError(f"{where} raised {type(e).__name__}: {e}") from e
        if isinstance(out, torch.Tensor):
            arr = out.detach().to("cpu", torch.float64).numpy()
        elif isinstance(out, np.ndarray) and out.dtype.kind in "biuf":
            arr = out.astype(np.float64)
        else:
            raise InterpClaimsError(
                f"{where} returned {type(out).__name__} {reprlib.repr(out)}; return a torch "
                f"tensor or a numpy array of numbers, one per prompt (shape [{len(rows)}])")
        if arr.shape != (len(rows),):
            raise InterpClaimsError(
                f"{where} returned shape {list(arr.shape)}; expected [{len(rows)}]: one value "
                "per prompt (reduce over the vocabulary inside the metric, not over prompts)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            ids = [str(self.rows[i]["id"]) for i in bad[:5]]
            raise InterpClaimsError(
                f"{where} returned {bad.size} non-finite value(s) (first {arr[bad[0]]} for row "
                f"{ids[0]!r}; rows {', '.join(ids)}{', ...' if bad.size > 5 else ''}); return a "
                "finite number for every prompt (guard logs and divisions)")
        return torch.from_numpy(arr)

    def logit_gradient(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The derivative of the metric summed over prompts with respect to ``logits``
        ``[batch, pos, d_vocab]`` (attribution patching's cotangent), or None where it has none:
        a 0/1 rate, or a callable that returns numpy or a tensor detached from its input."""
        import torch

        if self.rate:
            return None
        x = logits.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            if self.fn is None:
                out = _builtin_state(self.targets, x, self.name)
            else:
                last = x[torch.arange(x.shape[0]), self.targets.positions()].float()
                out = self.fn(last, [dict(r) for r in self.rows])
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return None
            (g,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
        return torch.zeros_like(x) if g is None else g.detach()

    def _where(self, run: str) -> str:
        ids = [str(r["id"]) for r in self.rows]
        span = ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"
        return (f"metric {self.name} of {self.analysis}() (the {run} run; batch rows {span}, "
                f"{len(ids)} rows)")


def resolve(metric: Any, allowed: Sequence[str], analysis: str, model: Model, ds: Dataset,
            batch: Batch, *, at: Positions | None = None, param: str = "metric") -> Metric:
    """``metric=`` of ``analysis``: a built-in name of ``allowed`` (``accuracy`` an alias of
    ``pairwise_accuracy``) or a callable ``metric(logits, rows)``, with its decision positions."""
    __tracebackhide__ = True
    if at is not None and isinstance(metric, str) and metric == "loss":
        raise InterpClaimsError(f"{analysis}(at=): metric 'loss' averages every position of the "
                                "prompt; at= applies to metrics read at one position")
    pos = decision_positions(batch, ds, at, analysis) if at is not None else None
    if callable(metric) and not isinstance(metric, str):
        name = getattr(metric, "__qualname__", None) or type(metric).__qualname__
        return Metric(name, analysis, Targets(batch, None, None, pos), ds.rows, metric)
    try:
        choice(metric, allowed, param, analysis)
    except InterpClaimsError as e:
        raise InterpClaimsError(f"{e}; or pass a callable metric(logits, rows) returning one "
                                "number per prompt") from None
    name = _ALIASES.get(metric, metric)
    return Metric(name, analysis, Targets.of(model, ds, batch, name, at=pos), ds.rows)
