"""Indonesian text handling done in Python, the same way for documents and queries.

The engine's Lucene ``IndonesianStemFilter`` misses forms analysts search for
("bentrokan" -> "bentro", so "bentrok" would not find it). Documents therefore also carry
``text_stem``: the text stemmed with Sastrawi (dictionary based), and queries are stemmed with
the same stemmer before they are matched against it.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

_WORD: Final = re.compile(r"\w+", re.UNICODE)
# In highlighted HTML: a <mark> element, an HTML entity, or a word.
_HTML_PIECE: Final = re.compile(r"(<mark>.*?</mark>)|(&#?\w+;)|(\w+)", re.DOTALL)
MARK_OPEN: Final = "<mark>"
MARK_CLOSE: Final = "</mark>"


class Stemmer(Protocol):
    def stem(self, text: str) -> str: ...


_NOT_WORD: Final = re.compile(r"[^a-z0-9 -]+")
_DIGIT: Final = re.compile(r"[0-9]")
WORD_CACHE_SIZE: Final = 200_000


class IndonesianStemmer:
    """Sastrawi's dictionary stemmer with a bounded word cache.

    Sastrawi's own cache keeps every word it ever saw (a slow leak in a long-running indexer)
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
    return [w.lower() for w in _WORD.findall(text)]


@dataclass(frozen=True)
class HighlightTerms:
    """What a query looks for, in the form the Python highlighter compares words with."""

    stems: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    surface: frozenset[str] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        return not (self.stems or self.prefixes or self.surface)


def highlight_terms(
    query_words: Iterable[str], prefixes: Iterable[str] = (), stemmer: Stemmer | None = None
) -> HighlightTerms:
    query_words = [w.lower() for w in query_words]
    stems = {stem_text(w, stemmer) for w in query_words}
    return HighlightTerms(
        stems=frozenset(s for s in stems if s),
        prefixes=tuple(p.lower() for p in prefixes),
        surface=frozenset(query_words),
    )


def _matches(word: str, terms: HighlightTerms, stemmer: Stemmer | None) -> bool:
    lowered = word.lower()
    if lowered in terms.surface or lowered.startswith(terms.prefixes or ("\0",)):
        return True
    return bool(terms.stems) and stem_text(lowered, stemmer) in terms.stems


def mark_matches(highlighted: str, terms: HighlightTerms, stemmer: Stemmer | None = None) -> str:
    """Add <mark> around words of already HTML-escaped text whose stem the query looks for.

    ``highlighted`` is Elasticsearch's highlight (escaped, with <mark> around what the engine's
    analyzer matched); words the Python stemmer matches are marked too.
    """
    if terms.empty:
        return highlighted

    def replace(match: re.Match[str]) -> str:
        marked, entity, word = match.groups()
        if marked or entity:
            return match.group(0)
        return f"{MARK_OPEN}{word}{MARK_CLOSE}" if _matches(word, terms, stemmer) else word

    return _HTML_PIECE.sub(replace, highlighted)


def highlight_plain(text: str, terms: HighlightTerms, stemmer: Stemmer | None = None) -> str:
    """Escape plain text and mark the query's words in it."""
    return mark_matches(html.escape(text, quote=False), terms, stemmer)


def fragment(highlighted: str, max_chars: int = 240) -> str:
    """A window of at most about ``max_chars`` around the first mark, cut at word boundaries.

    Never cuts inside a <mark> element or an HTML entity; "…" shows where text was left out.
    """
    if len(highlighted) <= max_chars:
        return highlighted
    first = highlighted.find(MARK_OPEN)
    start = 0 if first < 0 else max(0, first - max_chars // 3)
    if start > 0:
        space = highlighted.find(" ", start, first if first >= 0 else None)
        start = space + 1 if space >= 0 else start
        entity_open = highlighted.rfind("&", 0, start)
        if entity_open >= 0 and highlighted.find(";", entity_open, start) < 0:
            start = entity_open
    end = start + max_chars
    if end >= len(highlighted):
        end = len(highlighted)
    else:
        open_before = highlighted.rfind(MARK_OPEN, 0, end)
        close_before = highlighted.rfind(MARK_CLOSE, 0, end)
        if open_before > close_before:  # inside a mark element: keep it whole
            end = highlighted.find(MARK_CLOSE, end - len(MARK_CLOSE) + 1) + len(MARK_CLOSE)
        entity_open = highlighted.rfind("&", 0, end)
        if entity_open >= 0 and highlighted.find(";", entity_open, end) < 0:
            end = highlighted.find(";", end) + 1
        space = highlighted.rfind(" ", start, end)
        if space > start and highlighted.rfind(MARK_OPEN, space, end) < 0:
            end = space
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(highlighted) else ""
    return f"{prefix}{highlighted[start:end].strip()}{suffix}"
