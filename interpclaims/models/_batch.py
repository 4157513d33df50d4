"""Token batches: prompts to right-padded token ids, and how many prompts one forward pass takes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims._errors import DataError

if TYPE_CHECKING:
    import torch

    from interpclaims._sites import Site
    from interpclaims.backends import ModelSpec

__all__ = ["BATCH_SIZE", "Batch", "memory_cap_bytes", "prompts_per_pass", "returned_bytes",
           "token_id", "tokenize"]

BATCH_SIZE = 64


def memory_cap_bytes() -> int:
    """The memory cap of one batch's activations (``INTERPCLAIMS_MEMORY_CAP_MB``, default 512),
    read when used so that a test or a session can change it."""
    return int(float(os.environ.get("INTERPCLAIMS_MEMORY_CAP_MB", "512")) * 2**20)


@dataclass(frozen=True, slots=True)
class Batch:
    """Right-padded token ids of a list of prompts."""

    tokens: torch.Tensor  # [batch, pos] long
    lengths: torch.Tensor  # [batch] long, number of real tokens (incl. bos)
    ids: tuple[str, ...]

    @property
    def mask(self) -> torch.Tensor:
        """``[batch, pos]`` bool, True on real tokens."""
        import torch

        pos = torch.arange(self.tokens.shape[1])
        return pos[None, :] < self.lengths[:, None]


def prompts_per_pass(spec: ModelSpec, tokens: torch.Tensor, bases: Sequence[Site],
                     requested: int | None) -> int:
    """Prompts per forward pass over ``tokens`` ``[batch, pos]``: ``requested``, else as many
    as fit the memory cap, at most :data:`BATCH_SIZE`."""
    if requested is not None:
        return max(1, int(requested))
    # activations of the reads and logits, times 4 for the model's own intermediates
    per_prompt = 4 * returned_bytes(spec, tokens[:1], bases)
    return int(max(1, min(BATCH_SIZE, memory_cap_bytes() // max(per_prompt, 1))))


def returned_bytes(spec: ModelSpec, tokens: torch.Tensor, bases: Sequence[Site]) -> int:
    """Bytes of what a forward pass over ``tokens`` ``[batch, pos]`` returns: the logits and
    the activations of ``bases``, in float32."""
    s = spec
    pos = tokens.shape[1]
    width = {"z": s.n_heads * s.d_head, "pattern": s.n_heads * pos, "mlp_post": s.d_mlp}
    floats = pos * (s.d_vocab + sum(width.get(b.kind, s.d_model) for b in bases))
    return int(tokens.shape[0] * floats * 4)


def token_id(tokenizer: Any, word: str, *, where: str, model_name: str) -> int:
    """The single token id of ``word`` (tried with and without a leading space)."""
    tok = tokenizer
    for text in (" " + word, word):
        ids = tok.encode(text, add_special_tokens=False)
        if len(ids) == 1 and ids[0] != tok.unk_token_id:
            return int(ids[0])
    raise DataError(
        f"{where}: {word!r} is not a single token of {model_name}'s tokenizer (got "
        f"{tok.tokenize(' ' + word)}); answers compared by logit must be single tokens"
    )


def tokenize(tokenizer: Any, texts: Sequence[str], ids: Sequence[str], *, bos_id: int,
             pad_id: int, n_ctx: int, model_name: str) -> Batch:
    """bos + tokens of each prompt, right-padded with ``pad_id``. Unknown words are an error,
    and so is a prompt longer than the context ``n_ctx``."""
    import torch

    tok = tokenizer
    rows = []
    for text, pid in zip(texts, ids, strict=True):
        toks = tok.encode(text, add_special_tokens=False)
        if tok.unk_token_id is not None and tok.unk_token_id in toks:
            words = [w for w in text.split() if tok.encode(w, add_special_tokens=False)
                     == [tok.unk_token_id]]
            raise DataError(
                f"prompt {pid!r}: {words or 'some words'} are not in the vocabulary of "
                f"{model_name} (they tokenize to {tok.unk_token!r}); fix the prompt or use a "
                "dataset written for this model"
            )
        rows.append([bos_id, *toks])
    longest = max(len(r) for r in rows)
    if longest > n_ctx:
        pid = ids[max(range(len(rows)), key=lambda i: len(rows[i]))]
        raise DataError(
            f"prompt {pid!r} is {longest} tokens long but {model_name} has a context of "
            f"{n_ctx} tokens; shorten it"
        )
    tokens = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    return Batch(tokens=tokens, lengths=lengths, ids=tuple(ids))
