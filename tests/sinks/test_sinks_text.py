"""Indonesian stemming in Python and the highlighter built on it."""

from __future__ import annotations

import pytest

from sinks.text import fragment, highlight_plain, highlight_terms, mark_matches
from sitrep.morphology import stem_text


@pytest.mark.parametrize(
    ("word", "stem"),
    [("bentrokan", "bentrok"), ("berkampanye", "kampanye"), ("dirusak", "rusak")],
)
def test_stemmer_finds_the_root_analysts_search_for(word: str, stem: str) -> None:
    assert stem_text(word) == stem


def test_stemmed_text_is_lowercase_words_without_punctuation() -> None:
    assert stem_text("Bentrokan di depan Kantor Bawaslu!") == "bentrok di depan kantor bawaslu"


def test_highlight_marks_every_form_of_the_query_word() -> None:
    terms = highlight_terms(["bentrok"])
    marked = highlight_plain("Bentrokan kecil; massa bentrok lagi <malam>", terms)
    assert marked == ("<mark>Bentrokan</mark> kecil; massa <mark>bentrok</mark> lagi &lt;malam&gt;")


def test_marking_keeps_engine_marks_and_entities_intact() -> None:
    terms = highlight_terms(["amp", "kampanye"])
    marked = mark_matches("<mark>kampanye</mark> &amp; berkampanye", terms)
    assert marked == "<mark>kampanye</mark> &amp; <mark>berkampanye</mark>"


def test_prefix_terms_mark_words_that_start_with_them() -> None:
    terms = highlight_terms([], prefixes=["intimid"])
    assert highlight_plain("Ada intimidasi saksi", terms) == "Ada <mark>intimidasi</mark> saksi"


def test_fragment_keeps_short_text_and_cuts_long_text_around_the_first_mark() -> None:
    assert fragment("pendek <mark>x</mark>") == "pendek <mark>x</mark>"
    long_text = " ".join(["kata"] * 100) + " <mark>bentrokan</mark> " + " ".join(["lain"] * 100)
    cut = fragment(long_text, max_chars=120)
    assert "<mark>bentrokan</mark>" in cut
    assert cut.startswith("…") and cut.endswith("…")
    assert len(cut) <= 130


def test_fragment_never_splits_a_mark_or_an_entity() -> None:
    text = "a " * 50 + "&amp;&amp; <mark>bentrokan</mark>" + " b" * 200
    for width in range(20, 140, 7):
        cut = fragment(text, max_chars=width)
        assert cut.count("<mark>") == cut.count("</mark>")
        assert "&am…" not in cut and not cut.rstrip("…").endswith(("&", "&amp"))
