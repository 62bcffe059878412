"""Parsing what a user types as text prompts: phrases, negatives (``-dog``), stop words."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...errors import PromptError

__all__ = ["STOPWORDS", "parse_phrases"]

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "some",
        "any",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "with",
        "by",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "it",
        "its",
        "my",
        "your",
        "our",
        "their",
        "his",
        "her",
        "there",
        "here",
        "please",
        "find",
        "show",
        "me",
        "segment",
        "select",
        "all",
        "every",
        "one",
    ]
)
_ARTICLES = ("a ", "an ", "the ")


def parse_phrases(
    text: str | Sequence[str], negative: str | Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Split text into (positive, negative) phrases; raise :class:`PromptError` when none is usable."""
    if text is None:
        raise PromptError("no text given: describe the object, e.g. 'a red mug'")
    raw = [text] if isinstance(text, str) else list(text)
    pieces = [p for t in raw for p in re.split(r"[,;|\n]+", str(t))]
    neg_raw = [] if negative is None else ([negative] if isinstance(negative, str) else list(negative))
    neg_pieces = [p for t in neg_raw for p in re.split(r"[,;|\n]+", str(t))]
    pos: list[str] = []
    neg: list[str] = []
    only_stop: list[str] = []
    for piece, is_neg in [(p, False) for p in pieces] + [(p, True) for p in neg_pieces]:
        phrase = " ".join(piece.split())
        if phrase.startswith("-"):
            phrase, is_neg = phrase[1:].strip(), True
        if not phrase:
            continue
        words = re.findall(r"[\w']+", phrase.lower())
        if not words or all(w in STOPWORDS for w in words):
            only_stop.append(phrase)
            continue
        low = phrase.lower()
        for art in _ARTICLES:
            if low.startswith(art):
                phrase = phrase[len(art) :].strip()
                break
        target = neg if is_neg else pos
        if phrase not in target:
            target.append(phrase)
    if not pos:
        if only_stop:
            raise PromptError(
                f"text {', '.join(repr(p) for p in only_stop)} has only stopwords; name the object, e.g. 'a red mug'"
            )
        if neg:
            raise PromptError("only negative phrases given; add what to find, e.g. 'cat, -dog'")
        raise PromptError("text is empty: describe the object, e.g. 'a red mug' (several: 'cat, dog')")
    return pos, neg


# --- proposals --------------------------------------------------------------------------
