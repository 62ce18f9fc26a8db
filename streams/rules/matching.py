"""Which reports a rule sees, which group they count in, and watch-list terms in their text."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.report import FieldReport
from sitrep.morphology import Stemmer, stem_text, words
from streams.rules.model import GroupBy, ReportFilter, Scope

__all__ = [
    "ReportText",
    "TermMatcher",
    "filter_matches",
    "group_code",
    "in_scope",
    "regency_of",
    "report_in_scope",
]


@dataclass(frozen=True)
class ReportText:
    """A report's text as surface words and as stemmed words (computed once per report)."""

    surface: tuple[str, ...]
    stems: tuple[str, ...]

    @classmethod
    def of(cls, text: str, stemmer: Stemmer | None = None) -> ReportText:
        return cls(tuple(words(text)), tuple(stem_text(text, stemmer).split()))

    @functools.cached_property
    def word_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        """(stems, surface words) as sets: most watch-list terms are a single word."""
        return frozenset(self.stems), frozenset(self.surface)


def _contains(haystack: Sequence[str], phrase: Sequence[str], word_set: frozenset[str]) -> bool:
    size = len(phrase)
    if size == 1:
        return phrase[0] in word_set
    if size == 0 or size > len(haystack):
        return False
    first = phrase[0]
    return any(
        haystack[start] == first and tuple(haystack[start : start + size]) == tuple(phrase)
        for start in range(len(haystack) - size + 1)
    )


@dataclass(frozen=True)
class TermMatcher:
    """Terms (single words or phrases) matched as consecutive words, stemmed or as written.

    "bentrok" finds "bentrokan", "bakar" finds "membakar" and "dibakar", and "senjata tajam"
    finds the two words next to each other in any of their forms.
    """

    terms: tuple[str, ...]
    stemmed: tuple[tuple[str, ...], ...]
    surface: tuple[tuple[str, ...], ...]

    @functools.cached_property
    def first_words(self) -> tuple[frozenset[str], frozenset[str]]:
        """(stemmed, as written) first words of the terms: a text holding none of them
        holds no term, which is the common case and settled by one set test."""
        return (
            frozenset(phrase[0] for phrase in self.stemmed if phrase),
            frozenset(phrase[0] for phrase in self.surface if phrase),
        )

    @classmethod
    def of(cls, terms: Iterable[str], stemmer: Stemmer | None = None) -> TermMatcher:
        terms = tuple(terms)
        return cls(
            terms,
            tuple(tuple(stem_text(term, stemmer).split()) for term in terms),
            tuple(tuple(words(term)) for term in terms),
        )

    def found(self, text: ReportText) -> tuple[str, ...]:
        """The terms present in the text, in the order the rule lists them."""
        stem_set, surface_set = text.word_sets
        stem_firsts, surface_firsts = self.first_words
        if stem_set.isdisjoint(stem_firsts) and surface_set.isdisjoint(surface_firsts):
            return ()
        return tuple(
            term
            for term, stemmed, surface in zip(self.terms, self.stemmed, self.surface, strict=True)
            if _contains(text.stems, stemmed, stem_set)
            or _contains(text.surface, surface, surface_set)
        )


def filter_matches(
    rule_filter: ReportFilter, report: FieldReport, text: ReportText, terms: TermMatcher | None
) -> bool:
    """Whether the report passes every condition of the filter (terms: any of them)."""
    f = rule_filter
    return (
        (not f.categories or report.category in f.categories)
        and f.severity_min <= report.severity <= f.severity_max
        and (not f.kinds or report.kind in f.kinds)
        and (not f.sources or report.source in f.sources)
        and (not f.phases or report.phase in f.phases)
        and (terms is None or bool(terms.found(text)))
    )


def _inside(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


def in_scope(scope: Scope, code: str) -> bool:
    """Whether an area (or the most precise code of a report) lies in the scope."""
    return any(_inside(code, prefix) or _inside(prefix, code) for prefix in scope.areas)


def report_in_scope(scope: Scope, report: FieldReport) -> bool:
    """Whether the report's most precise area lies in one of the scope's areas."""
    finest = report.village or report.subdistrict or report.district
    return any(_inside(finest, prefix) for prefix in scope.areas)


def group_code(group_by: GroupBy, report: FieldReport) -> str | None:
    """The area a report counts for; None if the report is not that precise."""
    match group_by:
        case "province":
            return report.district.split(".")[0]
        case "regency":
            return report.district
        case "kecamatan":
            return report.subdistrict
        case "village":
            return report.village
    return None  # pragma: no cover


def regency_of(code: str) -> str:
    return ".".join(code.split(".")[:2])
