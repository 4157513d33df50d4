"""Synthetic data of the zoo: the training mix and the held-out evaluation datasets.

Two kinds of sequences, mixed 50/50 in every training batch:

* **repeated random tokens** -- ``<bos>`` then a segment of ``period`` *distinct* words from
  :data:`~interpclaims.zoo.vocab.RANDOM_POOL` (``period`` drawn per sequence), repeated until
  the sequence holds :data:`SEQ_WORDS` words. Predicting the repeats needs an induction
  circuit (previous-token head in layer 0 + induction head in layer 1); a random period keeps
  a head from solving it by position alone.
* **agreement sentences** -- ``<bos> the dog near the boxes runs <eos>``: a subject noun
  (singular or plural; category animal or object), zero to two prepositional phrases whose
  distractor nouns often have the opposite number, then a verb that agrees with the subject
  and whose class (shared / animal-only / object-only) depends on the subject's category.

Everything is drawn from a seeded :class:`numpy.random.Generator`; this module does not
import torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interpclaims.zoo.vocab import (
    BOS,
    CATEGORIES,
    DETERMINER,
    EOS,
    NOUNS,
    PAD,
    PREPOSITIONS,
    RANDOM_POOL,
    Noun,
    token_to_id,
    verbs_for_category,
)

__all__ = [
    "EVAL_ROWS",
    "MAX_LEN",
    "PERIOD_RANGE",
    "SEQ_WORDS",
    "agreement_rows",
    "random_token_rows",
    "repeated_token_rows",
    "sample_repeated",
    "sample_sentence",
    "training_batch",
    "write_eval_datasets",
]

#: Words per repeated-token sequence (the model sees ``SEQ_WORDS + 1`` tokens with ``<bos>``).
SEQ_WORDS = 32
#: Sequence length of every training row, in tokens, ``<bos>`` included.
MAX_LEN = SEQ_WORDS + 1
#: Inclusive range of the per-sequence period of the repeated-token task.
PERIOD_RANGE: tuple[int, int] = (4, 12)
#: Probabilities of 0, 1 and 2 distractor phrases in a training sentence.
DISTRACTOR_COUNT_PROBS: tuple[float, float, float] = (0.15, 0.55, 0.30)
#: Rows per evaluation dataset.
EVAL_ROWS = 200
NUMBERS: tuple[str, str] = ("singular", "plural")

_NOUNS_BY_CATEGORY: dict[str, tuple[Noun, ...]] = {
    c: tuple(n for n in NOUNS if n.category == c) for c in CATEGORIES
}


def _other(number: str) -> str:
    """The opposite grammatical number."""
    return "plural" if number == "singular" else "singular"


def sample_repeated(
    rng: np.random.Generator,
    n_words: int = SEQ_WORDS,
    period_range: tuple[int, int] = PERIOD_RANGE,
    period: int | None = None,
) -> tuple[list[str], int]:
    """One repeated random-token sequence (without ``<bos>``).

    Args:
        rng: the generator to draw from.
        n_words: length of the sequence in words.
        period_range: inclusive range the period is drawn from when ``period`` is None.
        period: a fixed period instead of a random one.

    Returns:
        ``(words, period)`` where ``words[t] == words[t - period]`` for every ``t >= period``
        and the first ``period`` words are distinct.
    """
    if period is None:
        period = int(rng.integers(period_range[0], period_range[1] + 1))
    segment = [RANDOM_POOL[i] for i in rng.choice(len(RANDOM_POOL), size=period, replace=False)]
    words = [segment[t % period] for t in range(n_words)]
    return words, period


def sample_sentence(
    rng: np.random.Generator,
    number: str | None = None,
    category: str | None = None,
    n_distractors: int | None = None,
    distractor_numbers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One agreement sentence, split into prompt words and the agreeing verb.

    Any argument left as None is drawn at random (number and category uniformly, the count of
    distractors from :data:`DISTRACTOR_COUNT_PROBS`, each distractor's number uniformly).

    Args:
        rng: the generator to draw from.
        number: "singular" or "plural" for the subject.
        category: "animal" or "object" for the subject.
        n_distractors: how many ``<prep> the <noun>`` phrases follow the subject.
        distractor_numbers: the number of each distractor noun.

    Returns:
        A dict with ``prompt`` (list of words, no ``<bos>``, ending before the verb),
        ``verb`` (the :class:`~interpclaims.zoo.vocab.Verb`), ``answer`` and ``wrong`` (verb
        forms), ``subject`` (:class:`~interpclaims.zoo.vocab.Noun`), ``number``, ``category``,
        ``distractors`` (list of ``(word, number)``).
    """
    if number is None:
        number = NUMBERS[int(rng.integers(2))]
    if category is None:
        category = CATEGORIES[int(rng.integers(2))]
    if n_distractors is None:
        n_distractors = int(rng.choice(len(DISTRACTOR_COUNT_PROBS), p=DISTRACTOR_COUNT_PROBS))
    if distractor_numbers is None:
        distractor_numbers = [NUMBERS[int(rng.integers(2))] for _ in range(n_distractors)]
    if len(distractor_numbers) != n_distractors:
        raise ValueError("distractor_numbers must have n_distractors entries")
    candidates = _NOUNS_BY_CATEGORY[category]
    subject = candidates[int(rng.integers(len(candidates)))]
    prompt = [DETERMINER, subject.form(number)]
    distractors: list[tuple[str, str]] = []
    for d_number in distractor_numbers:
        prep = PREPOSITIONS[int(rng.integers(len(PREPOSITIONS)))]
        # distractors are drawn from all nouns except the subject's lemma
        others = [n for n in NOUNS if n != subject]
        noun = others[int(rng.integers(len(others)))]
        prompt += [prep, DETERMINER, noun.form(d_number)]
        distractors.append((noun.form(d_number), d_number))
    verbs = verbs_for_category(category)
    verb = verbs[int(rng.integers(len(verbs)))]
    return {
        "prompt": prompt,
        "verb": verb,
        "answer": verb.form(number),
        "wrong": verb.form(_other(number)),
        "subject": subject,
        "number": number,
        "category": category,
        "distractors": distractors,
    }


