"""Sequential decisions (``--claims-sequential``): extend an estimate batch by batch until its
anytime-valid confidence sequence decides the claim, or every prompt is used.

The claim's rule is applied to the confidence sequence (:func:`interpclaims.stats.
confidence_sequence`, two-sided at the claim's level ``1 - α``) after each batch of
:func:`interpclaims.stats.look_sizes`. The sequence covers the mean at every look at once, so
stopping at the first decisive look keeps each one-sided error at ``α/2`` (asymptotically), and
the last look — every prompt, undecided before — is decided on the same sequence: no fixed-n
interval is ever computed after peeking. The tested estimate's interval is the confidence
sequence at stopping, ``n`` the prompts used; ``context["sequential"]`` says how many of how
many, the looks, and the forward passes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from interpclaims._estimate import Estimate
from interpclaims.stats import confidence_sequence, look_sizes
from interpclaims.verdicts._comparison import decide
from interpclaims.verdicts._result import Verdict

__all__ = ["SEQUENTIAL_METHOD", "Rule", "decide_sequentially", "sequential_note"]

SEQUENTIAL_METHOD = ("anytime-valid asymptotic confidence sequence (Waudby-Smith et al. 2021; "
                     "assumes prompts in random order with finite variance)")

Rule = Callable[[float, float], tuple[bool, bool]]  # (low, high) -> (supported, refuted)


def decide_sequentially(x: Estimate, rule: Rule) -> Estimate:
    """``x`` (an estimate with a :attr:`~Estimate.stream`) extended until ``rule`` on its
    confidence sequence is not INCONCLUSIVE, or every prompt is used: the estimate at stopping."""
    stream = x.stream
    if stream is None:
        raise ValueError("decide_sequentially: the estimate has no prompt stream")
    alpha = 1.0 - x.ci_level
    sizes = look_sizes(stream.total)
    looks = 0
    for k in sizes:
        if k < stream.evaluated:  # a batch the analysis evaluated already counts as one look
            continue
        values = stream.extend_to(k)
        cs = confidence_sequence(values, alpha, t_opt=sizes[0], rate=stream.rate)
        looks += 1
        if decide(*rule(cs.low, cs.high)) is not Verdict.INCONCLUSIVE:
            break
    used = [int(i) for i in stream.order[:cs.t]]
    info = {"prompts": cs.t, "of": stream.total, "looks": looks,
            "forward_passes": stream.forward_passes, "cs_low": cs.low, "cs_high": cs.high,
            "fraction": round(cs.t / stream.total, 4)}
    return Estimate(
        value=cs.mean, ci_low=cs.low, ci_high=cs.high, n=cs.t,
        method=f"{stream.method}; {SEQUENTIAL_METHOD}, stopped after {cs.t} of {stream.total} "
               f"prompts ({looks} looks)",
        label=x.label, ci_level=x.ci_level, samples=np.asarray(values, dtype=np.float64),
        unit_ids=tuple(stream.ids[i] for i in used), context={"sequential": info},
    )


def sequential_note(tested: Estimate) -> str:
    """The message's words for a sequentially decided claim (empty for any other)."""
    info = tested.context.get("sequential")
    if not info:
        return ""
    looks = f"{info['looks']} look" + ("" if info["looks"] == 1 else "s")
    return (f"; decided sequentially after {info['prompts']} of {info['of']} prompts "
            f"({looks}, {info['forward_passes']} forward passes), on the confidence sequence "
            "at stopping")
