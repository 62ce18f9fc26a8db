"""The analyst query language: what parses, what is rejected, and what reaches Elasticsearch."""

from __future__ import annotations

import json

import pytest

from sinks.search.query import (
    All,
    Any_,
    Not,
    Phrase,
    QuerySyntaxError,
    Term,
    analyse_query,
    parse_query,
    to_es_query,
)


def test_words_phrases_or_exclusion_groups_and_prefixes() -> None:
    tree = parse_query('bentrok "kantor bawaslu" -hoaks (amplop OR sembako) intimid*')
    assert tree == All(
        (
            Term("bentrok"),
            Phrase("kantor bawaslu"),
            Not(Term("hoaks")),
            Any_((Term("amplop"), Term("sembako"))),
            Term("intimid", prefix=True),
        )
    )


def test_empty_query_matches_everything() -> None:
    assert parse_query("   ") is None
    assert analyse_query("").es_query() is None


def test_hyphenated_words_are_words() -> None:
    assert parse_query("anti-hoaks") == Term("anti-hoaks")


@pytest.mark.parametrize(
    ("query", "code", "position"),
    [
        ('"kantor bawaslu', "query_unclosed_quote", 1),
        ('""', "query_empty_phrase", 1),
        ("bentrok -", "query_dangling_minus", 9),
        ("bentrok OR", "query_dangling_or", 11),
        ("OR bentrok", "query_dangling_or", 1),
        ("(amplop OR sembako", "query_unclosed_group", 1),
        ("amplop)", "query_unopened_group", 7),
        ("()", "query_empty_group", 2),
        ("a*b", "query_bad_wildcard", 1),
        ("k*", "query_bad_wildcard", 1),
        ("*", "query_bad_wildcard", 1),
    ],
)
def test_malformed_queries_say_what_and_where(query: str, code: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.code == code
    assert caught.value.params["position"] == position


def test_limits_on_length_and_terms() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("a" * 501)
    assert caught.value.code == "query_too_long"
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(" ".join(f"w{i}" for i in range(33)))
    assert caught.value.code == "query_too_many_terms"


def test_each_word_matches_through_either_stemmer() -> None:
    query = to_es_query(Term("bentrokan"))
    should = query["bool"]["should"]
    assert should[0] == {"match": {"text": {"query": "bentrokan", "zero_terms_query": "all"}}}
    assert should[1] == {"match": {"text_stem": {"query": "bentrok", "zero_terms_query": "all"}}}
    assert query["bool"]["minimum_should_match"] == 1


def test_exclusions_become_must_not_and_user_text_is_only_ever_a_query_value() -> None:
    hostile = '{"script": {"source": "x"}} query_string:* _all'
    query = to_es_query(All((Term("aman"), Not(Phrase(hostile)))))
    assert len(query["bool"]["must_not"]) == 1
    rendered = json.dumps(query)
    assert '"script"' not in rendered.replace('\\"script\\"', "")
    assert "query_string" not in json.dumps(list(_keys(query)))


def _keys(node: object) -> list[str]:
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in [key, *_keys(value)]]
    if isinstance(node, list):
        return [k for item in node for k in _keys(item)]
    return []


def test_highlight_terms_are_the_positive_words_stemmed() -> None:
    parsed = analyse_query('bentrokan "kantor polisi" -hoaks intimid*')
    assert {"bentrok", "kantor", "polisi"} <= parsed.terms.stems
    assert "hoaks" not in parsed.terms.stems
    assert parsed.terms.prefixes == ("intimid",)
