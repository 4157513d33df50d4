"""``MODEL_CARD.md`` and ``facts.json`` of a zoo model (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interpclaims.zoo.data import DISTRACTOR_COUNT_PROBS, PERIOD_RANGE, SEQ_WORDS
from interpclaims.zoo.vocab import NOUNS, PREPOSITIONS, RANDOM_POOL, VERBS, vocabulary

__all__ = ["render_card", "write_card_and_facts"]

_METRIC_DOCS: dict[str, str] = {
    "repeated_loss_first_occurrence": "repeated_tokens: mean loss on the first occurrence (word t < period)",
    "repeated_loss_repeated": "repeated_tokens: mean loss on the repeated part (word t >= period)",
    "repeated_loss_first_half": "repeated_tokens: mean loss on words 0-15",
    "repeated_loss_second_half": "repeated_tokens: mean loss on words 16-31 (all repeated)",
    "repeated_top1_accuracy_repeated": "repeated_tokens: top-1 accuracy on the repeated part",
    "random_tokens_loss": "random_tokens: mean loss (uniform guess over the pool: ln 64 = 4.16)",
    "agreement_accuracy": "agreement: P(logit answer > logit wrong) at the verb position",
    "agreement_accuracy_distractor_differs": "... on rows whose distractor has the other number",
    "agreement_accuracy_distractor_same": "... on rows whose distractor has the same number",
    "agreement_logit_diff": "agreement: mean logit(answer) - logit(wrong)",
    "agreement_logit_diff_distractor_differs": "... on rows whose distractor has the other number",
    "agreement_corrupt_accuracy": "agreement: accuracy on corrupt_text (target corrupt_answer)",
    "agreement_corrupt_logit_diff": "agreement: mean logit(corrupt_answer) - logit(answer) on corrupt_text",
    "agreement_verb_mass": "agreement: probability mass on any verb at the verb position",
    "category_accuracy": "agreement: P(mass on own-category verbs > mass on other-category verbs)",
    "category_mass_own": "agreement: mean probability on verbs only the subject's category takes",
    "category_mass_other": "agreement: mean probability on verbs only the other category takes",
}


def _fmt(x: Any) -> str:
    """Format a number for a markdown table."""
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def render_card(facts: dict[str, Any], config: dict[str, Any]) -> str:
    """The markdown model card of one zoo model.

    Args:
        facts: the dict written to ``facts.json``.
        config: the model's ``config.json`` as a dict.

    Returns:
        Markdown text.
    """
    name = facts["model"]
    arch = facts["architecture"]
    recipe = facts["recipe"]
    is_llama = arch == "LlamaForCausalLM"
    if is_llama:
        layers, d_model, heads = (config["num_hidden_layers"], config["hidden_size"],
                                  config["num_attention_heads"])
        d_mlp, n_pos = config["intermediate_size"], config["max_position_embeddings"]
        pos = "rotary (RoPE, theta 10000)"
        norm = "RMSNorm, SiLU-gated MLP"
        tied = config.get("tie_word_embeddings", False)
    else:
        layers, d_model, heads = config["n_layer"], config["n_embd"], config["n_head"]
        d_mlp, n_pos = config["n_inner"], config["n_positions"]
        pos = "learned absolute position embeddings"
        norm = "LayerNorm, GELU MLP"
        tied = config.get("tie_word_embeddings", True)
    verbs = ", ".join(f"{v.singular}/{v.plural} ({v.verb_class})" for v in VERBS)
    nouns = ", ".join(f"{n.singular}/{n.plural} ({n.category})" for n in NOUNS)
    m = facts["metrics"]
    lines = [
        f"# `{name}` -- a tiny {arch} with known mechanisms",
        "",
        "A deterministic test fixture of **interpclaims**: a 2-layer transformer trained from scratch",
        "on synthetic data so that it has (i) an induction circuit (previous-token head in layer 0,",
        "induction head in layer 1) and (ii) subject-verb number agreement across distractor nouns,",
        "with a semantic subject category (animal / object) that selects the verb class.",
        "It is not a language model of English and is useful only as a known-answer test object.",
        "",
        "## Architecture",
        "",
        "| field | value |",
        "|---|---|",
        f"| class | `{arch}` (`model_type` `{config['model_type']}`) |",
        f"| layers | {layers} |",
        f"| d_model | {d_model} |",
        f"| attention heads | {heads} (head dim {d_model // heads}) |",
        f"| MLP width | {d_mlp} ({norm}) |",
        f"| positions | {n_pos}, {pos} |",
        f"| vocabulary | {config['vocab_size']} word-level tokens |",
        f"| tied embeddings | {tied} |",
        f"| parameters | {facts['n_parameters']:,} |",
        "| dtype | float32 |",
        f"| model.safetensors | {facts['weights_bytes']:,} bytes |",
        "| attention | load with `attn_implementation=\"eager\"` to get attention weights |",
        "",
        "## Tokenizer",
        "",
        "Word-level (`tokenizers` WordLevel + WhitespaceSplit) saved as `PreTrainedTokenizerFast`.",
        "Every vocabulary word is exactly one token; `<bos>` (id 0) is prepended when",
        "`add_special_tokens=True`; `<eos>`=1, `<pad>`=2 (right padding), `<unk>`=3.",
        f"Ids 4-{3 + len(RANDOM_POOL)} are {len(RANDOM_POOL)} random syllables "
        f"(`{RANDOM_POOL[0]}` ... `{RANDOM_POOL[-1]}`), then the grammar words "
        f"(total {len(vocabulary())}).",
        "",
        "## Training data",
        "",
        "Generated on the fly from the seed; every batch is half of each kind, rows of",
        f"{SEQ_WORDS + 1} tokens incl. `<bos>`, right-padded, loss masked on pads:",
        "",
        "* **repeated random tokens**: `<bos>` + a segment of `period` distinct random syllables,",
        f"  `period` uniform in {PERIOD_RANGE[0]}..{PERIOD_RANGE[1]} per sequence, repeated to "
        f"{SEQ_WORDS} words.",
        "* **agreement sentences**: `<bos> the <subject> (<prep> the <distractor>){0,2} <verb> <eos>`,",
        f"  with 0/1/2 distractor phrases with probabilities {list(DISTRACTOR_COUNT_PROBS)};",
        "  subject number, subject category and each distractor's number uniform; the verb agrees",
        "  with the subject and is drawn from the shared verbs plus those of the subject's category.",
        f"  Nouns: {nouns}.",
        f"  Prepositions: {', '.join(PREPOSITIONS)}.",
        f"  Verbs: {verbs}.",
        "",
        "## Training",
        "",
        "| field | value |",
        "|---|---|",
        f"| seed | {facts['seed']} (torch init and numpy data stream) |",
        f"| steps | {facts['train_steps']} |",
        f"| batch | {recipe['batch_size']} sequences |",
        f"| optimiser | AdamW, lr {recipe['lr']}, betas {tuple(recipe['betas'])}, weight decay "
        f"{recipe['weight_decay']} (matrices only), grad clip {recipe['grad_clip']} |",
        f"| schedule | linear warm-up {recipe['warmup_steps']} steps, cosine to "
        f"{recipe['min_lr_ratio']} x lr |",
        *(
            [f"| init | position embeddings start as {recipe['sinusoidal_positions']} x the "
             "sinusoidal table (then trained) |"]
            if recipe.get("sinusoidal_positions", 0) > 0 else []
        ),
        f"| wall time | {facts['train_seconds']:.1f} s on 1 CPU thread (varies with machine load) |",
        "| determinism | `torch.use_deterministic_algorithms(True)`, 1 thread, CPU |",
        f"| versions | torch {facts['versions']['torch']}, transformers "
        f"{facts['versions']['transformers']}, numpy {facts['versions']['numpy']} |",
        f"| weights sha256 | `{facts['weights_sha256']}` |",
        "",
        "Rebuild with `python -m interpclaims.zoo build --only "
        f"{name}`; on the same machine and versions the weights hash is identical (other CPUs",
        "or library versions may round differently, and the hash then changes).",
        "",
        "## Evaluation data",
        "",
        f"Held out: generated by the same script with data seed {facts['data_seed']} "
        f"(training uses seed {facts['seed']}). Files in `fixtures/data`:",
        "",
    ]
    for fname, digest in facts["datasets"].items():
        lines.append(f"* `{fname}` -- sha256 `{digest}`")
    lines += [
        "",
        "## Task metrics",
        "",
        "| metric | value | meaning |",
        "|---|---|---|",
    ]
    for key, value in m.items():
        lines.append(f"| `{key}` | {_fmt(value)} | {_METRIC_DOCS.get(key, '')} |")
    lines += [
        "",
        "## Mechanism facts (measured on the shipped weights)",
        "",
        "Scores are attention weights from the plain HF model with `output_attentions=True`,",
        "averaged first over the queries of each prompt, then over prompts (positions count",
        "`<bos>` as 0):",
        "",
        "* *previous_token*: query i -> key i-1, over all queries i >= 1 of `repeated_tokens.jsonl`;",
        "* *induction*: query i -> key i-period+1 (the token after the previous occurrence of",
        "  token i), over queries in the repeated part of `repeated_tokens.jsonl`;",
        "* *duplicate_token*: query i -> key i-period (the previous occurrence of token i itself),",
        "  same queries;",
        "* *subject_attention*: last prompt position -> subject (`subject_pos`) on `agreement.jsonl`.",
        "",
        "| head | previous_token | induction | duplicate_token | subject_attention |",
        "|---|---|---|---|---|",
    ]
    for head, s in facts["heads"].items():
        lines.append(
            f"| {head} | {s['previous_token']:.3f} | {s['induction']:.3f} | "
            f"{s['duplicate_token']:.3f} | {s['subject_attention']:.3f} |"
        )
    thr = facts["head_threshold"]
    none = "none"
    lines += [
        "",
        f"With threshold {thr}:",
        "",
        f"* **induction heads**: {', '.join(facts['induction_heads']) or none}",
        f"* **previous-token heads**: {', '.join(facts['previous_token_heads']) or none}",
        f"* **subject-attending heads** (verb position): "
        f"{', '.join(facts['subject_heads']) or none}",
        "",
        *(
            [
                "No head reaches the induction / previous-token threshold: this model lowers the",
                "loss on repeats (less well than the Llama twin) with a non-canonical mechanism --",
                "its attention is sharp but not aligned with the previous token or the induction",
                "target. With learned absolute positions no previous-token head formed within the",
                "training budget (variants tried are listed in `interpclaims/zoo/train.py`). It is",
                "a *negative control* for induction-head claims and a positive fixture for",
                "agreement claims.",
                "",
            ]
            if not facts["induction_heads"] and not facts["previous_token_heads"] else []
        ),
        "The same facts are in `facts.json` next to this card.",
        "",
        "## Loading",
        "",
        "```python",
        "import os; os.environ['HF_HUB_OFFLINE'] = '1'",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f"model = AutoModelForCausalLM.from_pretrained('fixtures/models/{name}', "
        "attn_implementation='eager')",
        f"tok = AutoTokenizer.from_pretrained('fixtures/models/{name}')",
        "tok('the dog near the boxes')  # <bos> + one id per word",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card_and_facts(model_dir: Path, facts: dict[str, Any]) -> None:
    """Write ``facts.json`` and ``MODEL_CARD.md`` into ``model_dir``.

    Args:
        model_dir: the model folder (must already hold ``config.json``).
        facts: the machine-readable facts (see :func:`interpclaims.zoo.build.build_model`).
    """
    (model_dir / "facts.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    (model_dir / "MODEL_CARD.md").write_text(render_card(facts, config), encoding="utf-8")
