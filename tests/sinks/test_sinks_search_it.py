"""Analyst search over the real Elasticsearch: morphology, filters, facets, deep paging,
export, report detail and the errors people see."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers
from fastapi.testclient import TestClient

from schemas.registry import default_registry
from sinks.documents import report_action
from sinks.es.names import IndexNames
from sinks.es.setup import setup
from sinks.web import create_app
from sitrep import clients
from sitrep.settings import Settings
from sitrep.topics import desired_topics, ensure_topics

from .conftest import build_report, with_anonymous_role

pytestmark = pytest.mark.integration

WITA = timezone(timedelta(hours=8))


def corpus() -> list[Any]:
    registry = default_registry()
    day = datetime(2024, 2, 14, 9, 0, tzinfo=WITA)

    def report(n: int, **fields: Any) -> Any:
        return build_report(registry, report_id=f"s-{n:02d}", **fields)

    return [
        report(1, text="Bentrokan antar pendukung di Balikpapan.", occurred_at=day),
        report(2, text="Massa bentrok dengan aparat.", occurred_at=day + timedelta(hours=1)),
        report(
            3,
            text="Tim sukses berkampanye di luar jadwal.",
            category="campaign_violation",
            severity=2,
            district="64.72",
            subdistrict="64.72.01",
            occurred_at=day + timedelta(days=1),
        ),
        report(
            4,
            text="Kampanye terbuka berjalan tertib.",
            category="campaign_violation",
            kind="check_in",
            severity=1,
            district="64.72",
            phase="campaign",
            source="radio",
            reporter={"unit": "Polres Samarinda", "role": "polres"},
            occurred_at=day + timedelta(days=1, hours=2),
        ),
        report(
            5,
            text="Pembagian amplop kepada warga menjelang pemungutan suara.",
            category="money_politics",
            severity=4,
            village="64.71.01.1001",
            phase="quiet_period",
            source="hotline",
            occurred_at=day + timedelta(days=2),
        ),
        # 23:30 WITA on 15 February is 15:30 UTC the same day; 00:30 WITA on the 16th is
        # still the 15th in UTC: the time zone decides which day they belong to.
        report(
            6,
            text="Kerusuhan kecil di depan kantor KPU.",
            category="riot",
            severity=5,
            occurred_at=datetime(2024, 2, 15, 23, 30, tzinfo=WITA),
        ),
        report(
            7,
            text="Hoaks penundaan pemilu beredar di grup WhatsApp.",
            category="hoax",
            severity=2,
            source="social_media",
            occurred_at=datetime(2024, 2, 16, 0, 30, tzinfo=WITA),
        ),
        report(
            8,
            text="Situasi aman, patroli rutin.",
            category="other",
            kind="check_in",
            severity=1,
            incident_id="s-01",
            occurred_at=day + timedelta(hours=5),
        ),
    ]


def index_reports(es: Elasticsearch, settings: Settings, reports: list[Any]) -> None:
    names = IndexNames(settings.indexer.index_prefix)
    registry = default_registry()
    now = datetime.now(UTC)
    actions = (
        {
            "_index": a.index,
            "_id": a.doc_id,
            "_source": a.source,
        }
        for a in (report_action(r, names, registry, now) for r in reports)
    )
    helpers.bulk(es, actions, chunk_size=2000)
    es.indices.refresh(index=names.reports)


@contextmanager
def own_search_settings(local_stack: Settings, **web: Any) -> Iterator[Settings]:
    """Settings with indices and an audit topic of their own (exports are recorded there, so
    no other run sees them). Search needs the analyst role; these tests are about search, so
    anonymous callers have it."""
    tag = f"it{uuid.uuid4().hex[:8]}"
    indexer = local_stack.indexer.model_copy(update={"index_prefix": tag})
    topics = local_stack.kafka.topics.model_copy(update={"audit": f"{tag}.audit"})
    kafka = local_stack.kafka.model_copy(update={"topics": topics})
    settings = with_anonymous_role(
        local_stack.model_copy(
            update={
                "indexer": indexer,
                "kafka": kafka,
                "web": local_stack.web.model_copy(update=web),
            }
        ),
        "analyst",
    )
    admin = clients.kafka_admin(settings)
    try:
        ensure_topics(admin, [t for t in desired_topics(kafka) if t.name == topics.audit])
        yield settings
        admin.delete_topics([topics.audit])
    finally:
        admin.close()


@pytest.fixture(scope="module")
def search_env(local_stack: Settings) -> Iterator[tuple[Settings, Elasticsearch]]:
    with own_search_settings(local_stack) as settings:
        yield from indexed_corpus(settings)


def indexed_corpus(settings: Settings) -> Iterator[tuple[Settings, Elasticsearch]]:
    tag = settings.indexer.index_prefix
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    index_reports(es, settings, corpus())
    yield settings, es
    es.indices.delete(index=f"{tag}-*")
    for family in ("reports", "status", "status-history", "alerts"):
        es.indices.delete_index_template(name=f"{tag}-{family}")
    es.cluster.delete_component_template(name=f"{tag}-settings")
    es.close()


@pytest.fixture(scope="module")
def web(search_env: tuple[Settings, Elasticsearch]) -> Iterator[TestClient]:
    settings, es = search_env
    with TestClient(create_app(settings, es=es)) as client:
        yield client


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {hit["report_id"] for hit in response.json()["hits"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("bentrok", {"s-01", "s-02"}),  # finds "Bentrokan" too
        ("bentrokan", {"s-01", "s-02"}),
        ("kampanye", {"s-03", "s-04"}),  # finds "berkampanye" too
        ("berkampanye", {"s-03", "s-04"}),
        ("amplop", {"s-05"}),
        ('"pemungutan suara"', {"s-05"}),
        ("kampanye -tertib", {"s-03"}),
        ("amplop OR hoaks", {"s-05", "s-07"}),
        ("bentro*", {"s-01", "s-02"}),
        ("di kantor", {"s-06"}),  # "di" is a stop word: it matches rather than excludes
    ],
)
def test_indonesian_morphology_and_query_language(
    web: TestClient, query: str, expected: set[str]
) -> None:
    assert ids(web.get("/v1/search", params={"q": query})) == expected


def test_highlights_mark_the_word_forms_that_matched(web: TestClient) -> None:
    hits = web.get("/v1/search", params={"q": "bentrok"}).json()["hits"]
    highlights = {h["report_id"]: h["highlight"] for h in hits}
    assert highlights["s-01"] == "<mark>Bentrokan</mark> antar pendukung di Balikpapan."
    assert highlights["s-02"] == "Massa <mark>bentrok</mark> dengan aparat."


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"regency": "64.72"}, {"s-03", "s-04"}),
        ({"regency": "Kota Samarinda"}, {"s-03", "s-04"}),
        ({"kecamatan": "64.72.01"}, {"s-03"}),
        ({"village": "64.71.01.1001"}, {"s-05"}),
        ({"category": "campaign_violation,hoax"}, {"s-03", "s-04", "s-07"}),
        ({"severity_min": "4"}, {"s-05", "s-06"}),
        ({"severity_min": "2", "severity_max": "3"}, {"s-01", "s-02", "s-03", "s-07"}),
        ({"kind": "check_in"}, {"s-04", "s-08"}),
        ({"phase": "quiet_period"}, {"s-05"}),
        ({"source": "radio"}, {"s-04"}),
        ({"source": "social_media", "q": "hoaks"}, {"s-07"}),
        ({"unit": "polres samarinda"}, {"s-04"}),
        ({"incident_id": "s-01"}, {"s-01", "s-08"}),
        # WITA days (the default): the 15th runs 15 Feb 00:00 to 16 Feb 00:00 local time.
        ({"from": "2024-02-15", "to": "2024-02-15"}, {"s-03", "s-04", "s-06"}),
        # The same dates read as UTC days include 00:30 WITA on the 16th (16:30 UTC on the 15th).
        ({"from": "2024-02-15", "to": "2024-02-15", "tz": "UTC"}, {"s-03", "s-04", "s-06", "s-07"}),
        ({"from": "2024-02-16T00:00:00+08:00"}, {"s-05", "s-07"}),
    ],
)
def test_filters(web: TestClient, params: dict[str, str], expected: set[str]) -> None:
    assert ids(web.get("/v1/search", params={**params, "size": 50})) == expected


def test_facets_count_categories_regencies_severities_and_local_days(web: TestClient) -> None:
    params = {"from": "2024-02-14", "to": "2024-02-16", "interval": "day"}
    body = web.get("/v1/search", params=params).json()
    assert body["total"] == 8
    facets = body["facets"]
    assert {b["key"]: b["count"] for b in facets["category"]} == {
        "clash": 2,
        "campaign_violation": 2,
        "money_politics": 1,
        "riot": 1,
        "hoax": 1,
        "other": 1,
    }
    assert {(b["key"], b["label"], b["count"]) for b in facets["regency"]} == {
        ("64.71", "Kota Balikpapan", 6),
        ("64.72", "Kota Samarinda", 2),
    }
    assert [(b["key"], b["count"]) for b in facets["severity"]] == [
        (1, 2),
        (2, 2),
        (3, 2),
        (4, 1),
        (5, 1),
    ]
    days = [(b["start"][:10], b["count"]) for b in facets["occurred"]]
    assert days == [("2024-02-14", 3), ("2024-02-15", 3), ("2024-02-16", 2)]
    assert facets["occurred"][0]["start"].endswith("+08:00")


def test_sort_orders(web: TestClient) -> None:
    def order(sort: str) -> list[str]:
        body = web.get("/v1/search", params={"sort": sort, "size": 50}).json()
        return [h["report_id"] for h in body["hits"]]

    assert order("oldest")[:2] == ["s-01", "s-02"]
    assert order("newest")[0] == "s-05"
    assert order("severity")[0] == "s-06"


def test_times_are_shown_in_wita_with_labels_in_the_callers_language(web: TestClient) -> None:
    hit = web.get("/v1/reports/s-06").json()["report"]
    assert hit["occurred_at"] == "2024-02-15T23:30:00+08:00"
    assert hit["category_label"] == "Kerusuhan"
    english = web.get("/v1/reports/s-06", params={"lang": "en", "tz": "UTC"}).json()["report"]
    assert english["occurred_at"] == "2024-02-15T15:30:00+00:00"
    assert english["category_label"] == "Riot"


def test_report_detail_lists_the_other_reports_of_its_incident(web: TestClient) -> None:
    body = web.get("/v1/reports/s-01").json()
    assert body["report"]["report_id"] == "s-01"
    assert body["incident"]["report_count"] == 2
    assert [r["report_id"] for r in body["incident"]["reports"]] == ["s-08"]


def test_unknown_report_is_404_in_the_callers_language(web: TestClient) -> None:
    response = web.get("/v1/reports/tidak-ada")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Laporan tidak-ada tidak ditemukan."
    english = web.get("/v1/reports/tidak-ada", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english.json()["error"]["message"] == "Report tidak-ada not found."


@pytest.mark.parametrize(
    "query",
    ['"bentrok', "(amplop", "amplop)", "OR", "-", "a*b", "x" * 600, "((((((", '""'],
)
def test_invalid_query_is_a_clear_400(web: TestClient, query: str) -> None:
    response = web.get("/v1/search", params={"q": query})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"].startswith("query_")
    assert error["parameter"] == "q"
    assert error["message"]


def test_error_messages_are_indonesian_with_an_english_switch(web: TestClient) -> None:
    indonesian = web.get("/v1/search", params={"q": '"bentrok'}).json()["error"]["message"]
    english = web.get("/v1/search", params={"q": '"bentrok', "lang": "en"}).json()["error"]
    assert indonesian == "Tanda kutip pada posisi 1 tidak ditutup."
    assert english["message"] == "The quote at position 1 is not closed."
    bad = web.get("/v1/search", params={"severity_min": "9"}).json()["error"]
    assert bad["parameter"] == "severity_min"
    assert bad["message"] == "Parameter severity_min tidak valid: harus antara 1 dan 5"


@pytest.mark.parametrize(
    "query",
    [
        '{"script": {"source": "ctx._source"}}',
        "*:*",
        "text:bentrok AND _exists_:x",
        "\\",
        "<script>",
        "%",
        "bentrok~2",
        "/regex.*/",
    ],
)
def test_hostile_or_odd_input_never_fails_the_server(web: TestClient, query: str) -> None:
    response = web.get("/v1/search", params={"q": query})
    assert response.status_code in (200, 400), response.text


def test_export_streams_every_hit_with_the_filters(web: TestClient) -> None:
    params = {"regency": "64.71", "format": "csv"}
    total = web.get("/v1/search", params={"regency": "64.71"}).json()["total"]
    response = web.get("/v1/search/export", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == total == int(response.headers["x-total-count"]) == 6
    first = next(r for r in rows if r["report_id"] == "s-06")
    assert first["occurred_at_local"] == "2024-02-15T23:30:00+08:00"
    assert first["regency_name"] == "Kota Balikpapan"

    lines = web.get("/v1/search/export", params={"q": "kampanye", "format": "jsonl"})
    documents = [json.loads(line) for line in lines.text.splitlines()]
    assert {d["report_id"] for d in documents} == {"s-03", "s-04"}
    assert "text_stem" not in documents[0]


def test_search_is_503_when_elasticsearch_cannot_be_reached(
    search_env: tuple[Settings, Elasticsearch],
) -> None:
    settings, _ = search_env
    unreachable = Elasticsearch("http://127.0.0.1:1", request_timeout=2, max_retries=0)
    with TestClient(create_app(settings, es=unreachable)) as client:
        response = client.get("/v1/search", params={"q": "bentrok"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "search_unavailable"
    assert response.headers["retry-after"]


# --- deep paging ----------------------------------------------------------------------------------

DEEP = 10_050


@pytest.fixture(scope="module")
def deep_env(local_stack: Settings) -> Iterator[tuple[Settings, Elasticsearch]]:
    with own_search_settings(local_stack, max_page_size=1000) as settings:
        yield from deep_corpus(settings)


def deep_corpus(settings: Settings) -> Iterator[tuple[Settings, Elasticsearch]]:
    tag = settings.indexer.index_prefix
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    registry = default_registry()
    base = datetime(2024, 2, 1, tzinfo=UTC)
    template = build_report(registry, text="Pengamanan kampanye berjalan lancar.")
    names = IndexNames(tag)
    now = datetime.now(UTC)
    document = report_action(template, names, registry, now).source or {}

    def actions() -> Iterator[dict[str, Any]]:
        for n in range(DEEP):
            occurred = base + timedelta(minutes=n // 3)  # ties: the report_id tiebreak matters
            yield {
                "_index": names.report_index(occurred),
                "_id": f"deep-{n:05d}",
                "_source": {
                    **document,
                    "report_id": f"deep-{n:05d}",
                    "incident_id": f"deep-{n:05d}",
                    "occurred_at": occurred.isoformat(),
                },
            }

    helpers.bulk(es, actions(), chunk_size=2000)
    es.indices.refresh(index=names.reports)
    yield settings, es
    es.indices.delete(index=f"{tag}-*")
    for family in ("reports", "status", "status-history", "alerts"):
        es.indices.delete_index_template(name=f"{tag}-{family}")
    es.cluster.delete_component_template(name=f"{tag}-settings")
    es.close()


def test_paging_past_10000_hits_with_search_after(
    deep_env: tuple[Settings, Elasticsearch],
) -> None:
    settings, es = deep_env
    seen: list[str] = []
    with TestClient(create_app(settings, es=es)) as client:
        params: dict[str, Any] = {"q": "kampanye", "sort": "oldest", "size": 1000, "facets": "0"}
        while True:
            body = client.get("/v1/search", params=params).json()
            assert body["total"] == DEEP
            seen.extend(h["report_id"] for h in body["hits"])
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]

        assert len(seen) == len(set(seen)) == DEEP
        assert seen == sorted(seen)

        export = client.get("/v1/search/export", params={"format": "csv", "q": "kampanye"})
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert len(rows) - 1 == DEEP == int(export.headers["x-total-count"])
