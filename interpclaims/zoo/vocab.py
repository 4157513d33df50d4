"""The fixed vocabulary of the zoo: special tokens, a random-token pool, and a toy grammar.

Every entry is one whitespace-free word and becomes exactly one token of the word-level
tokenizer (see :mod:`interpclaims.zoo.tokenizer`). The order of :func:`vocabulary` fixes the
token ids, so changing anything here changes every shipped model and dataset hash.

This module is stdlib-only (no torch, no numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BOS",
    "CATEGORIES",
    "DETERMINER",
    "EOS",
    "NOUNS",
    "PAD",
    "PREPOSITIONS",
    "RANDOM_POOL",
    "SPECIAL_TOKENS",
    "UNK",
    "VERBS",
    "Noun",
    "Verb",
    "token_to_id",
    "verbs_for_category",
    "vocabulary",
]

BOS = "<bos>"
EOS = "<eos>"
PAD = "<pad>"
UNK = "<unk>"
#: Special tokens; their position in this tuple is their token id (0..3).
SPECIAL_TOKENS: tuple[str, ...] = (BOS, EOS, PAD, UNK)

_CONSONANTS = "bdfgklmnprstvz"  # 14 consonants
_VOWELS = "aeiou"  # 5 vowels


def _make_random_pool(size: int = 64) -> tuple[str, ...]:
    """Nonsense consonant-vowel syllables (``ba``, ``be``, ... ) used as random tokens.

    Args:
        size: how many syllables to take, in the fixed order consonant-major.

    Returns:
        ``size`` distinct two-letter words, none of which is a grammar word.
    """
    pool = [c + v for c in _CONSONANTS for v in _VOWELS]
    return tuple(pool[:size])


#: The 64 random tokens of the induction task (``ba`` ... ``te``-like syllables).
RANDOM_POOL: tuple[str, ...] = _make_random_pool(64)

#: The only determiner of the grammar, so that number is carried by the noun alone.
DETERMINER = "the"


@dataclass(frozen=True)
class Noun:
    """A noun of the toy grammar: its two number forms and its semantic category."""

    singular: str
    plural: str
    category: str

    def form(self, number: str) -> str:
        """The surface word for ``number`` ("singular" or "plural")."""
        return self.singular if number == "singular" else self.plural


@dataclass(frozen=True)
class Verb:
    """A verb of the toy grammar: third-person singular and plural present forms.

    ``verb_class`` is ``"shared"`` (any subject), ``"animal"`` or ``"object"`` (only subjects
    of that category), which makes the subject's category a feature the model must use.
    """

    singular: str
    plural: str
    verb_class: str

    def form(self, number: str) -> str:
        """The surface word agreeing with a subject of ``number``."""
        return self.singular if number == "singular" else self.plural


CATEGORIES: tuple[str, ...] = ("animal", "object")

NOUNS: tuple[Noun, ...] = (
    Noun("dog", "dogs", "animal"),
    Noun("cat", "cats", "animal"),
    Noun("horse", "horses", "animal"),
    Noun("bird", "birds", "animal"),
    Noun("cow", "cows", "animal"),
    Noun("wolf", "wolves", "animal"),
    Noun("box", "boxes", "object"),
    Noun("lamp", "lamps", "object"),
    Noun("chair", "chairs", "object"),
    Noun("car", "cars", "object"),
    Noun("rock", "rocks", "object"),
    Noun("cup", "cups", "object"),
)

PREPOSITIONS: tuple[str, ...] = ("near", "behind", "under", "beside", "above", "past")

VERBS: tuple[Verb, ...] = (
    Verb("moves", "move", "shared"),
    Verb("falls", "fall", "shared"),
    Verb("stays", "stay", "shared"),
    Verb("eats", "eat", "animal"),
    Verb("sleeps", "sleep", "animal"),
    Verb("runs", "run", "animal"),
    Verb("sings", "sing", "animal"),
    Verb("breaks", "break", "object"),
    Verb("shines", "shine", "object"),
    Verb("rusts", "rust", "object"),
    Verb("tips", "tip", "object"),
)


def verbs_for_category(category: str) -> tuple[Verb, ...]:
    """The verbs a subject of ``category`` may take: the shared ones plus its own class."""
    return tuple(v for v in VERBS if v.verb_class in ("shared", category))


def vocabulary() -> list[str]:
    """All words in token-id order: specials, random pool, then grammar words.

    Returns:
        A list of distinct words; index = token id.
    """
    words: list[str] = list(SPECIAL_TOKENS) + list(RANDOM_POOL) + [DETERMINER]
    for noun in NOUNS:
        words += [noun.singular, noun.plural]
    words += list(PREPOSITIONS)
    for verb in VERBS:
        words += [verb.singular, verb.plural]
    if len(set(words)) != len(words):  # pragma: no cover - guards edits of the lists above
        raise AssertionError("zoo vocabulary has duplicate words")
    return words


def token_to_id() -> dict[str, int]:
    """Mapping word -> token id, consistent with :func:`vocabulary`."""
    return {w: i for i, w in enumerate(vocabulary())}
