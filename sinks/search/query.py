"""The analyst query language, parsed in Python so user input never reaches Elasticsearch as
query syntax: words and "quoted phrases" must all match, ``OR`` between alternatives,
``-word`` excludes, ``(...)`` groups, ``word*`` matches a prefix.

    bentrok "kantor bawaslu" -hoaks (amplop OR sembako) intimid*

A malformed query raises ``QuerySyntaxError`` with a message code and the position, which the API
turns into a 400 in the caller's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sinks.text import HighlightTerms, highlight_terms
from sitrep.morphology import Stemmer, stem_text

MAX_QUERY_CHARS: Final = 500
MAX_TERMS: Final = 32
MIN_PREFIX_CHARS: Final = 2
TEXT_FIELD: Final = "text"
STEM_FIELD: Final = "text_stem"


class QuerySyntaxError(ValueError):
    """``code`` names the message (see sinks.i18n); ``params`` fill it in."""

    def __init__(self, code: str, position: int | None = None, **params: Any) -> None:
        self.code = code
        self.position = position
        self.params = {"position": (position or 0) + 1, **params}
        super().__init__(f"{code} at {self.params['position']}: {params}")


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    word: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    text: str


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    children: tuple[Node, ...]


Node = Term | Phrase | Not | All | Any_


# --- tokens -------------------------------------------------------------------------------------

TokenKind = Literal["word", "phrase", "or", "minus", "open", "close"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    position: int


_SPECIAL: Final = '()"'


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("query_unclosed_quote", i)
            text = query[i + 1 : end].strip()
            if not text:
                raise QuerySyntaxError("query_empty_phrase", i)
            tokens.append(Token("phrase", text, i))
            i = end + 1
        elif char in "()":
            tokens.append(Token("open" if char == "(" else "close", char, i))
            i += 1
        elif char == "-" and (i + 1 == n or query[i + 1].isspace()):
            raise QuerySyntaxError("query_dangling_minus", i)
        elif char == "-" and (not tokens or _starts_token(query, i)):
            tokens.append(Token("minus", char, i))
            i += 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in _SPECIAL:
                i += 1
            word = query[start:i]
            tokens.append(Token("or" if word == "OR" else "word", word, start))
    return tokens


def _starts_token(query: str, i: int) -> bool:
    return i == 0 or query[i - 1].isspace() or query[i - 1] in "("


# --- parser -------------------------------------------------------------------------------------


@dataclass
class _Parser:
    tokens: list[Token]
    length: int
    index: int = 0
    terms: int = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def position(self) -> int:
        token = self.peek()
        return token.position if token else self.length

    def parse_or(self) -> Node:
        alternatives = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            alternatives.append(self.parse_and())
        return alternatives[0] if len(alternatives) == 1 else Any_(tuple(alternatives))

    def parse_and(self) -> Node:
        items: list[Node] = []
        while (token := self.peek()) is not None and token.kind in (
            "word",
            "phrase",
            "minus",
            "open",
        ):
            items.append(self.parse_unary())
        if not items:
            token = self.peek()
            if token is not None and token.kind == "close":
                raise QuerySyntaxError("query_empty_group", token.position)
            raise QuerySyntaxError("query_dangling_or", self.position())
        return items[0] if len(items) == 1 else All(tuple(items))

    def parse_unary(self) -> Node:
        token = self.take()
        if token.kind == "minus":
            following = self.peek()
            if following is None or following.kind not in ("word", "phrase", "open"):
                raise QuerySyntaxError("query_dangling_minus", token.position)
            return Not(self.parse_unary())
        if token.kind == "open":
            inner = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != "close":
                raise QuerySyntaxError("query_unclosed_group", token.position)
            self.take()
            return inner
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError("query_too_many_terms", token.position, limit=MAX_TERMS)
        if token.kind == "phrase":
            return Phrase(token.text)
        return _word(token)


def _word(token: Token) -> Term:
    word = token.text
    if "*" not in word:
        return Term(word)
    stem = word[:-1]
    if not word.endswith("*") or "*" in stem or len(stem) < MIN_PREFIX_CHARS:
        raise QuerySyntaxError(
            "query_bad_wildcard", token.position, word=word, min=MIN_PREFIX_CHARS
        )
    return Term(stem, prefix=True)


def parse_query(query: str) -> Node | None:
    """The query's syntax tree; None for an empty query (everything matches)."""
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError("query_too_long", MAX_QUERY_CHARS, limit=MAX_QUERY_CHARS)
    tokens = tokenize(query)
    if not tokens:
        return None
    parser = _Parser(tokens, len(query))
    node = parser.parse_or()
    leftover = parser.peek()
    if leftover is not None:
        # Only a ")" without its "(" can be left over.
        raise QuerySyntaxError("query_unopened_group", leftover.position)
    return node