def training_batch(
    rng: np.random.Generator, batch_size: int, max_len: int = MAX_LEN
) -> tuple[np.ndarray, np.ndarray]:
    """A training batch: first half repeated-token rows, second half agreement sentences.

    Rows are ``<bos> ...`` right-padded with ``<pad>``; sentences end with ``<eos>``.

    Args:
        rng: the generator to draw from.
        batch_size: rows in the batch (even).
        max_len: row length in tokens.

    Returns:
        ``(input_ids, labels)``, both int64 of shape ``[batch_size, max_len]``; ``labels`` is
        ``input_ids`` with pads set to ``-100`` (unshifted: the model shifts them).
    """
    ids = token_to_id()
    input_ids = np.full((batch_size, max_len), ids[PAD], dtype=np.int64)
    labels = np.full((batch_size, max_len), -100, dtype=np.int64)
    n_rep = batch_size // 2
    for b in range(batch_size):
        if b < n_rep:
            words, _ = sample_repeated(rng, n_words=max_len - 1)
        else:
            s = sample_sentence(rng)
            words = s["prompt"] + [s["answer"], EOS]
        row = [ids[BOS]] + [ids[w] for w in words]
        input_ids[b, : len(row)] = row
        labels[b, : len(row)] = row
    return input_ids, labels


def repeated_token_rows(rng: np.random.Generator, n_rows: int = EVAL_ROWS) -> list[dict[str, Any]]:
    """Rows of ``repeated_tokens.jsonl``; periods cycle through :data:`PERIOD_RANGE`.

    Returns:
        Dicts ``{"id": "rep-0000", "text": "<32 space-joined words>", "period": p}``.
    """
    lo, hi = PERIOD_RANGE
    rows = []
    for i in range(n_rows):
        period = lo + i % (hi - lo + 1)
        words, _ = sample_repeated(rng, period=period)
        rows.append({"id": f"rep-{i:04d}", "text": " ".join(words), "period": period})
    return rows


