"""The local Elasticsearch answers the 8.x client: a document indexed is found by a query."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from sitrep import clients
from sitrep.settings import Settings

pytestmark = pytest.mark.integration

MAPPING = {
    "properties": {
        "report_id": {"type": "keyword"},
        "district": {"type": "keyword"},
        "occurred_at": {"type": "date"},
        "severity": {"type": "byte"},
        "location": {"type": "geo_point"},
        "text": {"type": "text", "analyzer": "indonesian"},
    }
}


@pytest.fixture
def es(local_stack: Settings) -> Iterator[Elasticsearch]:
    client = clients.elasticsearch(local_stack)
    yield client
    client.close()


@pytest.fixture
def index(es: Elasticsearch) -> Iterator[str]:
    name = f"sitrep-it-{uuid.uuid4().hex[:10]}"
    es.indices.create(index=name, mappings=MAPPING)
    yield name
    es.indices.delete(index=name)


def test_client_talks_to_an_8x_node(es: Elasticsearch) -> None:
    info = es.info()
    assert info["version"]["number"].startswith("8.19.")
    assert es.cluster.health()["status"] in ("green", "yellow")


def test_indexed_report_is_found_by_an_indonesian_query(es: Elasticsearch, index: str) -> None:
    es.index(
        index=index,
        id="r-1",
        document={
            "report_id": "r-1",
            "district": "64.71",
            "occurred_at": "2026-11-20T09:30:00+08:00",
            "severity": 3,
            "location": {"lat": -1.2654, "lon": 116.8312},
            "text": "Pemilihan kepala daerah berjalan aman, warga memilih dengan tertib.",
        },
        refresh=True,
    )
    es.index(
        index=index,
        id="r-2",
        document={"report_id": "r-2", "district": "64.72", "text": "Banjir di jalan poros."},
        refresh=True,
    )

    # "memilih" and "pemilihan" share the stem "ilih": the analyzer is really Indonesian.
    hits = es.search(index=index, query={"match": {"text": "memilih"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["r-1"]

    near = es.search(
        index=index,
        query={"geo_distance": {"distance": "5km", "location": {"lat": -1.27, "lon": 116.83}}},
    )["hits"]["hits"]
    assert [h["_id"] for h in near] == ["r-1"]

    in_district = es.count(index=index, query={"term": {"district": "64.72"}})["count"]
    assert in_district == 1


def test_indonesian_analyzer_removes_stopwords_and_stems(es: Elasticsearch) -> None:
    tokens = es.indices.analyze(analyzer="indonesian", text="Kerusuhan di depan kantor Bawaslu")
    assert [t["token"] for t in tokens["tokens"]] == ["rusuh", "kantor", "bawaslu"]
