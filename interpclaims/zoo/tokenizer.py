"""The word-level tokenizer of the zoo (one token per vocabulary word, ``<bos>`` prepended)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from interpclaims.zoo.vocab import BOS, EOS, PAD, UNK, token_to_id

#: Longest input the models accept (their ``max_position_embeddings`` / ``n_positions``).
MAX_POSITIONS = 64

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["build_tokenizer", "save_tokenizer"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the fast tokenizer: WordLevel model, WhitespaceSplit, ``<bos> $A`` template.

    ``tokenizer("the dog near the boxes")`` gives ``<bos>`` followed by one id per word; the
    ids are those of :func:`interpclaims.zoo.vocab.token_to_id`. Padding is on the right and
    the model inputs are ``input_ids`` and ``attention_mask`` only.

    Returns:
        A ``PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = token_to_id()
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, vocab[BOS])],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        clean_up_tokenization_spaces=False,
        model_max_length=MAX_POSITIONS,
    )
    return fast


def save_tokenizer(out_dir: Path) -> None:
    """Write ``tokenizer.json``, ``tokenizer_config.json`` and ``special_tokens_map.json``.

    Args:
        out_dir: the model folder.
    """
    build_tokenizer().save_pretrained(str(out_dir))
