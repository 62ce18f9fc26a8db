"""Indonesian word forms, shared by the indexer/search (sinks) and the alert rules (streams).

Sastrawi's dictionary stemmer reduces derived forms to their root ("bentrokan" -> "bentrok",
"membakar"/"dibakar" -> "bakar"), so a watch-list term or a query matches every form of it.
"""

from __future__ import annotations

import functools
import re
from typing import Final, Protocol

__all__ = [
    "WORD_CACHE_SIZE",
    "IndonesianStemmer",
    "Stemmer",
    "default_stemmer",
    "stem_text",
    "words",
]

_WORD: Final = re.compile(r"\w+", re.UNICODE)
_NOT_WORD: Final = re.compile(r"[^a-z0-9 -]+")
_DIGIT: Final = re.compile(r"[0-9]")
WORD_CACHE_SIZE: Final = 200_000


class Stemmer(Protocol):
    def stem(self, text: str) -> str: ...


class IndonesianStemmer:
    """Sastrawi's dictionary stemmer with a bounded word cache.

    Sastrawi's own cache keeps every word it ever saw (a slow leak in a long-running process)
    and stems numbers, which is costly and pointless; here words with digits are kept as they
    are and the cache holds the most recent 200,000 words.
    """

    def __init__(self, cache_size: int = WORD_CACHE_SIZE) -> None:
        from Sastrawi.Dictionary.ArrayDictionary import (  # type: ignore[import-untyped]
            ArrayDictionary,
        )
        from Sastrawi.Stemmer.Stemmer import Stemmer as SastrawiStemmer  # type: ignore[import-untyped]
        from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]

        stem_word = SastrawiStemmer(ArrayDictionary(StemmerFactory().get_words())).stem_word

        def stem_one(word: str) -> str:
            return word if _DIGIT.search(word) else str(stem_word(word))

        self._stem_word = functools.lru_cache(maxsize=cache_size)(stem_one)

    def stem(self, text: str) -> str:
        return " ".join(map(self._stem_word, _NOT_WORD.sub(" ", text.lower()).split()))


@functools.cache
def default_stemmer() -> Stemmer:
    """The process's stemmer (loading the dictionary takes a moment, so only once)."""
    return IndonesianStemmer()


def stem_text(text: str, stemmer: Stemmer | None = None) -> str:
    """Lowercased, punctuation-free, stemmed words separated by spaces."""
    return (stemmer or default_stemmer()).stem(text)


def words(text: str) -> list[str]:
    """The words of a text, lowercased."""
    return [w.lower() for w in _WORD.findall(text)]
