"""Indonesian text handling done in Python, the same way for documents and queries.

The engine's Lucene ``IndonesianStemFilter`` misses forms analysts search for ("bentrokan" ->
"bentro", so "bentrok" would not find it). Documents therefore also carry
``text_stem``: the text stemmed with Sastrawi (dictionary based), and queries are stemmed with
the same stemmer (``sitrep.morphology``) before they are matched against it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

# The stemmer lives in sitrep.morphology (the alert rules use it too); re-exported here.
from sitrep.morphology import Stemmer, default_stemmer, stem_text, words

__all__ = [
    "MARK_CLOSE",
    "MARK_OPEN",
    "HighlightTerms",
    "Stemmer",
    "default_stemmer",
    "fragment",
    "highlight_plain",
    "highlight_terms",
    "mark_matches",
    "stem_text",
    "words",
]

# In highlighted HTML: a <mark> element, an HTML entity, or a word.
_HTML_PIECE: Final = re.compile(r"(<mark>.*?</mark>)|(&#?\w+;)|(\w+)", re.DOTALL)
MARK_OPEN: Final = "<mark>"
MARK_CLOSE: Final = "</mark>"


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
