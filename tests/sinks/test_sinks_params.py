"""Search parameters as typed by people: times in WITA or UTC, areas by code or name, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.registry import AreaRegistry
from schemas.report import Category
from sinks.search.build import choose_interval, filter_clauses, search_body, sort_clause
from sinks.search.params import (
    Interval,
    InvalidParameter,
    InvalidQuery,
    SearchRequest,
    SortOrder,
    decode_cursor,
    encode_cursor,
    parse_search_request,
)


def parse(registry: AreaRegistry, **params: str | list[str]) -> SearchRequest:
    raw = {k.rstrip("_"): v if isinstance(v, list) else [v] for k, v in params.items()}
    return parse_search_request(raw, registry, default_timezone="Asia/Makassar", max_size=100)


def test_local_times_are_wita_by_default_and_a_bare_end_date_includes_its_day(
    registry: AreaRegistry,
) -> None:
    request = parse(registry, from_="2024-02-14", to="2024-02-14")
    assert request.filters.start == datetime(2024, 2, 13, 16, 0, tzinfo=UTC)
    assert request.filters.end == datetime(2024, 2, 14, 16, 0, tzinfo=UTC)
    window = filter_clauses(request.filters)[0]["range"]["occurred_at"]
    assert window == {"gte": "2024-02-13T16:00:00+00:00", "lt": "2024-02-14T16:00:00+00:00"}


def test_utc_and_explicit_offsets_are_honoured(registry: AreaRegistry) -> None:
    utc = parse(registry, from_="2024-02-14T09:30", tz="UTC")
    assert utc.filters.start == datetime(2024, 2, 14, 9, 30, tzinfo=UTC)
    offset = parse(registry, from_="2024-02-14T09:30:00+07:00")
    assert offset.filters.start == datetime(2024, 2, 14, 2, 30, tzinfo=UTC)
    zulu = parse(registry, to="2024-02-14T09:30:00Z", tz="WIB")
    assert zulu.filters.end == datetime(2024, 2, 14, 9, 30, tzinfo=UTC)


def test_areas_by_code_or_name(registry: AreaRegistry) -> None:
    request = parse(registry, regency=["64.71", "Samarinda"])
    assert request.filters.regency == ("64.71", "64.72")
    assert parse(registry, kecamatan="64.71.01").filters.kecamatan == ("64.71.01",)


@pytest.mark.parametrize(
    ("params", "name", "code"),
    [
        ({"severity_min": "9"}, "severity_min", "out_of_range"),
        ({"severity_min": "tiga"}, "severity_min", "not_a_number"),
        ({"severity_min": "4", "severity_max": "2"}, "severity_min", "severity_range"),
        ({"category": "riots"}, "category", "unknown_value"),
        ({"from_": "kemarin"}, "from", "bad_time"),
        ({"from_": "2024-02-15", "to": "2024-02-14"}, "from", "time_range"),
        ({"tz": "Mars/Olympus"}, "tz", "unknown_timezone"),
        ({"regency": "99.99"}, "regency", "unknown_area"),
        ({"regency": "Atlantis"}, "regency", "unknown_area"),
        ({"size": "1000"}, "size", "out_of_range"),
        ({"cursor": "not-a-cursor"}, "cursor", "bad_cursor"),
        ({"sort": "random"}, "sort", "unknown_value"),
    ],
)
def test_bad_parameters_name_the_parameter(
    registry: AreaRegistry, params: dict[str, str], name: str, code: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse(registry, **params)
    assert (caught.value.name, caught.value.code) == (name, code)


def test_bad_query_is_its_own_error(registry: AreaRegistry) -> None:
    with pytest.raises(InvalidQuery):
        parse(registry, q='"bentrok')


def test_comma_separated_and_repeated_values_combine(registry: AreaRegistry) -> None:
    request = parse(registry, category=["clash,riot", "hoax"], kind="incident")
    assert request.filters.category == (Category.CLASH, Category.RIOT, Category.HOAX)
    terms = filter_clauses(request.filters)
    assert {"terms": {"category": ["clash", "riot", "hoax"]}} in terms


def test_cursor_round_trip_and_sort_must_match() -> None:
    cursor = encode_cursor(SortOrder.NEWEST, [1707900000000, "r-1"])
    assert decode_cursor(cursor, SortOrder.NEWEST) == (1707900000000, "r-1")
    with pytest.raises(InvalidParameter):
        decode_cursor(cursor, SortOrder.OLDEST)


def test_default_sort_is_relevance_with_a_query_and_newest_without(
    registry: AreaRegistry,
) -> None:
    assert parse(registry, q="bentrok").sort is SortOrder.RELEVANCE
    assert parse(registry).sort is SortOrder.NEWEST
    for order in SortOrder:
        assert sort_clause(order)[-1] == {"report_id": "asc"}


def test_search_body_has_exact_totals_facets_and_search_after(registry: AreaRegistry) -> None:
    request = parse(registry, q="bentrok", cursor=encode_cursor(SortOrder.RELEVANCE, [1.5, 1, "x"]))
    body = search_body(request, datetime(2024, 2, 14, tzinfo=UTC))
    assert body["track_total_hits"] is True
    assert body["search_after"] == [1.5, 1, "x"]
    assert set(body["aggs"]) == {"category", "regency", "severity", "occurred"}
    assert body["aggs"]["occurred"]["date_histogram"]["time_zone"] == "Asia/Makassar"
    assert "highlight" in body


def test_histogram_interval_follows_the_range() -> None:
    now = datetime(2024, 2, 14, tzinfo=UTC)
    day = datetime(2024, 2, 13, tzinfo=UTC)
    assert choose_interval(Interval.AUTO, day, now, now) is Interval.HOUR
    assert (
        choose_interval(Interval.AUTO, datetime(2024, 1, 1, tzinfo=UTC), now, now) is Interval.DAY
    )
    assert (
        choose_interval(Interval.AUTO, datetime(2023, 1, 1, tzinfo=UTC), now, now) is Interval.WEEK
    )
    assert choose_interval(Interval.AUTO, None, None, now) is Interval.DAY
    assert choose_interval(Interval.MONTH, day, now, now) is Interval.MONTH
