"""The HTTP intake against the real Kafka: what it acknowledges is on the topic, what it
rejects is answered with every error and recorded on the dead-letter topic, nothing else."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from producers.intake.run import intake_app
from producers.tokens import add_grant, make_grant, new_token
from schemas.registry import AreaRegistry
from schemas.report import ReporterRole
from sitrep.settings import Settings
from tests.uvicorn_server import serving

pytestmark = pytest.mark.integration

MakeReport = Callable[..., dict[str, Any]]


class Intake:
    def __init__(self, client: httpx.Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def post(self, body: Any, token: str = "balikpapan", raw: bytes | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        content = raw if raw is not None else json.dumps(body).encode()
        return self.client.post("/v1/reports", content=content, headers=headers)


@pytest.fixture(scope="module")
def intake(
    local_stack: Settings, registry: AreaRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Intake]:
    folder: Path = tmp_path_factory.mktemp("intake")
    tokens = {"balikpapan": new_token(), "anywhere": new_token()}
    now = datetime.now(UTC)
    for name, regencies, unit in (
        ("balikpapan", ("64.71",), "Polres Balikpapan"),
        ("anywhere", (), "Posko Polda"),
    ):
        grant = make_grant(
            tokens[name],
            unit=unit,
            role=ReporterRole.POLRES,
            regencies=regencies,
            registry=registry,
            created_at=now,
        )
        add_grant(folder / "tokens.yaml", grant)
    intake_settings = local_stack.intake.model_copy(
        update={
            "tokens_file": folder / "tokens.yaml",
            "dedup_file": folder / "accepted.sqlite",
            "max_batch": 50,
            "max_body_bytes": 64 * 1024,
        }
    )
    settings = local_stack.model_copy(update={"intake": intake_settings})
    with intake_app(settings) as app, serving(app) as base, httpx.Client(base_url=base) as client:
        yield Intake(client, tokens)


def by_id(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        found.setdefault(record.get("report_id") or "", []).append(record)
    return found


def test_accepted_reports_are_on_the_topic_stamped_by_the_server(
    intake: Intake, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    single = make_report()
    batch = [make_report() for _ in range(3)]
    for document in [single, *batch]:
        document["reporter"] = {"unit": "Mengaku Kapolda", "role": "polda"}  # not trusted
        document["received_at"] = "2020-01-01T00:00:00+00:00"  # not trusted
        del document["source"], document["schema_version"]  # defaults apply
    before = datetime.now(UTC)
    answer = intake.post(single)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == [single["report_id"]]
    answer = intake.post(batch)
    assert answer.status_code == 202
    assert answer.json()["accepted"] == [d["report_id"] for d in batch]

    on_topic = by_id(tail.read(local_stack.kafka.topics.reports))
    for document in [single, *batch]:
        [stored] = on_topic[document["report_id"]]
        assert stored["_key"] == "64.71"
        assert stored["reporter"] == {"unit": "Polres Balikpapan", "role": "polres"}
        assert datetime.fromisoformat(stored["received_at"]) >= before - timedelta(seconds=1)
        assert stored["source"] == "app"
        assert stored["text"] == document["text"]


def test_invalid_batch_writes_nothing_but_dead_letters(
    intake: Intake, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    good = make_report()
    bad = make_report(severity=7, category="gossip", district="64.99")
    future = make_report(occurred_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    answer = intake.post([good, bad, future])
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "validation_failed" and body["pesan"] and body["message"]
    problems = {r["index"]: {p["path"] for p in r["problems"]} for r in body["reports"]}
    assert problems == {1: {"severity", "category", "district"}, 2: {"occurred_at"}}

    assert tail.read(local_stack.kafka.topics.reports) == []
    dead = by_id(tail.read(local_stack.kafka.topics.deadletter))
    assert set(dead) == {bad["report_id"], future["report_id"]}
    [record] = dead[bad["report_id"]]
    assert record["stage"] == "intake" and record["reason"] == "validation_failed"
    assert record["source"] == "http:Polres Balikpapan"
    assert {e["path"] for e in record["errors"]} == {"severity", "category", "district"}
    assert json.loads(record["raw_text"])["category"] == "gossip"


def test_invalid_json_is_422_and_dead_lettered(
    intake: Intake, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    marker = uuid.uuid4().hex
    answer = intake.post(None, raw=f'{{"report_id": "{marker}", '.encode())
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_json"
    [record] = tail.read(local_stack.kafka.topics.deadletter)
    assert record["reason"] == "invalid_json" and marker in record["raw_text"]


def test_tokens_are_required_and_scoped(
    intake: Intake, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    document = make_report()
    assert intake.post(document, token="").status_code == 401
    intake.tokens["forged"] = new_token()
    assert intake.post(document, token="forged").status_code == 403

    samarinda = make_report(district="64.72", subdistrict="64.72.03")
    answer = intake.post([document, samarinda])
    assert answer.status_code == 403
    assert answer.json()["error"] == "unauthorized_area"
    assert [r["index"] for r in answer.json()["reports"]] == [1]
    assert tail.read(local_stack.kafka.topics.reports) == []
    [record] = tail.read(local_stack.kafka.topics.deadletter)
    assert record["reason"] == "unauthorized_area" and record["district"] == "64.72"

    assert intake.post(samarinda, token="anywhere").status_code == 202


def test_repeats_are_accepted_once_and_conflicts_refused(
    intake: Intake, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    tail = topic_tail()
    document = make_report()
    first = intake.post(document)
    repeat = intake.post(document)
    assert (first.status_code, repeat.status_code) == (202, 202)
    assert repeat.json()["duplicates"] == [document["report_id"]]
    changed = {**document, "severity": 5}
    conflict = intake.post(changed)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflicting_duplicate"

    assert len(by_id(tail.read(local_stack.kafka.topics.reports))[document["report_id"]]) == 1
    [record] = tail.read(local_stack.kafka.topics.deadletter)
    assert record["reason"] == "conflicting_duplicate"
    assert record["report_id"] == document["report_id"]


def test_size_limits(intake: Intake, make_report: MakeReport) -> None:
    too_many = [make_report() for _ in range(51)]
    answer = intake.post(too_many)
    assert answer.status_code == 413 and answer.json()["max_batch"] == 50
    huge = make_report(text="x" * 9000)
    answer = intake.post([huge] * 8)  # > 64 KiB body
    assert answer.status_code == 413
    assert intake.post([]).status_code == 422


def test_openapi_health_readiness_and_metrics(intake: Intake) -> None:
    token = {"Authorization": f"Bearer {intake.tokens['balikpapan']}"}
    for protected in ("/openapi.json", "/docs", "/metrics"):
        assert intake.client.get(protected).status_code == 401, protected
    document = intake.client.get("/openapi.json", headers=token).json()
    assert "/v1/reports" in document["paths"]
    incoming = document["components"]["schemas"]["IncomingReport"]
    assert "received_at" not in incoming["properties"]
    assert "report_id" in incoming["required"]
    assert intake.client.get("/healthz").json() == {"status": "ok"}
    ready = intake.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["kafka"] is True
    metrics = intake.client.get("/metrics", headers=token).text
    assert "sitrep_intake_reports_accepted_total" in metrics
    assert 'sitrep_intake_reports_rejected_total{reason="validation_failed"}' in metrics
    assert "sitrep_intake_request_seconds_bucket" in metrics


def test_dead_letters_never_hold_the_bearer_token(
    intake: Intake, make_report: MakeReport, topic_tail: Callable[[], Any], local_stack: Settings
) -> None:
    """Every kind of rejection, as Kafka stored it: the token is neither in the record nor in
    the raw bytes kept in it (only the unit it belongs to, as the source)."""
    tail = topic_tail()
    token = intake.tokens["balikpapan"]
    document = make_report()
    assert intake.post(document).status_code == 202
    rejected = [
        intake.post(None, raw=b'{"report_id": "broken'),  # invalid JSON
        intake.post(make_report(severity=9)),  # invalid field
        intake.post(make_report(district="64.72", subdistrict="64.72.03")),  # outside the scope
        intake.post({**document, "severity": 5}),  # conflicting duplicate
    ]
    assert [answer.status_code for answer in rejected] == [422, 422, 403, 409]
    records = tail.read(local_stack.kafka.topics.deadletter)
    assert len(records) == 4
    hashed = hashlib.sha256(token.encode()).hexdigest()
    for record in records:
        stored = json.dumps(record) + base64.b64decode(record["raw_base64"]).decode(
            "utf-8", "replace"
        )
        assert token not in stored and hashed not in stored and "Bearer" not in stored
        assert record["source"] == "http:Polres Balikpapan"
