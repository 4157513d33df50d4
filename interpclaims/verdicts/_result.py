"""The verdict of one claim and the report row that carries it.

:class:`ClaimResult` is the whole row of ``claims.json``: :meth:`ClaimResult.to_json` is its only
writer and :meth:`ClaimResult.from_json` reads every field back, so a row survives the trip from
an xdist worker to the controller and from ``claims.json`` back into Python unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interpclaims._estimate import Estimate

__all__ = ["ClaimResult", "Verdict", "per_prompt_of"]


class Verdict(enum.StrEnum):
    SUPPORTED = "SUPPORTED"
    REFUTED = "REFUTED"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of_test(cls, verdicts: Iterable[str]) -> Verdict | None:
        """The verdict that decides a test's outcome: REFUTED if any claim is, else INCONCLUSIVE
        if any is, else SUPPORTED (None for a test that decided no claim)."""
        seen = {cls(v) for v in verdicts}
        for v in (cls.REFUTED, cls.INCONCLUSIVE, cls.SUPPORTED):
            if v in seen:
                return v
        return None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The decided outcome of one claim: one row of ``claims.json``.

    The comparator fills the decision (verdict, tested quantity, reference, p); the plugin fills
    where it ran (node id, backend, model, seed, data); the family correction fills the family
    fields. Every field is written by :meth:`to_json` and read back by :meth:`from_json`.
    """

    verdict: Verdict
    comparator: str
    rule: str
    estimate: Estimate
    tested: Estimate
    reference: Mapping[str, Any]
    message: str
    # the claim's one-sided (or TOST) p-value, from sign-flip / permutation tests on the
    # per-prompt samples; None when the estimate carries no samples
    p: float | None = None
    alpha: float = 0.05
    warnings: tuple[str, ...] = ()
    # where it ran
    nodeid: str = ""
    # the stable, backend-free id (no file path): matches a claim across runs and baselines.
    # Before the plugin records it: the name given by claim.that(x, id=...), or "".
    claim_id: str = ""
    claim_key: str = ""  # the node id without the backend: the same claim on every backend
    index: int = 0  # a test may decide several claims
    backend: str = ""
    model: str = ""
    model_sha256: str | None = None
    seed: int = 0
    xfail: bool = False
    xfail_reason: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)  # dataset name -> sha256
    outcome: str = ""  # of its test, as pytest reported it: passed, failed, xfailed, xpassed
    # its family and the correction applied within it
    family: str = ""
    family_size: int | None = None
    correction: str | None = None
    p_adjusted: float | None = None
    verdict_before_correction: Verdict | None = None
    # the same claim in the baseline run (--claims-baseline): verdict, tested value and interval,
    # and the regressions found against it; None without a baseline or for a new claim
    baseline: Mapping[str, Any] | None = None
    # a claim on several estimates (an Estimates, e.g. one per ablation kind): one JSON-safe row
    # per estimate, {"label", "value", "ci_low", "ci_high", "n", "method", "verdict"}, each the
    # quantity that decided that estimate's verdict; None for a claim on one estimate
    estimates: tuple[Mapping[str, Any], ...] | None = None
    # {"ids": [...], "values": [...]}: the tested quantity per prompt (see per_prompt_of), or None
    per_prompt: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "nodeid": self.nodeid,
            "claim_key": self.claim_key,
            "index": self.index,
            "backend": self.backend,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "verdict": self.verdict.value,
            "xfail": self.xfail,
            "xfail_reason": self.xfail_reason,
            "comparator": self.comparator,
            "rule": self.rule,
            "estimate": self.estimate.to_json(),
            "tested": self.tested.to_json(),
            "reference": dict(self.reference),
            "message": self.message,
            "seed": self.seed,
            "data": dict(self.data),
            "outcome": self.outcome,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "family": self.family,
            "family_size": self.family_size,
            "correction": self.correction,
            "verdict_before_correction": (self.verdict_before_correction.value
                                          if self.verdict_before_correction else None),
            "alpha": self.alpha,
            "ci_level": self.tested.ci_level,
            "warnings": list(self.warnings),
            "baseline": dict(self.baseline) if self.baseline is not None else None,
            "estimates": ([dict(r) for r in self.estimates] if self.estimates is not None
                          else None),
            "per_prompt": dict(self.per_prompt) if self.per_prompt is not None else None,
            # derived from the reference, for readers of the JSON: not read back
            "control": ({"name": self.reference["label"], "estimate": {
                k: self.reference.get(k) for k in ("value", "ci_low", "ci_high", "n")}}
                if self.reference.get("kind") == "estimate" else None),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimResult:
        before = data.get("verdict_before_correction")
        return cls(
            verdict=Verdict(data["verdict"]), comparator=data["comparator"], rule=data["rule"],
            estimate=Estimate.from_json(data["estimate"]),
            tested=Estimate.from_json(data["tested"]), reference=dict(data["reference"]),
            message=data["message"], p=data.get("p"), alpha=data.get("alpha", 0.05),
            warnings=tuple(data.get("warnings", ())), nodeid=data.get("nodeid", ""),
            claim_id=data.get("claim_id", ""), claim_key=data.get("claim_key", ""),
            index=data.get("index", 0),
            backend=data.get("backend", ""), model=data.get("model", ""),
            model_sha256=data.get("model_sha256"), seed=data.get("seed", 0),
            xfail=data.get("xfail", False), xfail_reason=data.get("xfail_reason"),
            data=dict(data.get("data", {})),
            outcome=data.get("outcome", ""),
            family=data.get("family", ""), family_size=data.get("family_size"),
            correction=data.get("correction"), p_adjusted=data.get("p_adjusted"),
            verdict_before_correction=Verdict(before) if before else None,
            baseline=data.get("baseline"),
            estimates=(tuple(dict(r) for r in data["estimates"])
                       if data.get("estimates") is not None else None),
            per_prompt=data.get("per_prompt"),
        )


def per_prompt_of(*candidates: Estimate) -> dict[str, Any] | None:
    """``{"ids", "values"}`` of the first candidate carrying per-prompt samples (for a pooled
    estimate each prompt's mean over its seeds); None when none does (a ratio of means)."""
    for est in candidates:
        if est.samples is not None and est.unit_ids is not None:
            values = est.prompt_values()
            if len(values) == len(est.unit_ids):
                return {"ids": list(est.unit_ids), "values": [float(v) for v in values]}
    return None
