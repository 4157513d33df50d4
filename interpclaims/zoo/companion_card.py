"""Quality of the zoo companions, per evaluation dataset, and their cards.

Every number is over the **real tokens** of a dataset's prompts (``<bos>`` + text): no ``<bos>``,
no pads.

* **L0**: mean number of active features per real token.
* **FVU**: summed squared reconstruction error / summed squared deviation of the target from
  its mean over the real tokens.
* **CE recovered**: ``(CE_ablated - CE_spliced) / (CE_ablated - CE_clean)``, where CE is the mean
  next-token loss over real-token targets, *spliced* replaces the target activation by the
  dictionary's output at the real tokens, and the **ablation baseline is zero-ablation of the
  same activation at the real tokens only** (``<bos>`` is never ablated). For transcoders, one
  layer is spliced at a time.
* **KL**: mean KL(clean ‖ spliced) of the next-token distributions at real-token positions.

Replacement and completeness scores of the attribution graphs are measured with circuit-tracer
(the graphs engineer's harness) and recorded in ``card.json`` when present (``null`` otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims.zoo.constants import DATASET_FILES
from interpclaims.zoo.measure import load_jsonl

if TYPE_CHECKING:
    import torch

__all__ = ["measure_dictionary", "record_graph_scores", "write_companion_card"]

Splice = Callable[["torch.Tensor", "torch.Tensor"], "tuple[torch.Tensor, torch.Tensor]"]


def _tokens(tokenizer: Any, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens [n, pos], real [n, pos] bool)``: bos + text, right-padded."""
    import torch

    rows = [[tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]]
            for t in texts]
    width = max(map(len, rows))
    tokens = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    real = torch.zeros_like(tokens, dtype=torch.bool)
    for i, r in enumerate(rows):
        real[i, 1: len(r)] = True
    return tokens, real


def _run(model: Any, module: Any, tokens: torch.Tensor, real: torch.Tensor,
         replace: Callable[[torch.Tensor], torch.Tensor] | None) -> tuple[torch.Tensor, Any]:
    """Logits of ``model`` with ``module``'s output replaced (at real tokens) by ``replace(out)``;
    also returns ``(input, output)`` of ``module`` seen in the run."""
    import torch

    seen: list[Any] = []

    def hook(_m: Any, args: tuple[Any, ...], out: Any) -> Any:
        t = out[0] if isinstance(out, tuple) else out
        seen.append((args[0] if args else None, t))
        if replace is None:
            return None
        new = torch.where(real[..., None], replace(t), t)
        return (new, *out[1:]) if isinstance(out, tuple) else new

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            mask = real.clone()
            mask[:, 0] = True
            logits = model(input_ids=tokens, attention_mask=mask.long()).logits
    finally:
        handle.remove()
    return logits, seen[0]


def _ce(logits: torch.Tensor, tokens: torch.Tensor, real: torch.Tensor) -> float:
    import torch

    lp = torch.log_softmax(logits[:, :-1].double(), -1)
    nll = -lp.gather(-1, tokens[:, 1:, None])[..., 0]
    return float(nll[real[:, 1:]].mean())


