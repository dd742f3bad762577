"""Codeword matching as a person typing on a phone would expect it.

The rule (documented in docs/words.md): both the message and each phrase go through
the one normaliser, `bot.words.normalise` (lower case, accents, punctuation and emoji
removed, contractions spelled out, runs of spaces folded). A phrase matches when its words appear as consecutive whole words in the
message. So "is mr brown in today" matches "Hi, is Mr. Brown in today?? thanks", but
a message that merely shares a word ("brown bread") does not.
"""

from __future__ import annotations

from .words import normalise

__all__ = ["PhraseMatcher", "normalise"]


class PhraseMatcher:
    """Finds which key's phrase occurs in a message; the longest phrase wins."""

    def __init__(self, phrases: dict[str, tuple[str, ...]]):
        self._phrases = sorted(
            ((f" {normalise(p)} ", key) for key, ps in phrases.items() for p in ps),
            key=lambda item: -len(item[0]),
        )

    def match(self, text: str) -> str | None:
        padded = f" {normalise(text)} "
        for phrase, key in self._phrases:
            if phrase in padded:
                return key
        return None
