"""Behaviour metrics, one value per prompt, computed from logits ``[batch, pos, d_vocab]``.

Answer-based metrics read the logits after the last real token of each prompt and compare the
``answer`` field of the dataset row with its ``wrong`` field (single tokens).

==============  ==============================================  =========================
metric          per prompt                                      of an intervention
==============  ==============================================  =========================
``logit_diff``  logit(answer) − logit(wrong)                    edited − clean
``loss``        mean next-token cross-entropy over the prompt   edited − clean
``prob_drop``   p(answer)                                       clean − edited
``kl``          —                                               KL(clean ‖ edited), last token
``flip_rate``   —                                               1 if the preferred of answer/wrong
                                                                changes, else 0
``accuracy``    1 if logit(answer) > logit(wrong)               edited − clean
==============  ==============================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from interpclaims._errors import DataError

if TYPE_CHECKING:
    import torch

    from interpclaims._data import Dataset
    from interpclaims.models import Batch, Model

__all__ = [
    "EFFECT_METRICS",
    "STATE_METRICS",
    "EffectMetric",
    "StateMetric",
    "Targets",
    "effect",
    "state",
]

# a metric of one run, and what an intervention did to a metric (table in the module doc)
StateMetric = Literal["logit_diff", "loss", "accuracy", "prob"]
EffectMetric = Literal["logit_diff", "loss", "prob_drop", "kl", "flip_rate", "accuracy"]
STATE_METRICS: tuple[StateMetric, ...] = get_args(StateMetric)
EFFECT_METRICS: tuple[EffectMetric, ...] = get_args(EffectMetric)
_ANSWER_METRICS = {"logit_diff", "accuracy", "prob", "prob_drop", "flip_rate"}
# the metrics that compare answer with wrong (meaningless where the two are one token)
_COMPARED_METRICS = {"logit_diff", "accuracy", "flip_rate"}


@dataclass(frozen=True, slots=True)
class Targets:
    """Token ids the answer-based metrics compare, and where the prompts end."""

    batch: Batch
    answer: torch.Tensor | None  # [batch] long
    wrong: torch.Tensor | None  # [batch] long

    @classmethod
    def of(cls, model: Model, ds: Dataset, batch: Batch, metric: str,
           answer_field: str = "answer", wrong_field: str = "wrong") -> Targets:
        import torch

        if metric not in _ANSWER_METRICS:
            return cls(batch, None, None)
        what = f"metric={metric!r}"

        def ids(field: str) -> list[int]:
            return [model.token_id(w, where=f"dataset {ds.name}, row {i!r}, field {field!r}")
                    for w, i in zip(ds.words(field, analysis=what), ds.ids, strict=True)]

        answers, wrongs = ids(answer_field), ids(wrong_field)
        same = [i for i, a, w in zip(ds.ids, answers, wrongs, strict=True) if a == w]
        if same and metric in _COMPARED_METRICS:
            raise DataError(
                f"{what}: in dataset {ds.name}, {len(same)} of {len(answers)} row(s) (first "
                f"{same[0]!r}) have the same token as {answer_field!r} and {wrong_field!r}, so "
                "their logit difference is 0 whatever the model does; give each row a wrong "
                "answer different from the right one"
            )
        return cls(batch, torch.tensor(answers), torch.tensor(wrongs))

    def last(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits after the last real token: ``[batch, d_vocab]`` (float64)."""
        import torch

        return logits[torch.arange(logits.shape[0]), self.batch.lengths - 1].double()


def state(t: Targets, logits: torch.Tensor, metric: StateMetric) -> torch.Tensor:
    """A metric of one run, per prompt ``[batch]``."""
    import torch

    if metric == "loss":
        b = t.batch
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll = -logp.gather(-1, b.tokens[:, 1:, None])[..., 0]  # [batch, pos-1]
        mask = b.mask[:, 1:].double()
        return (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
    assert t.answer is not None and t.wrong is not None
    last = t.last(logits)
    idx = torch.arange(last.shape[0])
    if metric == "prob":
        return torch.softmax(last, dim=-1)[idx, t.answer]
    diff = last[idx, t.answer] - last[idx, t.wrong]
    if metric == "accuracy":
        return (diff > 0).double()
    return diff


def effect(t: Targets, clean: torch.Tensor, edited: torch.Tensor, metric: EffectMetric
           ) -> torch.Tensor:
    """What an intervention did to ``metric``, per prompt ``[batch]`` (table in the module doc)."""
    import torch

    if metric in ("logit_diff", "loss", "accuracy"):
        return state(t, edited, metric) - state(t, clean, metric)
    if metric == "prob_drop":
        return state(t, clean, "prob") - state(t, edited, "prob")
    if metric == "flip_rate":
        return ((state(t, clean, "logit_diff") > 0) != (state(t, edited, "logit_diff") > 0)).double()
    if metric == "kl":
        p = torch.log_softmax(t.last(clean), dim=-1)
        q = torch.log_softmax(t.last(edited), dim=-1)
        return (p.exp() * (p - q)).sum(-1)
    raise ValueError(f"unknown metric {metric!r}")