def measure_dictionary(model: Any, tokenizer: Any, data_dir: Path, module: Any, target: str,
                       encode: Callable[[torch.Tensor], torch.Tensor],
                       decode: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, Any]:
    """L0, FVU, CE recovered and KL of one dictionary on every evaluation dataset.

    Args:
        module: the Hugging Face module whose output is the target (the layer for an SAE at
            ``resid_post``, the MLP for a transcoder).
        target: "output" (SAE: encodes the output) or "input" (transcoder: encodes the input).
        encode: features ``[..., width]`` of the encoded activation.
        decode: reconstruction of the module's output from the features.
    """
    import torch

    out: dict[str, Any] = {}
    for fname in DATASET_FILES:
        texts = [r["text"] for r in load_jsonl(data_dir / fname)]
        tokens, real = _tokens(tokenizer, texts)
        clean, (inp, act) = _run(model, module, tokens, real, None)
        src = act if target == "output" else inp
        feats = encode(src)[real]
        y = act[real].double()
        err = ((y - decode(encode(src))[real].double()) ** 2).sum()
        fvu = float(err / ((y - y.mean(0)) ** 2).sum())
        spliced, _ = _run(model, module, tokens, real, _splice(encode, decode, src, target))
        zero, _ = _run(model, module, tokens, real, torch.zeros_like)
        ce = {k: _ce(v, tokens, real) for k, v in
              (("clean", clean), ("spliced", spliced), ("zero_ablated", zero))}
        mask = real.clone()
        mask[:, 0] = False
        p = torch.log_softmax(clean.double(), -1)
        q = torch.log_softmax(spliced.double(), -1)
        kl = float((p.exp() * (p - q)).sum(-1)[mask].mean())
        out[fname.removesuffix(".jsonl")] = {
            "tokens": int(real.sum()),
            "l0": round(float((feats > 0).double().sum(-1).mean()), 3),
            "fvu": round(fvu, 5),
            "ce_clean": round(ce["clean"], 5),
            "ce_spliced": round(ce["spliced"], 5),
            "ce_zero_ablated": round(ce["zero_ablated"], 5),
            "ce_recovered": round((ce["zero_ablated"] - ce["spliced"])
                                  / (ce["zero_ablated"] - ce["clean"]), 5),
            "kl": round(kl, 6),
        }
    return out


def _splice(encode: Callable[[torch.Tensor], torch.Tensor],
            decode: Callable[[torch.Tensor], torch.Tensor], src: torch.Tensor, target: str
            ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The replacement of a module's output: the dictionary's reconstruction of it (SAE,
    ``target="output"``) or its prediction from the clean input ``src`` (transcoder)."""

    def spliced(out: torch.Tensor) -> torch.Tensor:
        return decode(encode(out if target == "output" else src))

    return spliced


def _table(per_dataset: dict[str, Any]) -> list[str]:
    lines = ["| dataset | real tokens | L0 | FVU | CE clean | CE spliced | CE zero-ablated "
             "| CE recovered | KL |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in per_dataset.items():
        lines.append(f"| {name} | {m['tokens']} | {m['l0']} | {m['fvu']} | {m['ce_clean']} | "
                     f"{m['ce_spliced']} | {m['ce_zero_ablated']} | {m['ce_recovered']} | "
                     f"{m['kl']} |")
    return lines


def write_companion_card(folder: Path, title: str, facts: dict[str, Any]) -> None:
    """Write ``card.json`` (``facts``) and ``CARD.md`` (its tables) into ``folder``."""
    (folder / "card.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")
    lines = [f"# {title}", "", facts["description"], "",
             "Built by `python -m interpclaims.zoo build --companions` (one CPU thread, seed "
             f"{facts['seed']}); trained on {facts['train_tokens']} real tokens of the model's "
             "training mix. Metrics are over real tokens only (no `<bos>`, no pads); CE "
             "recovered uses **zero-ablation of the same activation at the real tokens** as "
             "its baseline.", ""]
    for section, per_dataset in facts["quality"].items():
        lines += [f"## {section}", "", *_table(per_dataset), ""]
    graphs = facts.get("graph_scores")
    lines += ["## Attribution-graph scores", ""]
    if graphs:
        lines += [f"- {k}: {v}" for k, v in sorted(graphs.items())]
    else:
        lines.append("Not recorded in this card (replacement / completeness scores are measured "
                     "with circuit-tracer by the attribution-graph harness)." if
                     facts.get("kind") == "transcoders" else "Not applicable (an SAE).")
    lines += ["", "## Files (sha256)", ""]
    lines += [f"- `{k}`: `{v}`" for k, v in sorted(facts["files"].items())]
    (folder / "CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def record_graph_scores(folder: Path, scores: dict[str, Any]) -> None:
    """Record attribution-graph scores measured with circuit-tracer in a transcoder card
    (``card.json`` ``graph_scores``) and re-render its ``CARD.md``; the weights are untouched."""
    facts = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    facts["graph_scores"] = dict(sorted(scores.items()))
    title = (folder / "CARD.md").read_text(encoding="utf-8").splitlines()[0].removeprefix("# ")
    write_companion_card(folder, title, facts)
