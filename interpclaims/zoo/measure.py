"""Task metrics and per-head mechanism scores of a shipped zoo model.

Everything here runs the plain Hugging Face model (eager attention, ``output_attentions=True``)
on the evaluation datasets in ``fixtures/data``; nothing depends on the rest of interpclaims.

Conventions (token positions count ``<bos>`` as position 0; word ``t`` of a text is token
``t + 1``):

Every score is a mean over prompts of the per-prompt mean over its queries:

* **previous-token score** of a head: attention weight from query position ``i`` to key
  ``i - 1``, queries ``i >= 1`` of ``repeated_tokens.jsonl``.
* **induction score**: attention from query ``i`` to ``j + 1`` where ``j = i - period`` is
  the previous occurrence of token ``i``, queries in the repeated part (word ``t >= period``).
* **duplicate-token score**: attention from query ``i`` to ``j = i - period`` (the previous
  occurrence of the same token), same queries.
* **subject attention**: mean attention from the last prompt position of
  ``agreement.jsonl`` (where the verb is predicted) to the subject token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = ["HEAD_THRESHOLD", "load_jsonl", "measure_model"]

#: A head whose score is at least this is named an induction / previous-token head.
HEAD_THRESHOLD = 0.4


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file into a list of dicts."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _round(x: Any, nd: int = 4) -> float:
    """Round a float or 0-d tensor for the card/facts (keeps JSON short and stable)."""
    return round(float(x), nd)


def measure_model(model_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Measure task metrics and head scores of the model in ``model_dir``.

    Args:
        model_dir: a model folder written by the zoo (weights + tokenizer).
        data_dir: the folder holding ``repeated_tokens.jsonl``, ``random_tokens.jsonl`` and
            ``agreement.jsonl``.

    Returns:
        ``{"metrics": {...}, "heads": {"L0H0": {...}, ...}, "induction_heads": [...],
        "previous_token_heads": [...], "subject_heads": [...]}``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interpclaims.zoo.vocab import CATEGORIES, VERBS

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    n_layers = model.config.num_hidden_layers
    n_heads = model.config.num_attention_heads

    # ---------------------------------------------------------------- repeated tokens
    rep = load_jsonl(data_dir / "repeated_tokens.jsonl")
    enc = tok([r["text"] for r in rep], return_tensors="pt", padding=True)
    ids = enc["input_ids"]  # [B, T] with T = 33
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    logp = torch.log_softmax(out.logits.float(), dim=-1)  # [B, T, V]
    # nll[b, t] = loss of word t (token t+1) predicted at position t: [B, T-1]
    nll = -logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    top1 = logp[:, :-1].argmax(-1) == ids[:, 1:]
    n_words = ids.shape[1] - 1
    word_idx = torch.arange(n_words)[None, :]  # [1, W]
    periods = torch.tensor([r["period"] for r in rep])[:, None]  # [B, 1]
    repeated = word_idx >= periods  # [B, W]
    first = ~repeated
    half = n_words // 2
    metrics: dict[str, Any] = {
        "repeated_loss_first_occurrence": _round(nll[first].mean()),
        "repeated_loss_repeated": _round(nll[repeated].mean()),
        "repeated_loss_first_half": _round(nll[:, :half].mean()),
        "repeated_loss_second_half": _round(nll[:, half:].mean()),
        "repeated_top1_accuracy_repeated": _round(top1[repeated].float().mean()),
    }

    # attentions: tuple of n_layers tensors [B, H, T, T]
    attn = torch.stack(out.attentions, dim=1)  # [B, L, H, T, T]
    T = ids.shape[1]
    q = torch.arange(1, T)
    prev_tok = attn[:, :, :, q, q - 1].mean(dim=(0, 3))  # [L, H]
    # per-prompt means first (prompts with a short period have more repeated queries), then
    # the mean over prompts -- the estimator interpclaims itself uses
    ind_sum = torch.zeros(n_layers, n_heads)
    dup_sum = torch.zeros(n_layers, n_heads)
    for b, r in enumerate(rep):
        p = int(r["period"])
        qi = torch.arange(p + 1, T)  # token positions whose word index >= period
        ind_sum += attn[b, :, :, qi, qi - p + 1].mean(dim=-1)
        dup_sum += attn[b, :, :, qi, qi - p].mean(dim=-1)
    induction = ind_sum / len(rep)  # [L, H]
    duplicate = dup_sum / len(rep)  # [L, H]

    # ---------------------------------------------------------------- random tokens
    rnd = load_jsonl(data_dir / "random_tokens.jsonl")
    enc_r = tok([r["text"] for r in rnd], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits_r = model(**enc_r).logits.float()
    nll_r = -torch.log_softmax(logits_r[:, :-1], -1).gather(-1, enc_r["input_ids"][:, 1:, None])
    metrics["random_tokens_loss"] = _round(nll_r.mean())

    # ---------------------------------------------------------------- agreement
    agr = load_jsonl(data_dir / "agreement.jsonl")
    metrics.update(_agreement_metrics(model, tok, agr, n_layers, n_heads, VERBS, CATEGORIES))
    subject_attn = metrics.pop("_subject_attention")

    heads: dict[str, dict[str, float]] = {}
    for layer in range(n_layers):
        for head in range(n_heads):
            heads[f"L{layer}H{head}"] = {
                "previous_token": _round(prev_tok[layer, head]),
                "induction": _round(induction[layer, head]),
                "duplicate_token": _round(duplicate[layer, head]),
                "subject_attention": _round(subject_attn[layer, head]),
            }
    return {
        "metrics": metrics,
        "heads": heads,
        "induction_heads": [k for k, v in heads.items() if v["induction"] >= HEAD_THRESHOLD],
        "previous_token_heads": [
            k for k, v in heads.items() if v["previous_token"] >= HEAD_THRESHOLD
        ],
        "subject_heads": [
            k for k, v in heads.items() if v["subject_attention"] >= HEAD_THRESHOLD
        ],
        "head_threshold": HEAD_THRESHOLD,
    }


def _agreement_metrics(
    model: Any,
    tok: Any,
    rows: list[dict[str, Any]],
    n_layers: int,
    n_heads: int,
    verbs: Any,
    categories: tuple[str, ...],
) -> dict[str, Any]:
    """Agreement metrics at the verb position, and subject attention per head.

    Returns:
        Metrics dict; its ``"_subject_attention"`` entry is an ``[L, H]`` tensor.
    """
    import torch

    def last_logits(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, Any]:
        enc = tok(texts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
        last = enc["attention_mask"].sum(-1) - 1  # [B]
        b = torch.arange(len(texts))
        return out.logits[b, last].float(), last, out.attentions  # [B, V]

    logits, last, attentions = last_logits([r["text"] for r in rows])
    c_logits, _, _ = last_logits([r["corrupt_text"] for r in rows])
    vocab = tok.get_vocab()
    ans = torch.tensor([vocab[r["answer"]] for r in rows])
    wrong = torch.tensor([vocab[r["wrong"]] for r in rows])
    b = torch.arange(len(rows))
    diff = logits[b, ans] - logits[b, wrong]  # [B]
    c_diff = c_logits[b, wrong] - c_logits[b, ans]  # corrupt: its answer is the clean wrong
    differs = torch.tensor([r["distractor_number"] != r["number"] for r in rows])

    # category: probability mass on the subject's own class verbs vs the other class's verbs
    probs = torch.softmax(logits, -1)
    class_ids = {
        c: torch.tensor([vocab[w] for v in verbs if v.verb_class == c for w in (v.singular, v.plural)])
        for c in categories
    }
    own = torch.stack([probs[i, class_ids[r["category"]]].sum() for i, r in enumerate(rows)])
    other = torch.stack(
        [probs[i, class_ids[next(c for c in categories if c != r["category"])]].sum()
         for i, r in enumerate(rows)]
    )
    verb_ids = torch.tensor([vocab[w] for v in verbs for w in (v.singular, v.plural)])
    verb_mass = probs[:, verb_ids].sum(-1)

    attn = torch.stack(attentions, dim=1)  # [B, L, H, T, T]
    subj = torch.tensor([r["subject_pos"] for r in rows])
    subject_attention = attn[b, :, :, last, subj].mean(0)  # [L, H]
    return {
        "agreement_accuracy": _round((diff > 0).float().mean()),
        "agreement_accuracy_distractor_differs": _round((diff[differs] > 0).float().mean()),
        "agreement_accuracy_distractor_same": _round((diff[~differs] > 0).float().mean()),
        "agreement_logit_diff": _round(diff.mean()),
        "agreement_logit_diff_distractor_differs": _round(diff[differs].mean()),
        "agreement_corrupt_accuracy": _round((c_diff > 0).float().mean()),
        "agreement_corrupt_logit_diff": _round(c_diff.mean()),
        "agreement_verb_mass": _round(verb_mass.mean()),
        "category_accuracy": _round((own > other).float().mean()),
        "category_mass_own": _round(own.mean()),
        "category_mass_other": _round(other.mean()),
        "_subject_attention": subject_attention,
    }