# --- to Elasticsearch ---------------------------------------------------------------------------


def _either(engine: dict[str, Any], python: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"should": [engine, python], "minimum_should_match": 1}}


def to_es_query(node: Node, stemmer: Stemmer | None = None) -> dict[str, Any]:
    """Elasticsearch query for a syntax tree. Each word matches if either stemmer agrees:
    the engine's Indonesian analyzer on ``text`` or the Python stemmer on ``text_stem``.
    Stop words ("di", "yang") match everything rather than nothing."""
    if isinstance(node, Term):
        if node.prefix:
            lowered = node.word.lower()
            return _either(
                {"prefix": {TEXT_FIELD: {"value": lowered}}},
                {"prefix": {STEM_FIELD: {"value": lowered}}},
            )
        return _either(
            {"match": {TEXT_FIELD: {"query": node.word, "zero_terms_query": "all"}}},
            {
                "match": {
                    STEM_FIELD: {"query": stem_text(node.word, stemmer), "zero_terms_query": "all"}
                }
            },
        )
    if isinstance(node, Phrase):
        return _either(
            {"match_phrase": {TEXT_FIELD: {"query": node.text, "zero_terms_query": "all"}}},
            {
                "match_phrase": {
                    STEM_FIELD: {"query": stem_text(node.text, stemmer), "zero_terms_query": "all"}
                }
            },
        )
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_es_query(node.child, stemmer)]}}
    if isinstance(node, All):
        must = [to_es_query(c, stemmer) for c in node.children if not isinstance(c, Not)]
        must_not = [to_es_query(c.child, stemmer) for c in node.children if isinstance(c, Not)]
        clause: dict[str, Any] = {"must": must or [{"match_all": {}}]}
        if must_not:
            clause["must_not"] = must_not
        return {"bool": clause}
    return {
        "bool": {
            "should": [to_es_query(c, stemmer) for c in node.children],
            "minimum_should_match": 1,
        }
    }


def _positive(node: Node) -> Iterator[Term | Phrase]:
    if isinstance(node, Term | Phrase):
        yield node
    elif isinstance(node, All | Any_):
        for child in node.children:
            yield from _positive(child)


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    tree: Node | None
    terms: HighlightTerms = field(default_factory=HighlightTerms)

    def es_query(self, stemmer: Stemmer | None = None) -> dict[str, Any] | None:
        return None if self.tree is None else to_es_query(self.tree, stemmer)


def analyse_query(query: str, stemmer: Stemmer | None = None) -> ParsedQuery:
    """Parse and collect what highlighting needs (the words the query looks for)."""
    tree = parse_query(query.strip())
    if tree is None:
        return ParsedQuery(query, None)
    words: list[str] = []
    prefixes: list[str] = []
    for item in _positive(tree):
        if isinstance(item, Phrase):
            words.extend(item.text.split())
        elif item.prefix:
            prefixes.append(item.word)
        else:
            words.append(item.word)
    return ParsedQuery(query, tree, highlight_terms(words, prefixes, stemmer))