def random_token_rows(rng: np.random.Generator, n_rows: int = EVAL_ROWS) -> list[dict[str, Any]]:
    """Rows of ``random_tokens.jsonl``: 32 distinct random tokens each (nothing repeats).

    Returns:
        Dicts ``{"id": "rnd-0000", "text": "<32 space-joined words>"}``.
    """
    rows = []
    for i in range(n_rows):
        idx = rng.choice(len(RANDOM_POOL), size=SEQ_WORDS, replace=False)
        rows.append({"id": f"rnd-{i:04d}", "text": " ".join(RANDOM_POOL[j] for j in idx)})
    return rows


def agreement_rows(rng: np.random.Generator, n_rows: int = EVAL_ROWS) -> list[dict[str, Any]]:
    """Rows of ``agreement.jsonl``: one-distractor prompts with a clean/corrupt minimal pair.

    Row ``i`` is in cell ``i % 8`` of (number x category x distractor same/opposite), so the
    dataset and each of its prefixes of 8k rows are balanced. Every prompt is
    ``the <subject> <prep> the <distractor>`` (6 tokens with ``<bos>``; the subject is token 2).

    Returns:
        Dicts with keys ``id, text, answer, wrong, number, category, subject, subject_pos,
        verb_class, corrupt_text, corrupt_answer, distractor, distractor_pos,
        distractor_number``.
    """
    rows = []
    for i in range(n_rows):
        cell = i % 8
        number = NUMBERS[cell % 2]
        category = CATEGORIES[(cell // 2) % 2]
        d_number = number if cell // 4 == 0 else _other(number)
        s = sample_sentence(
            rng, number=number, category=category, n_distractors=1, distractor_numbers=[d_number]
        )
        prompt: list[str] = s["prompt"]
        corrupt = list(prompt)
        corrupt[1] = s["subject"].form(_other(number))
        rows.append(
            {
                "id": f"agr-{i:04d}",
                "text": " ".join(prompt),
                "answer": s["answer"],
                "wrong": s["wrong"],
                "number": number,
                "category": category,
                "subject": prompt[1],
                "subject_pos": 2,
                "verb_class": s["verb"].verb_class,
                "corrupt_text": " ".join(corrupt),
                "corrupt_answer": s["wrong"],
                "distractor": s["distractors"][0][0],
                "distractor_pos": 5,
                "distractor_number": d_number,
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines in a fixed key order (stable bytes, hence stable hashes)."""
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=False, ensure_ascii=True) + "\n")


def write_eval_datasets(out_dir: Path, seed: int) -> dict[str, Any]:
    """Generate the three evaluation datasets and ``MANIFEST.json`` into ``out_dir``.

    Each dataset gets its own generator (``seed`` spawned into three streams), so the files
    do not depend on each other's sizes.

    Args:
        out_dir: the ``fixtures/data`` folder (created if missing).
        seed: the data seed (different from the training seed: the sets are held out).

    Returns:
        The manifest dict that was written.
    """
    from interpclaims._hashing import data_hash

    out_dir.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(3)
    builders = {
        "repeated_tokens.jsonl": (repeated_token_rows, streams[0]),
        "agreement.jsonl": (agreement_rows, streams[1]),
        "random_tokens.jsonl": (random_token_rows, streams[2]),
    }
    files: dict[str, Any] = {}
    for name, (build, stream) in builders.items():
        rows = build(np.random.default_rng(stream))
        path = out_dir / name
        _write_jsonl(path, rows)
        files[name] = {"sha256": data_hash(path), "rows": len(rows)}
    manifest = {
        "generator": "python -m interpclaims.zoo build",
        "seed": seed,
        "files": files,
    }
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
